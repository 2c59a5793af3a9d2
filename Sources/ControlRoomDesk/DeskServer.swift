import ControlRoomKit
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
        metrics: MetricsEndpoint? = nil, timeouts: ServerTimeouts = ServerTimeouts(), updates: UpdatePackages? = nil,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let configuration = ApplicationConfiguration(address: .hostname(host, port: port), serverName: "controlroom")
        let router = router(
            controlRoom: desk.room, faults: faults, metrics: metrics, updates: updates,
            installDesk: desk.installer(updates: updates))
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

/// Adds `Strict-Transport-Security` to every answer (the desk is served over TLS): a browser that once reached
/// the desk over HTTPS never again sends its cookie over plain HTTP, nor lets an operator click through a forged
/// certificate. Errors thrown by a handler carry it too.
struct StrictTransportSecurityMiddleware: RouterMiddleware {
    typealias Context = ControlRoomRequestContext
    /// The header's value, e.g. `max-age=31536000`.
    let value: String

    init(maxAge: Duration) { value = "max-age=\(maxAge.components.seconds)" }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[.strictTransportSecurity] = value
            return response
        } catch let error as any HTTPResponseError {
            var response = try error.response(from: request, context: context)
            response.headers[.strictTransportSecurity] = value
            return response
        }
    }
}

extension DeskConfiguration {
    /// Where the map's tiles come from, as a Content-Security-Policy source: the tile URL's scheme, host and port
    /// (`https://{s}.tile.example/{z}/{x}/{y}.png` gives `https://*.tile.example`), `'self'` for a URL on the
    /// control room itself (`/tiles/{z}/{x}/{y}.png`), nil when the URL names no host a policy can (then
    /// `controlroom serve` refuses it).
    public static func tileSource(_ tileURL: String) -> String? {
        if tileURL.hasPrefix("/") && !tileURL.hasPrefix("//") { return "'self'" }
        guard let schemeEnd = tileURL.range(of: "://") else { return nil }
        let scheme = tileURL[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else { return nil }
        let rest = tileURL[schemeEnd.upperBound...]
        var authority = String(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" })
        // Leaflet's subdomain placeholder: any one label there.
        if authority.hasPrefix("{s}.") { authority = "*." + authority.dropFirst(4) }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:*[]")
        guard !authority.isEmpty, authority.allSatisfy(allowed.contains), !authority.dropFirst().contains("*")
        else { return nil }
        return scheme + "://" + authority
    }

    /// The desk pages' Content-Security-Policy: scripts, styles, connections and sounds only from the control
    /// room itself and no inline code at all (no `'unsafe-inline'`: a name that slipped into the page as HTML
    /// still could not run), images from the control room and the configured tile server only, no framing.
    public static func contentSecurityPolicy(tileURL: String?) -> String {
        let tiles = tileURL.flatMap(tileSource).map { $0 == "'self'" ? "" : " " + $0 } ?? ""
        return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'\(tiles); "
            + "connect-src 'self'; media-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
            + "frame-ancestors 'none'"
    }
}
