import Foundation
import Hummingbird
import NIOCore
import Testing

/// A throw-away RFC 3161 time-stamping authority on loopback for the evidence tests: a CA and a TSA certificate
/// made with `openssl` in a scratch directory, and a tiny HTTP responder that answers each
/// `application/timestamp-query` with `openssl ts -reply`.
struct LocalTSA: Sendable {
    let directory: String
    /// The CA certificate a verifier trusts (`verify.py --tsa-ca`).
    var caFile: String { directory + "/ca.pem" }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `arguments` (openssl ...) in the TSA's directory; throws with its output when it fails.
    @discardableResult
    static func run(_ arguments: [String], in directory: String) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        let errors = Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "\(arguments.joined(separator: " ")) failed: \(String(decoding: message, as: UTF8.self))")
        }
        return output
    }

    /// Makes the CA, the TSA's key and certificate (extended key usage timeStamping, critical) and the
    /// `openssl ts` configuration.
    init(directory: String) throws {
        self.directory = directory
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        try Self.run(
            ["openssl", "req", "-x509", "-new"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=PanicBridge test TSA CA", "-days", "2",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ], in: directory)
        try Self.run(
            ["openssl", "req", "-new"] + ec + [
                "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=PanicBridge test TSA",
            ],
            in: directory)
        try "basicConstraints=CA:FALSE\nextendedKeyUsage=critical,timeStamping\n".write(
            toFile: directory + "/tsa.ext", atomically: true, encoding: .utf8)
        try Self.run(
            [
                "openssl", "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "tsa.pem", "-days", "2", "-extfile", "tsa.ext",
            ], in: directory)
        try "01\n".write(toFile: directory + "/serial", atomically: true, encoding: .utf8)
        try """
        [ tsa ]
        default_tsa = tsa_config
        [ tsa_config ]
        serial = \(directory)/serial
        crypto_device = builtin
        signer_cert = \(directory)/tsa.pem
        signer_key = \(directory)/tsa.key
        signer_digest = sha256
        default_policy = 1.3.6.1.4.1.99999.1
        digests = sha256
        accuracy = secs:1
        ordering = yes
        tsa_name = no
        ess_cert_id_chain = no
        ess_cert_id_alg = sha256

        """.write(toFile: directory + "/tsa.cnf", atomically: true, encoding: .utf8)
    }

    /// Answers one DER query with `openssl ts -reply`.
    func reply(_ query: Data) throws -> Data {
        let name = UUID().uuidString
        let queryFile = directory + "/\(name).tsq"
        let replyFile = directory + "/\(name).tsr"
        try query.write(to: URL(fileURLWithPath: queryFile))
        try Self.run(
            ["openssl", "ts", "-reply", "-config", "tsa.cnf", "-queryfile", queryFile, "-out", replyFile],
            in: directory)
        return try Data(contentsOf: URL(fileURLWithPath: replyFile))
    }

    /// Runs `body` with the TSA's URL while its responder listens on loopback.
    func serve<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/tsa") { request, _ -> Response in
            let query = try await request.body.collect(upTo: 1 << 16)
            let answer = try self.reply(Data(query.readableBytesView))
            return Response(
                status: .ok, headers: [.contentType: "application/timestamp-reply"],
                body: .init(byteBuffer: ByteBuffer(bytes: answer)))
        }
        return try await withLoopbackApp(router) { base in try await body(base + "/tsa") }
    }
}
