import Foundation
import Testing

extension CLISuite {
    @Suite("controlroom config push --group, config status, rollout")
    struct RolloutCLITests {
        let controlroom = Executable("controlroom")

        @Test(
            "devices edit --group, a staged rollout to the group, per-device config status, rollout status and abort; bad parameters named"
        )
        func rollout() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rollout-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("cr.key").path
            let db = directory.appendingPathComponent("cr.db").path
            let overlay = directory.appendingPathComponent("overlay.yaml").path
            try "log_level: debug\n".write(toFile: overlay, atomically: true, encoding: .utf8)
            #expect(try controlroom.run(["keygen", "--out", key]).status == 0)
            var devices: [String] = []
            for index in 1...3 {
                let deviceKey = directory.appendingPathComponent("d\(index).key").path
                #expect(try controlroom.run(["keygen", "--out", deviceKey]).status == 0)
                let identity = try controlroom.run(["identity", "--key", deviceKey])
                let jwk = try #require(identity.stdout.split(separator: "\n").first { $0.hasPrefix("jwk: ") })
                    .dropFirst(5)
                let device = "pb-000000000000000\(index)"
                devices.append(device)
                #expect(
                    try controlroom.run(["devices", "add", "--db", db, "--id", device, "--key", String(jwk)]).status
                        == 0)
                let grouped = try controlroom.run(["devices", "edit", "--db", db, "--id", device, "--group", "buses"])
                #expect(grouped.status == 0, "\(grouped.stderr)")
                #expect(grouped.stdout == "\(device)\tgroup=buses\n")
            }
            let push = ["config", "push", "--db", db, "--key", key, "--file", overlay]
            let started = try controlroom.run(push + ["--group", "buses", "--stages", "1,100", "--max-failed", "0%"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(
                started.stdout == "rollout 1: group buses, 3 device(s) in 2 stage(s); stage 1 pushed to 1 device(s)\n",
                "\(started.stdout)")

            let status = try controlroom.run(["config", "status", "--db", db, "--group", "buses"])
            #expect(status.status == 0, "\(status.stderr)")
            let lines = status.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "device\tgroup\tpushed\tacked\trunning\tstate\trollout\treason")
            #expect(lines.dropFirst().first == "\(devices[0])\tbuses\t1\tno\tlocal\tpending\t1\t")
            #expect(lines.dropFirst(2).first == "\(devices[1])\tbuses\t-\t-\tlocal\twaiting\t1\t")
            #expect(lines.count == 4)

            let rollout = try controlroom.run(["rollout", "status", "--db", db, "1"])
            #expect(rollout.status == 0, "\(rollout.stderr)")
            #expect(
                rollout.stdout.hasPrefix("rollout 1: config to group buses, running, stage 1 of 2 (stages 1,100 %"),
                "\(rollout.stdout)")
            #expect(rollout.stdout.contains("\(devices[0])\t1\tpending\t1\tno\tlocal\t"))
            #expect(
                try controlroom.run(["rollout", "list", "--db", db]).stdout.hasPrefix("1\tconfig\tgroup=buses\trunning")
            )

            let aborted = try controlroom.run(["rollout", "abort", "--db", db, "1", "--reason", "wrong file"])
            #expect(aborted.status == 0 && aborted.stdout == "rollout 1 aborted\n", "\(aborted.stderr)")
            let resumed = try controlroom.run(["rollout", "resume", "--db", db, "--key", key, "1"])
            #expect(resumed.status != 0)
            #expect(resumed.stderr.contains("rollout 1 is aborted, not paused"), "\(resumed.stderr)")

            for (arguments, problem) in [
                (["--group", "buses", "--stages", "50,10"], "--stages '50,10'"),
                (["--group", "buses", "--max-failed", "200%"], "--max-failed '200%'"),
                (["--group", "buses", "--wait", "soon"], "--wait 'soon'"),
                (["--group", "trams"], "no device is in group 'trams'"),
                (["--group", "buses", "--device", devices[0]], "give either --device or --group"),
            ] {
                let refused = try controlroom.run(push + arguments)
                #expect(refused.status != 0)
                #expect(refused.stderr.contains(problem), "\(arguments): \(refused.stderr)")
            }
        }
    }
}
