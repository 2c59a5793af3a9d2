import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PanicCore

/// Which certificate authorities a backend's HTTPS server certificate must chain to.
public enum TrustRoots: Sendable, Hashable {
    /// The system's CA store.
    case system
    /// Only the CA certificate(s) in this PEM file (a private control room's own CA).
    case caFile(String)
}

extension HTTPClient {
    /// The client every HTTP(S) backend gets: its own connection pool, the backend's trust roots, a connect
    /// deadline, HTTP/1.1, its connections on `eventLoopGroup` (the daemon's one loop: no thread of its own, so an
    /// idle pool wakes nothing; docs/daemon.md → *Backends that sleep*).
    static func uplink(
        trust: TrustRoots, connectTimeout: Duration, eventLoopGroup: any EventLoopGroup
    ) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if case .caFile(let path) = trust { tls.trustRoots = .file(path) }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout.connect = .nanoseconds(connectTimeout.nanosecondsClamped)
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
    }
}

extension HTTPClient {
    /// `request`'s answer, its body at most `maxBodySize` bytes, within `timeout`. AsyncHTTPClient's
    /// `EventLoopFuture` API, not its `async` one: that one registers every request through unstructured `Task`s on
    /// the global executor, whose first use starts libdispatch and its worker-pool monitor, a wakeup every second
    /// for the rest of the daemon's life (docs/daemon.md → *Backends that sleep*).
    static func answer(
        to request: HTTPClient.Request, maxBodySize: Int, timeout: Duration, on client: HTTPClient
    ) async throws -> HTTPClient.Response {
        let task = client.execute(
            request: request, delegate: ResponseAccumulator(request: request, maxBodySize: maxBodySize),
            deadline: .now() + .nanoseconds(timeout.nanosecondsClamped))
        return try await withTaskCancellationHandler {
            try await task.futureResult.get()
        } onCancel: {
            task.cancel()
        }
    }
}

/// Why a request to a backend failed.
public struct UplinkTransportError: Error, CustomStringConvertible {
    /// What failed, for the log.
    public var description: String

    public init(description: String) { self.description = description }

    /// `error` for a log line or a failure reason: an `UplinkTransportError` as it is (its text quotes whatever
    /// came from the server), any other error's text quoted by `LogText` (a TLS or HTTP error can carry the
    /// server's words).
    public static func describe(_ error: any Error) -> String {
        if let error = error as? UplinkTransportError { return error.description }
        return LogText.quoted("\(error)", limit: 300)
    }
}

/// Carries one batch to a backend and brings back its answer.
public protocol UplinkTransport: Sendable {
    /// Posts `batch`; throws on connection errors, timeouts, non-200 answers and unreadable bodies.
    func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse
    /// Closes connections.
    func shutdown() async throws
}

/// HTTP(S) transport over AsyncHTTPClient: a connection pool per backend, the backend's own trust roots, a
/// deadline per request.
public final class HTTPUplinkTransport: UplinkTransport {
    private let client: HTTPClient
    private let endpoint: String

    /// A transport posting to `baseURL` + `/v1/records`, its connections on `eventLoopGroup`.
    public init(
        baseURL: String, trust: TrustRoots, connectTimeout: Duration = .seconds(5),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        client = HTTPClient.uplink(trust: trust, connectTimeout: connectTimeout, eventLoopGroup: eventLoopGroup)
        endpoint = baseURL.hasSuffix("/") ? baseURL + "v1/records" : baseURL + "/v1/records"
    }

    public func send(_ batch: RecordBatch, timeout: Duration) async throws -> RecordBatchResponse {
        var request = try HTTPClient.Request(url: endpoint, method: .POST)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(batch.jsonBytes())
        // An answer is a few kilobytes (`RecordBatchResponse.maximumBytes`): a longer one is refused unread, before
        // any of it is decoded or checked, so a hostile server cannot make the box parse megabytes.
        let limit = RecordBatchResponse.maximumBytes
        let response: HTTPClient.Response
        do {
            response = try await HTTPClient.answer(
                to: request, maxBodySize: limit, timeout: timeout, on: client)
        } catch is ResponseAccumulator.ResponseTooBigError {
            throw UplinkTransportError(
                description: "answer from \(endpoint) is longer than the \(limit) bytes an answer may be")
        }
        let bytes = response.body ?? ByteBuffer()
        guard response.status == .ok else {
            // The control room names the problem in `error` (a refused batch says why); keep it for the log.
            struct Refusal: Decodable { var error: String }
            let reason = (try? JSONDecoder().decode(Refusal.self, from: Data(bytes.readableBytesView))).map {
                ": \(LogText.quoted($0.error, limit: 300))"
            }
            throw UplinkTransportError(description: "HTTP \(response.status.code) from \(endpoint)\(reason ?? "")")
        }
        // Decoded on the blocking pool, not on a thread every task shares.
        let endpoint = endpoint
        return try await NIOThreadPool.singleton.runIfActive {
            do { return try RecordBatchResponse.decode(json: Data(bytes.readableBytesView)) } catch {
                throw UplinkTransportError(
                    description: "unreadable answer from \(endpoint): \(LogText.quoted("\(error)", limit: 600))")
            }
        }
    }

    public func shutdown() async throws { try await client.shutdown() }
}
