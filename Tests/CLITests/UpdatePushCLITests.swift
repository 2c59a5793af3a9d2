import Foundation
import Testing

extension CLISuite {
    @Suite("controlroom update push")
    struct UpdatePushCLITests {
        let controlroom = Executable("controlroom")

        /// A minimal Debian package built with dpkg-deb (control fields and one file).
        func deb(_ package: String, version: String, in directory: URL) throws -> String {
            let root = directory.appendingPathComponent("root-\(package)-\(version)")
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent("DEBIAN"), withIntermediateDirectories: true)
            try """
            Package: \(package)
            Version: \(version)
            Architecture: arm64
            Maintainer: PanicBridge <dev@example.org>
            Description: test package

            """.write(to: root.appendingPathComponent("DEBIAN/control"), atomically: true, encoding: .utf8)
            let out = directory.appendingPathComponent("\(package)_\(version)_arm64.deb").path
            let build = Process()
            build.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg-deb")
            build.arguments = ["--root-owner-group", "-b", root.path, out]
            build.standardOutput = FileHandle.nullDevice
            try build.run()
            build.waitUntilExit()
            #expect(build.terminationStatus == 0)
            return out
        }

        @Test(
            "stores a panicbridge package under its SHA-256 and queues a signed document; another package is refused",
            .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-deb")))
        func push() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("update-push-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("cr.key").path
            let db = directory.appendingPathComponent("cr.db").path
            #expect(try controlroom.run(["keygen", "--out", key]).status == 0)
            let identity = try controlroom.run(["identity", "--key", key])
            let jwk = try #require(identity.stdout.split(separator: "\n").first { $0.hasPrefix("jwk: ") }).dropFirst(5)
            let device = "pb-0000000000000001"
            #expect(
                try controlroom.run(["devices", "add", "--db", db, "--id", device, "--key", String(jwk)]).status == 0)
            let good = try deb("panicbridge", version: "0.9.1", in: directory)
            let pushed = try controlroom.run([
                "update", "push", "--db", db, "--key", key, "--device", device, "--deb", good, "--floor", "0.9.0",
            ])
            #expect(pushed.status == 0, "\(pushed.stderr)")
            #expect(pushed.stdout.hasPrefix("queued update to panicbridge 0.9.1 (arm64, sha256 "), "\(pushed.stdout)")
            let files = try FileManager.default.contentsOfDirectory(
                atPath: directory.appendingPathComponent("updates").path)
            let stored = files.filter { $0.hasSuffix(".deb") }
            #expect(stored.count == 1 && stored[0].count == 68, "\(files)")
            // Described beside it, for the desk's update rollout form.
            #expect(files.sorted() == [stored[0], stored[0].dropLast(4) + ".json"].sorted(), "\(files)")
            #expect(
                FileManager.default.contents(atPath: directory.appendingPathComponent("updates/" + stored[0]).path)
                    == FileManager.default.contents(atPath: good))
            let other = try deb("panicbridge-controlroom", version: "0.9.1", in: directory)
            let refused = try controlroom.run([
                "update", "push", "--db", db, "--key", key, "--device", device, "--deb", other,
            ])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("not panicbridge"), "\(refused.stderr)")
            let floor = try controlroom.run([
                "update", "push", "--db", db, "--key", key, "--device", device, "--deb", good, "--floor", "1.0",
            ])
            #expect(floor.status != 0)
            #expect(floor.stderr.contains("above the package's version"), "\(floor.stderr)")

            // The same package rolled out to a group in stages: the first stage pushed at once, the status shows the
            // kind and each box's software version.
            #expect(
                try controlroom.run(["devices", "edit", "--db", db, "--id", device, "--group", "buses"]).status == 0)
            let rollout = try controlroom.run([
                "update", "push", "--db", db, "--key", key, "--group", "buses", "--deb", good, "--stages", "100",
                "--max-failed", "0%", "--wait", "10m",
            ])
            #expect(rollout.status == 0, "\(rollout.stderr)")
            #expect(
                rollout.stdout.hasPrefix("rollout 1: update to panicbridge 0.9.1 (sha256 ")
                    && rollout.stdout.contains("group buses, 1 device(s) in 1 stage(s); stage 1 pushed to 1 device(s)"),
                "\(rollout.stdout)")
            let status = try controlroom.run(["rollout", "status", "--db", db, "1"])
            #expect(
                status.stdout.hasPrefix("rollout 1: update to group buses, running, stage 1 of 1"), "\(status.stdout)")
            #expect(status.stdout.contains("device\tstage\tstate\tpushed\tacked\tsoftware\treason"), "\(status.stdout)")
            #expect(status.stdout.contains("\(device)\t1\tpending\t0.9.1\tno\t-\t"), "\(status.stdout)")
            let both = try controlroom.run([
                "update", "push", "--db", db, "--key", key, "--group", "buses", "--device", device, "--deb", good,
            ])
            #expect(both.status != 0 && both.stderr.contains("either --device or --group"), "\(both.stderr)")
        }
    }
}
