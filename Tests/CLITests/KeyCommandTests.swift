import Foundation
import Testing

extension CLISuite {
    @Suite("panicd keygen, identity and verify")
    struct KeyCommandTests {
        let panicd = Executable("panicd")

        func scratch() throws -> URL {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return directory
        }

        @Test("keygen writes a 0600 key, refuses to overwrite it, and identity prints the same id")
        func keygenAndIdentity() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("device.pem").path
            let made = try panicd.run(["keygen", "--out", key])
            #expect(made.status == 0, "\(made.stderr)")
            let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let again = try panicd.run(["keygen", "--out", key])
            #expect(again.status != 0)
            #expect(again.stderr.contains("already exists"))
            let identity = try panicd.run(["identity", "--key", key, "--json"])
            #expect(identity.status == 0)
            let json = try JSONSerialization.jsonObject(with: Data(identity.stdout.utf8)) as? [String: String]
            let device = try #require(json?["device"])
            #expect(made.stdout.contains(device))
            #expect(json?["jwk"]?.contains(#""kty":"OKP""#) == true)
        }

        @Test("identity refuses a key others can read and says how to fix it; a missing key names the path")
        func insecureAndMissing() throws {
            let directory = try scratch()
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("device.pem").path
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)
            chmod(key, 0o644)
            let open = try panicd.run(["identity", "--key", key])
            #expect(open.status != 0)
            #expect(open.stderr.contains("chmod 600 \(key)"))
            let missing = directory.appendingPathComponent("missing.pem").path
            let absent = try panicd.run(["identity", "--key", missing])
            #expect(absent.status != 0)
            #expect(absent.stderr.contains(missing) && absent.stderr.contains("No such file or directory"))
        }
    }
}
