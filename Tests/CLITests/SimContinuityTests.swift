import Foundation
import Testing

extension CLISuite {
    /// `panicd sim` keeps the real box's stream continuity: its outbox is opened with the stream mark beside the
    /// device key, as `panicd run` opens it.
    @Suite("panicd sim keeps the stream's continuity across runs", .serialized, .timeLimit(.minutes(5)))
    struct SimContinuityTests {
        let panicd = Executable("panicd")
        let controlroom = Executable("controlroom")

        @Test("an outbox corrupted between two runs against an external control room: the emergency is accepted")
        func corruptedOutboxBetweenRuns() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sim-cont-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = { (name: String) in directory.appendingPathComponent(name).path }
            let enrolment = try Rig.enrol(in: directory, database: path("cr.sqlite"))
            try enrolment.roomIdentity.write(toFile: path("cr.pub"), atomically: true, encoding: .utf8)
            try "automation-password-1\n".write(toFile: path("pw"), atomically: true, encoding: .utf8)
            let user = try controlroom.run([
                "users", "add", "--db", path("cr.sqlite"), "--name", "sim", "--role", "operator", "--token",
                "--password-file", path("pw"),
            ])
            #expect(user.status == 0, "\(user.stderr)")
            let token = try #require(
                user.stdout.split(separator: "\n").first { $0.hasPrefix("token: ") }.map { String($0.dropFirst(7)) })
            let server = try RunningProcess(
                controlroom, ["serve", "--db", path("cr.sqlite"), "--key", path("cr.key"), "--listen", "127.0.0.1:0"])
            defer { server.stop() }
            #expect(server.waitFor("control room listening"), "\(server.text)")
            let port = try #require(
                server.text.split(separator: " ").first { $0.hasPrefix("port=") }.map { $0.dropFirst(5) })

            let root = Executable.repositoryRoot.path
            func scenario(_ name: String, _ body: String) throws {
                let text = """
                    name: \(name)
                    board: \(root)/boards/sim.yaml
                    route: \(root)/sim/routes/jaipur-jctsl-3a.csv
                    \(body)
                    """
                try text.write(toFile: path("\(name).yaml"), atomically: true, encoding: .utf8)
            }
            try scenario(
                "first",
                """
                duration: 14s
                operator:
                  accept_after: 1s
                  clear_after: 1s
                timeline:
                  - at: 1s
                    press: driver-emergency
                    hold: 800ms
                expect:
                  - milestone: cleared
                    after: press
                    within: 12s
                """)
            try scenario(
                "second",
                """
                duration: 12s
                operator:
                  accept_after: 1s
                timeline:
                  - at: 1s
                    press: driver-emergency
                    hold: 800ms
                expect:
                  - milestone: delivered
                    after: press
                    within: 5s
                  - milestone: accepted
                    after: press
                    within: 9s
                """)
            func sim(_ name: String) throws -> (status: Int32, stdout: String, stderr: String) {
                let run = try panicd.run([
                    "sim", "--scenario", path("\(name).yaml"), "--controlroom", "http://127.0.0.1:\(port)",
                    "--controlroom-key", path("cr.pub"), "--device-key", path("device.key"), "--operator-token",
                    token, "--keep", path("run"),
                ])
                return (run.status, run.stdout, run.stderr)
            }
            let first = try sim("first")
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")

            // Between the runs the outbox is corrupted (a torn card): the box sets it aside and starts a new one.
            try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path("run/outbox.sqlite")))
            for suffix in ["-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: path("run/outbox.sqlite" + suffix))
            }

            let second = try sim("second")
            #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
            #expect(second.stdout.contains("HELP IS ON THE WAY"), "\(second.stdout)")
            #expect(!second.stdout.contains("FAULT"), "the control room refused the emergency: \(second.stdout)")
            #expect(second.stdout.contains(" 0 lost,"), "\(second.stdout)")
        }
    }
}
