import Crypto
import Foundation
import PanicSigning
import Testing

@Suite("Device key files")
final class DeviceKeyTests: Sendable {
    let directory: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID())").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// Each test gets its own instance, so its own directory, removed when the test ends.
    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    @Test("a new key file has mode 0600 and loads back to the same identity")
    func roundTrip() throws {
        let path = directory + "/device.pem"
        let key = DeviceKey.generate()
        try key.write(to: path, force: false)
        #expect(try mode(path) == 0o600)
        let loaded = try DeviceKey.load(path: path)
        #expect(loaded.identity == key.identity)
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
    }

    @Test("the mode is 0600 even under a permissive umask")
    func permissiveUmask() throws {
        let old = umask(0)
        defer { umask(old) }
        let path = directory + "/umask.pem"
        try DeviceKey.generate().write(to: path, force: false)
        #expect(try mode(path) == 0o600)
    }

    @Test("an existing key is not overwritten without force, and is replaced with it")
    func refusesOverwrite() throws {
        let path = directory + "/device.pem"
        let first = DeviceKey.generate()
        try first.write(to: path, force: false)
        #expect(throws: KeyFileError.self) { try DeviceKey.generate().write(to: path, force: false) }
        #expect(try DeviceKey.load(path: path).identity == first.identity)
        let second = DeviceKey.generate()
        try second.write(to: path, force: true)
        #expect(try DeviceKey.load(path: path).identity == second.identity)
        #expect(try mode(path) == 0o600)
    }

    @Test("a key readable by group or others is refused with the chmod fix", arguments: [0o640, 0o604, 0o644, 0o660])
    func insecurePermissions(mode: Int) throws {
        let path = directory + "/open.pem"
        try DeviceKey.generate().write(to: path, force: false)
        chmod(path, mode_t(mode))
        do {
            _ = try DeviceKey.load(path: path)
            Issue.record("loaded a key with mode \(String(mode, radix: 8))")
        } catch {
            #expect(error.code == .insecurePermissions)
            #expect(error.description.contains("chmod 600 \(path)"))
            #expect(error.description.contains("0" + String(mode, radix: 8)))
        }
    }

    @Test("a missing or unreadable key path names the path and the reason")
    func unreadable() throws {
        let missing = directory + "/missing.pem"
        do {
            _ = try DeviceKey.load(path: missing)
            Issue.record("loaded a missing key")
        } catch {
            #expect(error.description.contains(missing))
            #expect(error.description.contains("No such file or directory"))
        }
        do {
            _ = try DeviceKey.load(path: directory)
            Issue.record("loaded a directory")
        } catch {
            #expect(error.description.contains(directory))
            #expect(error.description.contains("Is a directory"))
        }
        let garbage = directory + "/garbage.pem"
        _ = FileManager.default.createFile(
            atPath: garbage, contents: Data("not a key\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: KeyFileError.self) { try DeviceKey.load(path: garbage) }
    }

    @Test("the thumbprint follows RFC 7638 (RFC 8037 appendix A.3 vector)")
    func thumbprintVector() throws {
        let identity = try #require(
            DeviceIdentity(jwk: #"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#))
        #expect(identity.thumbprint == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    }

    @Test("Ed25519 signing matches RFC 8037 appendix A.4")
    func signatureVector() throws {
        let seed = try #require(Base64URL.decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
        let signature = try key.signature(for: Data(input.utf8))
        #expect(
            Base64URL.encode(signature)
                == "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
    }
}
