import ArgumentParser
import Foundation
import PanicSigning

/// `panicd keygen --out PATH [--force]`: make a device key.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create a device's Ed25519 signing key (PEM PKCS#8, mode 0600) and print its identity.",
        discussion: "Refuses to overwrite an existing key unless --force is given: a box's key is its identity."
    )

    @Option(help: "Where to write the key file.")
    var out: String

    @Flag(help: "Replace an existing key file (the device gets a new identity).")
    var force = false

    func run() throws {
        let key = DeviceKey.generate()
        do { try key.write(to: out, force: force) } catch {
            throw CLIError(error.description)
        }
        print("wrote \(out) (mode 0600)")
        print(IdentityReport(key.identity).text)
    }
}

/// `panicd identity --key PATH`: print what to register for a box.
struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Print a device key's id, public key (JWK and base64url) and fingerprint for registration."
    )

    @Option(help: "The device key file.")
    var key: String

    @Flag(help: "Print one JSON object instead of lines.")
    var json = false

    func run() throws {
        let report: IdentityReport
        do { report = IdentityReport(try DeviceKey.load(path: key).identity) } catch {
            throw CLIError(error.description)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}

/// `panicd verify [FILE|-]`: check a stream of envelopes.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify signed records (one compact JWS per line): signature, sequence and hash chain.",
        discussion: """
            Prints every finding other than ok (LINE: finding), then a summary. Findings: malformed, unknown-key, \
            bad-signature, device-mismatch, replay, fork, broken-chain, gap. Exit code 1 when there is any.
            """
    )

    @Argument(help: "File of envelopes, or - for standard input.")
    var file = "-"

    @Option(help: "A device key file whose public key is trusted (repeatable).")
    var key: [String] = []

    @Option(help: "A trusted public JWK, as JSON text or a file holding it (repeatable).")
    var jwk: [String] = []

    @Flag(help: "Also print the ok findings.")
    var verbose = false

    func run() throws {
        var verifier = RecordVerifier()
        for path in key {
            do { verifier.register(try DeviceKey.load(path: path).identity) } catch {
                throw CLIError(error.description)
            }
        }
        for text in jwk {
            let json =
                text.hasPrefix("{") ? text : ((try? String(contentsOfFile: text, encoding: .utf8)) ?? "")
            guard let identity = DeviceIdentity(jwk: json) else {
                throw CLIError(
                    "--jwk \(text): not an Ed25519 public JWK ({\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":…})")
            }
            verifier.register(identity)
        }
        guard !key.isEmpty || !jwk.isEmpty else { throw ValidationError("give at least one --key or --jwk") }
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw CLIError("cannot read \(file): \(error.localizedDescription)")
            }
        }
        let result = StreamVerification(text: String(decoding: data, as: UTF8.self), verifier: verifier)
        for (line, finding) in result.findings where verbose || !finding.isOK {
            print("\(line.map { "\(file):\($0)" } ?? file): \(finding)")
        }
        print(result.summary)
        if !result.problems.isEmpty { throw ExitCode(1) }
    }
}

/// A command-line failure with a message for standard error and exit code 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
