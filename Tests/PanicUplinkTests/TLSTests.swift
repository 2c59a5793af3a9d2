import ControlRoomKit
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Testing

/// A certificate authority and a server certificate for 127.0.0.1, made on the fly with the openssl CLI.
struct TestPKI {
    let caFile: String
    let certificateFile: String
    let keyFile: String

    init(directory: String) throws {
        caFile = directory + "/ca.pem"
        certificateFile = directory + "/server.pem"
        keyFile = directory + "/server.key"
        let extensions = directory + "/server.ext"
        try "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        try TestPKI.openssl(
            ["req", "-x509"] + ec + [
                "-keyout", directory + "/ca.key", "-out", caFile, "-days", "1", "-subj", "/CN=PanicBridge test CA",
            ])
        try TestPKI.openssl(
            ["req"] + ec + ["-keyout", keyFile, "-out", directory + "/server.csr", "-subj", "/CN=127.0.0.1"])
        try TestPKI.openssl([
            "x509", "-req", "-in", directory + "/server.csr", "-CA", caFile, "-CAkey", directory + "/ca.key",
            "-CAcreateserial", "-out", certificateFile, "-days", "1", "-extfile", extensions,
        ])
    }

    static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "openssl \(arguments.prefix(2).joined(separator: " ")) failed")
    }

    func serverConfiguration() throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
    }
}

@Suite("HTTPS with a pinned CA", .timeLimit(.minutes(2)))
struct TLSTests {
    @Test(
        "a device that pins the control room's CA file delivers over TLS; one trusting only the system store refuses",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs the openssl CLI"))
    func pinnedCA() async throws {
        let directory = try TemporaryDirectory()
        let pki = try TestPKI(directory: directory.path)
        let tls = try pki.serverConfiguration()
        let clock = ManualClock()
        let wall = wallClock(for: clock)
        try await withControlRoom(
            directory: directory.path,
            tls: { router, onRunning in
                Application(
                    router: router, server: try .tls(.http1(), tlsConfiguration: tls),
                    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                    onServerRunning: { await onRunning($0.localAddress?.port ?? 0) }, logger: quietLogger)
            }
        ) { server in
            let url = "https://127.0.0.1:\(server.port)"
            for (pinned, name) in [(true, "pinned"), (false, "system")] {
                let device = try TestDevice(directory: directory.file(name))
                try await server.room.addDevice(id: device.id, publicKey: device.key.identity.jwk)
                let uplink = try Uplink(
                    outbox: device.outbox, deviceID: device.id,
                    backends: [.init(name: "cr", url: url, trust: pinned ? .caFile(pki.caFile) : .system)],
                    clock: clock, wallClock: wall, seed: 6, logger: quietLogger)
                var events = uplink.events.makeAsyncIterator()
                try await withUplink(uplink) {
                    try uplink.submit(emergency(at: wall()))
                    if pinned {
                        try await drive(uplink, events: &events, clock: clock) {
                            try await server.room.recordCount(device: device.id) == 1
                        }
                    } else {
                        var failure: String?
                        while failure == nil, let event = await events.next() {
                            if case .failed(_, _, let reason) = event { failure = reason }
                        }
                        #expect(failure != nil)
                        #expect(try await server.room.recordCount(device: device.id) == 0)
                    }
                }
            }
        }
    }
}
