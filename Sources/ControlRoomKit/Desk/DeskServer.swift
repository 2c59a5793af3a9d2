import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// Why the server's TLS files could not be used.
public struct DeskTLSError: Error, CustomStringConvertible {
    public var description: String
}

extension ControlRoomServer {
    /// TLS settings from a PEM certificate chain and a PEM private key.
    public static func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw DeskTLSError(description: "--tls-cert \(certificate): not a readable PEM certificate (\(error))")
        }
        guard !chain.isEmpty else { throw DeskTLSError(description: "--tls-cert \(certificate): no certificate in it") }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw DeskTLSError(description: "--tls-key \(key): not a readable PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// The control room with its desk, over HTTP or (with `tls`) HTTPS, listening on `host:port` (0 picks a port;
    /// `onRunning` gets it).
    public static func application(
        desk: Desk, host: String, port: Int, tls: TLSConfiguration? = nil, faults: FaultInjector? = nil,
        metrics: MetricsEndpoint? = nil, timeouts: ServerTimeouts = ServerTimeouts(), logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let configuration = ApplicationConfiguration(address: .hostname(host, port: port), serverName: "controlroom")
        let router = router(controlRoom: desk.room, faults: faults, desk: desk, metrics: metrics)
        let running: @Sendable (any Channel) async -> Void = { channel in
            await onRunning(channel.localAddress?.port ?? port)
        }
        return Application(
            router: router,
            server: try tls.map { try server(timeouts: timeouts, tls: $0) } ?? server(timeouts: timeouts),
            configuration: configuration,
            onServerRunning: running, logger: logger)
    }
}
