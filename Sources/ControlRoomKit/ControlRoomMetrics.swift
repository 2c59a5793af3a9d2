import CoreMetrics
import Foundation
import Hummingbird
import NIOCore
import PanicCore

/// The control room's metrics, through swift-metrics (a factory handed in: the executable chooses the backend,
/// `controlroom serve` a Prometheus registry; a library never bootstraps one). Record outcomes by status and
/// reason, the intake's batch latency, database errors; the open alerts and the devices seen in the last five
/// minutes are read from the store when scraped (`refreshGauges`).
public final class ControlRoomMetrics: Sendable {
    let factory: any MetricsFactory
    let batchLatency: CoreMetrics.Timer
    let databaseErrors: Counter
    let openAlerts: Gauge
    let devicesSeen: Gauge
    let refused: Counter

    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        batchLatency = CoreMetrics.Timer(label: "controlroom_batch_seconds", factory: factory)
        databaseErrors = Counter(label: "controlroom_database_errors_total", factory: factory)
        openAlerts = Gauge(label: "controlroom_open_alerts", factory: factory)
        devicesSeen = Gauge(label: "controlroom_devices_seen_5m", factory: factory)
        refused = Counter(label: "controlroom_batches_refused_total", factory: factory)
    }

    /// Counts one batch's results: accepted, duplicate, rejected by reason.
    func count(_ results: [RecordResult]) {
        var tally: [String: Int] = [:]
        for result in results {
            let key =
                result.status == .rejected
                ? "rejected/" + (result.reason?.rawValue ?? "malformed") : result.status.rawValue
            tally[key, default: 0] += 1
        }
        for (key, count) in tally {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            var dimensions = [("status", parts[0])]
            if parts.count == 2 { dimensions.append(("reason", parts[1])) }
            Counter(label: "controlroom_records_total", dimensions: dimensions, factory: factory).increment(by: count)
        }
    }

    /// Sets the gauges read from the store, just before a scrape.
    public func refreshGauges(_ room: ControlRoom) async {
        do {
            openAlerts.record(try await room.openAlerts().count)
            let since = room.wallClock().epochMilliseconds - 300_000
            devicesSeen.record(try await room.store.devicesSeen(since: since))
        } catch {
            databaseErrors.increment()
        }
    }
}

/// Who may read `GET /metrics`: the figures say how many devices are alive and how many alerts are open, which an
/// attacker on a hostile network should not learn. Loopback clients (a Prometheus on the same host, or an SSH
/// tunnel) may; anyone else needs a desk API token or session of a supervisor or admin.
public struct MetricsEndpoint: Sendable {
    /// The exposition text (Prometheus text format 0.0.4).
    public var emit: @Sendable () -> [UInt8]
    public var metrics: ControlRoomMetrics

    public init(metrics: ControlRoomMetrics, emit: @escaping @Sendable () -> [UInt8]) {
        self.metrics = metrics
        self.emit = emit
    }

    /// Whether `address` is a loopback address (IPv4 127.0.0.0/8, IPv6 ::1 or IPv4-mapped loopback).
    public static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let address, let ip = address.ipAddress else { return false }
        switch address {
        case .v4: return ip.hasPrefix("127.")
        case .v6: return ip == "::1" || ip.hasPrefix("::ffff:127.")
        default: return false
        }
    }
}

extension MetricsEndpoint {
    /// The check for a client off loopback: a supervisor's or admin's API token (`Authorization: Bearer`) or desk
    /// session (its cookie, read as `DeskSessions` reads it: the same expiry); 401 without either, 403 for an
    /// operator. A GET changes nothing, so no CSRF token is asked for.
    static func authorize(_ request: Request, room: ControlRoom, sessions: DeskSessions) async throws {
        try DeskSessions.require(.supervisor, of: try await sessions.caller(of: request, room: room).account)
    }
}

extension DeskSessions {
    /// Who a request speaks for, as the account is now (a role change or a removal counts at once): an API token
    /// (`Authorization: Bearer`, sent deliberately by a program, so no CSRF token goes with it) or the session
    /// cookie, whose CSRF token comes back for a change to be checked against. 401 without either. The desk's
    /// routes and `/metrics` both ask here.
    package func caller(of request: Request, room: ControlRoom) async throws -> (account: DeskAccount, csrf: String?) {
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            guard let found = try await room.account(token: String(header.dropFirst(7))) else {
                throw HTTPError(.unauthorized, message: "unknown API token")
            }
            return (found, nil)
        }
        guard let id = request.cookies[Self.cookieName]?.value, let session = try await session(id: id) else {
            throw HTTPError(.unauthorized, message: "log in first (no session, or it ended)")
        }
        return (session.account, session.csrf)
    }

    /// 403 unless `account` has `role` or above, naming both.
    package static func require(_ role: DeskRole, of account: DeskAccount) throws {
        guard account.role >= role else {
            throw HTTPError(
                .forbidden, message: "this needs the \(role.rawValue) role; \(account.name) is \(account.role.rawValue)"
            )
        }
    }
}

extension ControlRoomServer {
    static func installMetrics(
        _ endpoint: MetricsEndpoint, room: ControlRoom, on router: Router<ControlRoomRequestContext>
    ) {
        let sessions = DeskSessions(store: room.store, wallClock: room.wallClock)
        router.get("/metrics") { request, context -> Response in
            if !MetricsEndpoint.isLoopback(context.channel.remoteAddress) {
                try await MetricsEndpoint.authorize(request, room: room, sessions: sessions)
            }
            await endpoint.metrics.refreshGauges(room)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: endpoint.emit())))
        }
    }
}
