import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PanicCore
import PanicSigning
import Synchronization

/// The request context of the control room's server: Hummingbird's core storage plus the connection, so
/// fault injection can drop it.
public struct ControlRoomRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request's connection.
    public let channel: any Channel
    /// The desk account a route group's `DeskAuthentication` found (nil before it, and on routes outside the groups).
    public var deskAccount: DeskAccount?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies of up to `IntakeLimits.maxBodyBytes` (4 MiB by default; a device's largest batch is about 1 MiB).
    public var maxUploadSize: Int { IntakeLimits().maxBodyBytes }
}

/// Faults the control room's record endpoint can be told to show, for tests of the device's retries. Each
/// applies to the next `count` requests to `POST /v1/records` (or to all, when count is nil).
public final class FaultInjector: Sendable {
    /// One kind of misbehaviour.
    public enum Fault: Sendable, Equatable {
        /// Drop the connection before reading the request (as if the server were unreachable).
        case resetConnection
        /// Answer 500 without storing anything.
        case internalError
        /// Wait this long before handling the request normally.
        case delay(Duration)
        /// Store the batch, then drop the connection instead of answering (the response is lost).
        case loseResponse
    }

    private struct State {
        var fault: Fault?
        var remaining: Int?
        var injected = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Injects `fault` into the next `count` requests (all requests when nil); `nil` fault stops injecting.
    public func set(_ fault: Fault?, count: Int? = nil) {
        state.withLock {
            $0.fault = fault
            $0.remaining = count
        }
    }

    /// How many requests were disturbed so far.
    public var injected: Int { state.withLock { $0.injected } }

    func next() -> Fault? {
        state.withLock { state in
            guard let fault = state.fault else { return nil }
            if let remaining = state.remaining {
                if remaining <= 0 { return nil }
                state.remaining = remaining - 1
            }
            state.injected += 1
            return fault
        }
    }
}

/// Builds the control room's HTTP application: the device endpoints, `/metrics`, and whatever the caller installs
/// beside them — the operator desk (the `ControlRoomDesk` module), which this module knows nothing of.
public enum ControlRoomServer {
    /// Adds routes (and middleware) to the control room's router: how a server gets its operator desk
    /// (`ControlRoomDesk`'s `Desk.installer(updates:)`).
    public typealias Installer = (Router<ControlRoomRequestContext>) -> Void

    /// The router with every route. `faults` disturbs `POST /v1/records` for tests; `installDesk` adds the operator
    /// desk first (its middleware then covers every route); without it the router serves the device endpoints
    /// and `/metrics` only.
    public static func router(
        controlRoom: ControlRoom, faults: FaultInjector? = nil, metrics: MetricsEndpoint? = nil,
        updates: UpdatePackages? = nil, installDesk: Installer? = nil
    ) -> Router<ControlRoomRequestContext> {
        let router = Router(context: ControlRoomRequestContext.self)
        // MARK: The operator desk (ControlRoomDesk): login and sessions, the page, every operator endpoint, the
        // push channel, woken by the control room's change stream (`ControlRoom.changes`).
        installDesk?(router)
        if let metrics { installMetrics(metrics, room: controlRoom, on: router) }
        // MARK: Device endpoints (their own authentication: signed records).
        router.post("/v1/records") { request, context -> Response in
            let fault = faults?.next()
            switch fault {
            case .resetConnection?:
                context.channel.close(promise: nil)
                return Response(status: .serviceUnavailable)
            case .internalError?:
                return Response(status: .internalServerError)
            case .delay(let duration)?:
                try await Task.sleep(for: duration)
            case .loseResponse?, nil:
                break
            }
            let limit = controlRoom.limits.maxBodyBytes
            let tooLarge = json(
                ["error": IntakeRefusal.bodyTooLarge(limit: limit).description], status: .contentTooLarge)
            // Refused before a byte of the body is read when the client says how long it is.
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { return tooLarge }
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError { return tooLarge }
            // Decoding a big body is CPU work: it runs on NIO's thread pool, not on the threads that answer the
            // operator's requests. A small one (a box's usual request: a few records) is decoded here, where the
            // two thread hops would cost more than the decoding. The signature checks run off the event loops too
            // (`ControlRoom.screen`, in parallel for a big batch).
            let decode = { @Sendable in try RecordBatch.decode(json: Data(buffer: body)) }
            let batch: RecordBatch
            do {
                batch =
                    body.readableBytes <= Self.inlineDecodeBytes
                    ? try decode() : try await NIOThreadPool.singleton.runIfActive(decode)
            } catch let error as DecodingError {
                return json(["error": "the body is not a record batch: \(error)"], status: .badRequest)
            }
            let response: RecordBatchResponse
            do {
                // What it stored goes out on the control room's change stream (`ControlRoom.changes`).
                response = try await controlRoom.receive(batch)
            } catch let refusal as IntakeRefusal {
                return json(
                    ["error": refusal.description], status: refusal.isSize ? .contentTooLarge : .unprocessableContent)
            }
            if fault == .loseResponse {
                context.channel.close(promise: nil)
                return Response(status: .serviceUnavailable)
            }
            return json(response, sortedKeys: false)
        }
        router.get("/v1/identity") { _, _ -> Response in
            json(["jwk": controlRoom.identity?.jwk ?? "", "kid": controlRoom.identity?.thumbprint ?? ""])
        }
        if let updates { installUpdates(updates, room: controlRoom, on: router) }
        return router
    }

    /// The application listening on `host:port` (port 0 picks a free one; `onRunning` gets the bound port). A
    /// client slower than `timeouts` has its connection closed. `installDesk` as for `router`.
    public static func application(
        controlRoom: ControlRoom, host: String, port: Int, faults: FaultInjector? = nil,
        timeouts: ServerTimeouts = ServerTimeouts(), updates: UpdatePackages? = nil, installDesk: Installer? = nil,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(controlRoom: controlRoom, faults: faults, updates: updates, installDesk: installDesk),
            server: server(timeouts: timeouts),
            configuration: .init(address: .hostname(host, port: port), serverName: "controlroom"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// `GET /v1/updates/<sha256>`: a stored package, only to a registered device proving the request its own
    /// (`DownloadProof` in the `PanicBridge-Proof` header, for this hash, fresh); 401 without a proof or with one
    /// that does not verify, 403 to a device no unexpired update document naming the hash was queued for (nothing
    /// said about whether the package exists), 404 for a pushed hash not stored.
    static func installUpdates(
        _ updates: UpdatePackages, room: ControlRoom, on router: Router<ControlRoomRequestContext>
    ) {
        let files = FileIO()
        router.get("/v1/updates/:sha256") { request, context -> Response in
            let sha256 = context.parameters.get("sha256") ?? ""
            guard UpdateDocument.isSHA256(sha256) else {
                return json(["error": "not a SHA-256 (64 lower-case hex digits)"], status: .notFound)
            }
            let header = DownloadProof.header.lowercased()
            let proof = request.headers.first { $0.name.canonicalName == header }?.value
            if let refusal = try await room.authorizeDownload(proof: proof, sha256: sha256) {
                // A proven device asking for a package not pushed to it is known but not allowed: 403, not 401.
                return json(
                    [
                        "error": refusal == .notQueued
                            ? "this package was not pushed to this device: \(refusal.rawValue)"
                            : "a package is served only to a registered device: \(refusal.rawValue)"
                    ],
                    status: refusal == .notQueued ? .forbidden : .unauthorized)
            }
            guard let path = updates.path(sha256: sha256) else {
                return json(["error": "no package with this SHA-256"], status: .notFound)
            }
            let body = try await files.loadFile(path: path, context: context)
            return Response(
                status: .ok,
                headers: [.contentType: "application/vnd.debian.binary-package", .cacheControl: "no-store"],
                body: body)
        }
    }

    /// Bodies up to this size are decoded on the request's own task, bigger ones on NIO's thread pool.
    static let inlineDecodeBytes = 16 * 1024

    /// `json(_:)` for a big answer (thousands of rows: the fleet map, a page of devices): encoding it is
    /// milliseconds of CPU, which must not hold the event loop that answers every other connection on it (a
    /// box's intake among them); it runs on NIO's thread pool.
    package static func json(
        offLoop value: some Encodable & Sendable, status: HTTPResponse.Status = .ok, sortedKeys: Bool = true
    ) async throws -> Response {
        try await NIOThreadPool.singleton.runIfActive { json(value, status: status, sortedKeys: sortedKeys) }
    }

    /// `value` as a JSON answer; keys sorted (stable output for people and diffs) unless `sortedKeys` is false (the
    /// device's answer, thousands a second, read only by the box).
    package static func json(
        _ value: some Encodable, status: HTTPResponse.Status = .ok, sortedKeys: Bool = true
    ) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = sortedKeys ? [.sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"encoding failed"}"#.utf8)
        return Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension Data {
    fileprivate init(buffer: ByteBuffer) {
        self.init(buffer.readableBytesView)
    }
}
