import Crypto
import Foundation
import PanicCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a key file could not be created, read or used. The description names the path and the reason.
public struct KeyFileError: Error, Equatable, CustomStringConvertible {
    /// What went wrong, broadly.
    public enum Code: String, Sendable {
        /// The file exists and `--force` was not given.
        case exists
        /// A system call failed (see `call` and `errno`).
        case system
        /// Group or others may read or write the file.
        case insecurePermissions = "insecure-permissions"
        /// The file is not a PEM PKCS#8 Ed25519 private key.
        case malformed
    }

    public var code: Code
    /// The key file's path.
    public var path: String
    /// The C call that failed, for `.system`.
    public var call: String?
    /// errno from that call, read immediately after it.
    public var errno: Int32?
    /// Extra detail (the mode, or what is malformed).
    public var detail: String

    public var description: String {
        switch code {
        case .exists:
            return "key file \(path) already exists; refusing to overwrite it (use --force to replace the device key)"
        case .system:
            let reason = errno.map { String(cString: strerror($0)) } ?? "unknown error"
            return "cannot \(detail) key file \(path): \(call ?? "?"): \(reason)"
        case .insecurePermissions:
            return """
                UNPROTECTED PRIVATE KEY FILE: permissions \(detail) for '\(path)' are too open; \
                the device key must not be readable by group or others. Fix it with: chmod 600 \(path)
                """
        case .malformed:
            return "key file \(path) is not an Ed25519 private key: \(detail)"
        }
    }
}

/// A device's Ed25519 signing key, with the identity derived from it.
///
/// File format: PEM, label `PRIVATE KEY`, holding the RFC 8410 PKCS#8 `OneAsymmetricKey` for Ed25519 — the
/// same file `openssl genpkey -algorithm ed25519` writes, so `openssl pkey -in KEY -pubout` reads it too.
public struct DeviceKey: Sendable {
    // The 32-byte seed; swift-crypto 3's key types are not Sendable, so the key is rebuilt where it is used.
    private let seed: Data

    /// The private key.
    public var privateKey: Curve25519.Signing.PrivateKey {
        // The seed was validated when this value was made, so rebuilding cannot fail.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    /// The public half, with its JWK, thumbprint and device id.
    public var identity: DeviceIdentity { DeviceIdentity(publicKey: privateKey.publicKey) }

    public init(privateKey: Curve25519.Signing.PrivateKey) { seed = privateKey.rawRepresentation }

    /// A new random key.
    public static func generate() -> DeviceKey { DeviceKey(privateKey: Curve25519.Signing.PrivateKey()) }

    // RFC 8410 §7: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }.
    static let pkcs8Prefix: [UInt8] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    /// The key as PEM PKCS#8 text.
    public var pemRepresentation: String {
        let der = Data(DeviceKey.pkcs8Prefix) + privateKey.rawRepresentation
        let base64 = der.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN PRIVATE KEY-----\n\(base64)\n-----END PRIVATE KEY-----\n"
    }

    /// Parses PEM PKCS#8 text; `path` only names the file in errors.
    public init(pem: String, path: String) throws(KeyFileError) {
        let lines = pem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(of: "-----BEGIN PRIVATE KEY-----"),
            let end = lines.firstIndex(of: "-----END PRIVATE KEY-----"), begin < end
        else {
            throw KeyFileError(
                code: .malformed, path: path, detail: "no '-----BEGIN PRIVATE KEY-----' PEM block")
        }
        guard let der = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else {
            throw KeyFileError(code: .malformed, path: path, detail: "the PEM block is not valid base64")
        }
        guard der.count == 48, Array(der.prefix(16)) == DeviceKey.pkcs8Prefix else {
            throw KeyFileError(
                code: .malformed, path: path, detail: "not an RFC 8410 Ed25519 PKCS#8 key (\(der.count) DER bytes)")
        }
        do {
            seed = try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32)).rawRepresentation
        } catch {
            throw KeyFileError(code: .malformed, path: path, detail: "\(error)")
        }
    }

    /// Writes a new key file with mode 0600. The file is created with `O_CREAT|O_EXCL` and that mode, so it is
    /// never readable by others, not even for an instant. Without `force` an existing file is an error; with
    /// it, the new key goes to a temporary file in the same directory that is then renamed over the old one.
    public func write(to path: String, force: Bool) throws(KeyFileError) {
        let target = force ? "\(path).tmp-\(getpid())" : path
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            let code = Glibc.errno
            if code == EEXIST && !force { throw KeyFileError(code: .exists, path: path, detail: "") }
            throw KeyFileError(code: .system, path: target, call: "open", errno: code, detail: "create")
        }
        var failure: KeyFileError?
        // A umask can only take bits away; fchmod makes the mode exactly 0600 whatever the umask was.
        if fchmod(fd, 0o600) != 0 {
            failure = KeyFileError(code: .system, path: target, call: "fchmod", errno: Glibc.errno, detail: "protect")
        }
        let bytes = Array(pemRepresentation.utf8)
        if failure == nil {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written != bytes.count {
                failure = KeyFileError(code: .system, path: target, call: "write", errno: Glibc.errno, detail: "write")
            } else if fsync(fd) != 0 {
                failure = KeyFileError(code: .system, path: target, call: "fsync", errno: Glibc.errno, detail: "write")
            }
        }
        close(fd)
        if failure == nil, force, rename(target, path) != 0 {
            failure = KeyFileError(code: .system, path: path, call: "rename", errno: Glibc.errno, detail: "replace")
        }
        if let failure {
            unlink(target)
            throw failure
        }
    }

    /// Loads a key file, refusing one that group or others may read or write (as ssh does). The mode is
    /// checked on the open descriptor, so the file checked is the file read.
    public static func load(path: String) throws(KeyFileError) -> DeviceKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw KeyFileError(code: .system, path: path, call: "open", errno: Glibc.errno, detail: "open")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw KeyFileError(code: .system, path: path, call: "fstat", errno: Glibc.errno, detail: "inspect")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw KeyFileError(code: .system, path: path, call: "open", errno: EISDIR, detail: "read a regular")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw KeyFileError(
                code: .insecurePermissions, path: path, detail: "0" + String(mode, radix: 8).leftPadded(3))
        }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if Glibc.errno == EINTR { continue }
                throw KeyFileError(code: .system, path: path, call: "read", errno: Glibc.errno, detail: "read")
            }
            if count == 0 || data.count > 65_536 { break }
            data += buffer[0..<count]
        }
        return try DeviceKey(pem: String(decoding: data, as: UTF8.self), path: path)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// A device's public identity: what an integrator registers with the control room.
public struct DeviceIdentity: Sendable, Hashable {
    /// The raw 32-byte Ed25519 public key.
    public let rawPublicKey: Data

    /// The Ed25519 public key.
    public var publicKey: Curve25519.Signing.PublicKey {
        // Validated when this value was made.
        try! Curve25519.Signing.PublicKey(rawRepresentation: rawPublicKey)
    }

    public init(publicKey: Curve25519.Signing.PublicKey) { rawPublicKey = publicKey.rawRepresentation }

    /// Parses a public JWK (`{"kty":"OKP","crv":"Ed25519","x":...}`); nil when it is not one.
    public init?(jwk: String) {
        struct JWK: Decodable {
            var kty: String
            var crv: String
            var x: String
        }
        guard let parsed = try? JSONDecoder().decode(JWK.self, from: Data(jwk.utf8)), parsed.kty == "OKP",
            parsed.crv == "Ed25519", let raw = Base64URL.decode(parsed.x),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { return nil }
        rawPublicKey = key.rawRepresentation
    }

    /// The raw 32-byte public key, base64url.
    public var publicKeyBase64URL: String { Base64URL.encode(rawPublicKey) }

    /// The public JWK, members in RFC 7638 order.
    public var jwk: String { #"{"crv":"Ed25519","kty":"OKP","x":"\#(publicKeyBase64URL)"}"# }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): the key's fingerprint, used as the JWS `kid`.
    public var thumbprint: String { Base64URL.encode(Data(SHA256.hash(data: Data(jwk.utf8)))) }

    /// The device id: `pb-` and the first 8 bytes of the thumbprint's digest in hex, so one key file is all a
    /// box needs to name itself.
    public var deviceID: String {
        "pb-" + SHA256.hash(data: Data(jwk.utf8)).prefix(8).map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}
