import Foundation
import Testing

extension CLISuite {
    /// `controlroom evidence case` and `controlroom evidence export` on a SQLite file that a real `controlroom
    /// serve` filled from `panicd sim` (press, accepted and cleared by the operator), then the standalone verifier
    /// (scripts/evidence/verify.py, no PanicBridge code) on the bundle.
    @Suite("controlroom evidence case / export and the standalone verifier", .timeLimit(.minutes(3)))
    struct EvidenceCLITests {
        let panicd = Executable("panicd")
        let controlroom = Executable("controlroom")

        /// Runs a program found on PATH; its exit status and output (stdout and stderr together).
        func tool(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }

        @Test("a cleared alert: case numbers set, bundle exported to a tar, the verifier passes it")
        func caseExportVerify() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("evidence-cli-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = { (name: String) in directory.appendingPathComponent(name).path }
            let db = path("cr.sqlite")
            let enrolment = try Rig.enrol(in: directory, database: db)
            try enrolment.roomIdentity.write(toFile: path("cr.pub"), atomically: true, encoding: .utf8)
            try "automation-password-1\n".write(toFile: path("pw"), atomically: true, encoding: .utf8)
            let user = try controlroom.run([
                "users", "add", "--db", db, "--name", "sim", "--role", "operator", "--token", "--password-file",
                path("pw"),
            ])
            #expect(user.status == 0, "\(user.stderr)")
            let token = try #require(
                user.stdout.split(separator: "\n").first { $0.hasPrefix("token: ") }.map { String($0.dropFirst(7)) },
                "\(user.stdout)")
            do {
                let server = try RunningProcess(
                    controlroom, ["serve", "--db", db, "--key", path("cr.key"), "--listen", "127.0.0.1:0"])
                defer { server.stop() }
                #expect(server.waitFor("control room listening"), "\(server.text)")
                let port = try #require(
                    server.text.split(separator: " ").first { $0.hasPrefix("port=") }.map { $0.dropFirst(5) })
                let root = Executable.repositoryRoot.path
                let scenario = """
                    name: evidence from an external control room
                    board: \(root)/boards/sim.yaml
                    route: \(root)/sim/routes/jaipur-jctsl-3a.csv
                    duration: 8s
                    operator:
                      accept_after: 1s
                      clear_after: 2s
                    timeline:
                      - at: 1s
                        press: driver-emergency
                        hold: 800ms
                    expect:
                      - lost: 0
                    """
                try scenario.write(toFile: path("scenario.yaml"), atomically: true, encoding: .utf8)
                let run = try panicd.run([
                    "sim", "--scenario", path("scenario.yaml"), "--controlroom", "http://127.0.0.1:\(port)",
                    "--controlroom-key", path("cr.pub"), "--device-key", path("device.key"), "--operator-token",
                    token,
                ])
                #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
            }
            // The alert's id, read from the file with the sqlite3 module (no PanicBridge code).
            let query = try tool([
                "python3", "-c",
                "import sqlite3, sys; print(*sqlite3.connect(sys.argv[1]).execute('SELECT id, state FROM alerts').fetchone())",
                db,
            ])
            let fields = query.output.split(separator: " ").map(String.init)
            #expect(query.status == 0 && fields.count == 2, "\(query.output)")
            let alert = try #require(fields.first)
            #expect(fields.last?.trimmingCharacters(in: .whitespacesAndNewlines) == "cleared", "\(query.output)")

            let numbers = try controlroom.run([
                "evidence", "case", "--db", db, "--alert", alert, "--fir", "0123/2026", "--gd", "GD 45",
            ])
            #expect(numbers.stdout == "alert \(alert): FIR 0123/2026, GD GD 45\n", "\(numbers.stdout)\(numbers.stderr)")
            let markup = try controlroom.run(["evidence", "case", "--db", db, "--alert", alert, "--fir", "<b>"])
            #expect(markup.status != 0 && !markup.stderr.isEmpty, "\(markup.stdout)")
            let unknown = try controlroom.run([
                "evidence", "export", "--db", db, "--key", path("cr.key"), "--alert", "no-such-alert", "--out",
                path("x.tar"),
            ])
            #expect(unknown.status != 0 && unknown.stderr.contains("no alert 'no-such-alert'"), "\(unknown.stderr)")

            let exported = try controlroom.run([
                "evidence", "export", "--db", db, "--key", path("cr.key"), "--alert", alert, "--out",
                path("alert.tar"),
            ])
            #expect(exported.status == 0, "\(exported.stdout)\(exported.stderr)")
            #expect(FileManager.default.fileExists(atPath: path("alert.tar")))
            let verifier = Executable.repositoryRoot.appendingPathComponent("scripts/evidence/verify.py").path
            let checked = try tool(["python3", verifier, path("alert.tar")])
            #expect(checked.status == 0, "\(checked.output)")
            #expect(checked.output.contains("verdict: VERIFIED"), "\(checked.output)")
            #expect(checked.output.contains("OK   inclusion: the alert, logged when it closed"), "\(checked.output)")
            #expect(checked.output.contains("OK   audit: "), "\(checked.output)")
            // The case numbers are on the certificate inside the tar.
            let listing = try tool(["tar", "-xOf", path("alert.tar"), "certificate.html"])
            #expect(listing.output.contains("<tr><th>FIR number</th><td>0123/2026</td></tr>"), "\(listing.output)")
        }
    }
}
