import Foundation
import Testing

extension CLISuite {
    @Suite("controlroom keygen and device registry")
    struct ControlRoomCLITests {
        let controlroom = Executable("controlroom")

        @Test("keygen writes a 0600 key, refuses to overwrite it, and devices add / list / remove work on a database")
        func keygenAndRegistry() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("controlroom-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("cr.key").path
            let db = directory.appendingPathComponent("cr.db").path

            let made = try controlroom.run(["keygen", "--out", key])
            #expect(made.status == 0, "\(made.stderr)")
            #expect(made.stdout.contains(#""kty":"OKP""#))
            let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(try controlroom.run(["keygen", "--out", key]).status != 0)

            // Any Ed25519 public key will do as a device key; the control room's own is at hand.
            let identity = try controlroom.run(["identity", "--key", key])
            let jwk = try #require(identity.stdout.split(separator: "\n").first { $0.hasPrefix("jwk: ") }).dropFirst(5)
            let added = try controlroom.run([
                "devices", "add", "--db", db, "--id", "pb-0000000000000001", "--key", String(jwk),
            ])
            #expect(added.status == 0, "\(added.stderr)")
            let again = try controlroom.run([
                "devices", "add", "--db", db, "--id", "pb-0000000000000001", "--key", String(jwk),
            ])
            #expect(again.status != 0)
            #expect(again.stderr.contains("already registered"))
            // A raw key whose base64url starts with `-` (first byte 0xF8) is still the option's value.
            let dashKey = "-" + String(repeating: "A", count: 42)
            let dashed = try controlroom.run([
                "devices", "add", "--db", db, "--id", "pb-0000000000000003", "--key", dashKey,
            ])
            #expect(dashed.status == 0, "\(dashed.stderr)")
            let bad = try controlroom.run(["devices", "add", "--db", db, "--id", "pb-2", "--key", "not-a-key"])
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("not an Ed25519 public key"))
            let listed = try controlroom.run(["devices", "list", "--db", db])
            #expect(listed.stdout.contains("pb-0000000000000001"))
            #expect(listed.stdout.contains("records=0"))
            #expect(listed.stdout.contains("pb-0000000000000003"))
            #expect(try controlroom.run(["devices", "remove", "--db", db, "--id", "pb-0000000000000001"]).status == 0)
            #expect(try controlroom.run(["devices", "remove", "--db", db, "--id", "pb-0000000000000003"]).status == 0)
            #expect(try controlroom.run(["devices", "list", "--db", db]).stdout.isEmpty)
        }
    }
}
