import AsyncHTTPClient
import ControlRoomKit
import Foundation
import NIOCore
import PanicConfig
import PanicCore
import PanicSigning
import Synchronization

/// What a simulation knows about deliveries to one device, from the control room's side.
struct DeliverySummary: Sendable {
    var records: Int
    var gaps: Int
    /// Records stored more than once under one sequence number, or chain findings (forks, replays).
    var duplicates: Int
    var byKind: [RecordKind: Int]
}

/// The control room a simulation sends to, as the simulator's operator and auditor see it: the embedded
/// reference control room (`EmbeddedControlRoomClient`) or one reached over HTTP (`HTTPControlRoomClient`).
protocol ControlRoomClient: Sendable {
    /// Alerts that arrived since the last call.
    func newAlerts() async throws -> [AlertView]
    /// Alerts still open (not cleared and confirmed).
    func openAlerts() async throws -> [AlertView]
    /// Accepts or clears an alert, as the operator's page does.
    func act(_ action: BoxAction.OperatorAction, device: String, alert: String) async throws -> AlertView
    /// What arrived from `device`.
    func summary(device: String) async throws -> DeliverySummary
    /// The identity (sequence, envelope hash) of every record stored for `device`.
    func records(device: String) async throws -> [RecordIdentity]
}

/// The embedded reference control room, reached directly.
final class EmbeddedControlRoomClient: ControlRoomClient {
    let room: ControlRoom
    private let cursor = Mutex<Int64>(0)

    init(room: ControlRoom) { self.room = room }

    func newAlerts() async throws -> [AlertView] {
        let from = cursor.withLock { $0 }
        let (alerts, next) = try await room.alerts(after: from)
        cursor.withLock { $0 = next }
        return alerts
    }

    func openAlerts() async throws -> [AlertView] { try await room.openAlerts() }

    func act(_ action: BoxAction.OperatorAction, device: String, alert: String) async throws -> AlertView {
        action == .accept
            ? try await room.accept(device: device, alert: alert) : try await room.clear(device: device, alert: alert)
    }

    func records(device: String) async throws -> [RecordIdentity] { try await room.recordIdentities(device: device) }

    func summary(device: String) async throws -> DeliverySummary {
        let arrivals = try await room.arrivalOrder(device: device)
        var byKind: [RecordKind: Int] = [:]
        for arrival in arrivals { byKind[arrival.kind, default: 0] += 1 }
        let forks = try await room.findings(device: device).count
        return DeliverySummary(
            records: try await room.recordCount(device: device),
            gaps: try await room.gaps(device: device).reduce(0) { $0 + $1.count },
            duplicates: arrivals.count - Set(arrivals.map(\.sequence)).count + forks, byKind: byKind)
    }
}

/// An external control room (`controlroom serve`, or a real one speaking the same API), over HTTP: the operator
/// page's own endpoints.
final class HTTPControlRoomClient: ControlRoomClient {
    let baseURL: String
    /// The desk account's API token (`controlroom users add --token`); the operator endpoints refuse requests
    /// without one.
    let token: String?
    private let seen = Mutex<Set<String>>([])

    init(baseURL: String, token: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
    }

    /// Fetches the control room's public key from `GET /v1/identity` (when none was pinned on the command line).
    func identity() async throws -> DeviceIdentity {
        struct Identity: Decodable { var jwk: String }
        let answer: Identity = try await call("GET", "/v1/identity")
        guard let identity = DeviceIdentity(jwk: answer.jwk) else {
            throw SimulationError("\(baseURL)/v1/identity: the control room has no signing key")
        }
        return identity
    }

    func newAlerts() async throws -> [AlertView] {
        // Every alert, a page at a time (newest press first; `X-Next-Before` names the next page): an alert pressed
        // long ago can arrive late, from a backlog, so every page is read.
        var all: [AlertView] = []
        var before: String?
        repeat {
            let path = "/v1/alerts?all=1&limit=500" + (before.map { "&before=" + $0 } ?? "")
            let (page, next): ([AlertView], String?) = try await call("GET", path, header: "X-Next-Before")
            all += page
            before = next
        } while before != nil
        return seen.withLock { seen in all.filter { seen.insert($0.id).inserted } }
    }

    func openAlerts() async throws -> [AlertView] { try await call("GET", "/v1/alerts") }

    func act(_ action: BoxAction.OperatorAction, device: String, alert: String) async throws -> AlertView {
        // The desk's clear needs a reason; it goes into the audit log.
        try await call(
            "POST", "/v1/alerts/\(device)/\(alert)/\(action.rawValue)", body: #"{"reason":"simulated operator"}"#)
    }

    func records(device: String) async throws -> [RecordIdentity] {
        try await call("GET", "/v1/devices/\(device)/records")
    }

    func summary(device: String) async throws -> DeliverySummary {
        let devices: [RegisteredDevice] = try await call("GET", "/v1/devices")
        guard let entry = devices.first(where: { $0.id == device }) else {
            throw SimulationError("the control room at \(baseURL) does not know device \(device)")
        }
        let gaps = entry.gaps.reduce(0) { total, range in
            let bounds = range.split(separator: "-").compactMap { Int($0) }
            return total + (bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1)
        }
        // The API has no per-kind counts; the store keeps one copy per sequence number, so only findings
        // (forks, replays) can show a duplicate.
        return DeliverySummary(records: entry.records, gaps: gaps, duplicates: entry.findings.count, byKind: [:])
    }

    private func call<T: Decodable>(_ method: String, _ path: String, body: String? = nil) async throws -> T {
        try await call(method, path, body: body, header: nil).0
    }

    /// The answer, and the response header `header` when asked for.
    private func call<T: Decodable>(
        _ method: String, _ path: String, body: String? = nil, header: String?
    ) async throws -> (T, String?) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response: HTTPClientResponse
        do { response = try await HTTPClient.shared.execute(request, timeout: .seconds(10)) } catch {
            throw SimulationError("\(method) \(baseURL)\(path): \(error)")
        }
        let body = try await response.body.collect(upTo: 16 << 20)
        if response.status == .unauthorized {
            throw SimulationError(
                "\(method) \(baseURL)\(path): the control room wants a desk account: pass --operator-token "
                    + "(from `controlroom users add --name NAME --token`)")
        }
        guard response.status == .ok else {
            throw SimulationError(
                "\(method) \(baseURL)\(path): HTTP \(response.status.code) \(String(buffer: body))")
        }
        let value = header.flatMap { response.headers.first(name: $0) }
        do { return (try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)), value) } catch {
            throw SimulationError("\(method) \(baseURL)\(path): unexpected answer: \(error)")
        }
    }
}
