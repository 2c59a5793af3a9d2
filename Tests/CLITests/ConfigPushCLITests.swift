import Foundation
import Testing

extension CLISuite {
    @Suite("controlroom config push")
    struct ConfigPushCLITests {
        let controlroom = Executable("controlroom")

        @Test("signs and queues consecutive versions for a registered device; an unknown device or no file is refused")
        func push() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-push-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("cr.key").path
            let db = directory.appendingPathComponent("cr.db").path
            let overlay = directory.appendingPathComponent("overlay.yaml").path
            try "sms:\n  numbers: [\"+919800000001\"]\n".write(toFile: overlay, atomically: true, encoding: .utf8)
            #expect(try controlroom.run(["keygen", "--out", key]).status == 0)
            let identity = try controlroom.run(["identity", "--key", key])
            let jwk = try #require(identity.stdout.split(separator: "\n").first { $0.hasPrefix("jwk: ") }).dropFirst(5)
            let device = "pb-0000000000000001"
            #expect(
                try controlroom.run(["devices", "add", "--db", db, "--id", device, "--key", String(jwk)]).status == 0)
            let push = ["config", "push", "--db", db, "--key", key, "--device", device, "--file", overlay]
            let first = try controlroom.run(push)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout.hasPrefix("queued configuration version 1 for \(device), expires "), "\(first.stdout)")
            #expect(try controlroom.run(push).stdout.hasPrefix("queued configuration version 2"))
            let unknown = try controlroom.run([
                "config", "push", "--db", db, "--key", key, "--device", "pb-ffffffffffffffff", "--file", overlay,
            ])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("pb-ffffffffffffffff"), "\(unknown.stderr)")
            let missing = try controlroom.run([
                "config", "push", "--db", db, "--key", key, "--device", device, "--file", directory.path + "/none",
            ])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("cannot read"), "\(missing.stderr)")
        }
    }
}
