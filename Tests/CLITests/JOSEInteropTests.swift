import Foundation
import Testing

extension CLISuite {
    /// Envelopes checked by an independent JOSE implementation (Python joserfc, installed by `make deps-python`).
    @Suite("Independent JOSE verification (joserfc)")
    struct JOSEInteropTests {
        let panicd = Executable("panicd")

        static let script = """
            import json, sys
            from joserfc import jws
            from joserfc.jwk import OKPKey
            key = OKPKey.import_key(json.loads(sys.argv[1]))
            for line in sys.stdin:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = jws.deserialize_compact(line, key, algorithms=["EdDSA"])
                    payload = json.loads(obj.payload)
                    print("valid", payload["seq"], obj.headers()["kid"])
                except Exception as error:
                    print("invalid", type(error).__name__)
            """

        func python(_ jwk: String, _ input: String) throws -> [String] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", JOSEInteropTests.script, jwk]
            let out = Pipe()
            let err = Pipe()
            let stdin = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = stdin
            try process.run()
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(
                process.terminationStatus == 0, "python3 failed (is joserfc installed? make deps-python): \(errors)")
            return text.split(separator: "\n").map(String.init)
        }

        @Test("genuine envelopes verify with joserfc and tampered ones do not")
        func joserfc() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jose-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let key = directory.appendingPathComponent("device.pem").path
            let db = directory.appendingPathComponent("outbox.db").path
            #expect(try panicd.run(["keygen", "--out", key]).status == 0)
            let child = try panicd.run(["outbox", "crash-child", "--db", db, "--key", key, "--count", "60"])
            #expect(child.status == 0, "\(child.stderr)")
            let envelopes = try panicd.run(["outbox", "export", "--db", db, "--key", key]).stdout
                .split(separator: "\n").map(String.init)
            #expect(envelopes.count == 60)
            let identity = try panicd.run(["identity", "--key", key, "--json"])
            let json = try JSONSerialization.jsonObject(with: Data(identity.stdout.utf8)) as? [String: String]
            let jwk = try #require(json?["jwk"])
            let kid = try #require(json?["fingerprint"])

            let genuine = try python(jwk, envelopes.joined(separator: "\n"))
            #expect(genuine == (1...60).map { "valid \($0) \(kid)" })

            // Tamper: flip a payload byte, swap payloads between envelopes, change the header, cut the signature.
            var tampered: [String] = []
            for (index, envelope) in envelopes.prefix(10).enumerated() {
                var parts = envelope.split(separator: ".").map(String.init)
                switch index % 4 {
                case 0:
                    var payload = Array(parts[1].utf8)
                    payload[30] = payload[30] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
                    parts[1] = String(decoding: payload, as: UTF8.self)
                case 1: parts[1] = envelopes[index + 1].split(separator: ".").map(String.init)[1]
                case 2: parts[0] = "eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ"
                default: parts[2] = String(parts[2].dropLast(4)) + "AAAA"
                }
                tampered.append(parts.joined(separator: "."))
            }
            let rejected = try python(jwk, tampered.joined(separator: "\n"))
            #expect(rejected.count == 10)
            #expect(rejected.allSatisfy { $0.hasPrefix("invalid") }, "\(rejected)")

            // The project's own verifier agrees on both sets.
            let ours = try panicd.run(
                ["verify", "--jwk", jwk, "-"], stdin: Data(tampered.joined(separator: "\n").utf8))
            #expect(ours.status == 1)
            #expect(!ours.stdout.contains(": ok"))
        }
    }
}
