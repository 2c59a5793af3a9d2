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
            let stored = try FileManager.default.contentsOfDirectory(
                atPath: directory.appendingPathComponent("updates").path)
            #expect(stored.count == 1 && stored[0].hasSuffix(".deb") && stored[0].count == 68, "\(stored)")
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
        }
    }
}
