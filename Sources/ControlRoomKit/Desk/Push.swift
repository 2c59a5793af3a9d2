import Foundation
import Hummingbird
import PanicCore
import ServiceLifecycle
import Synchronization

/// "Something changed": a version number that goes up on every change, and waiters woken when it does. The
/// record endpoint and every operator action poke it; each push stream waits on it. No polling: a waiter sleeps
/// until it is poked, cancelled, or the signal is closed.
public final class DeskSignal: Sendable {
    private struct State {
        var version: UInt64 = 0
        var closed = false
        var nextToken: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<UInt64?, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The current version.
    public var version: UInt64 { state.withLock { $0.version } }

    /// Marks a change and wakes every waiter.
    public func poke() {
        let (waiters, version) = state.withLock { state in
            state.version += 1
            defer { state.waiters.removeAll() }
            return (state.waiters.values, state.version)
        }
        for waiter in waiters { waiter.resume(returning: version) }
    }

    /// Ends every push stream (the server is stopping).
    public func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Waits until the version is above `after`; returns it, or nil once closed or cancelled.
    public func waitForChange(after: UInt64) async -> UInt64? { await next(after: after) }

    /// Waits until the version is above `after`; returns it, or nil once closed or cancelled.
    func next(after: UInt64) async -> UInt64? {
        let token = state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UInt64?, Never>) in
                let immediate: UInt64?? = state.withLock { state in
                    if state.closed || Task.isCancelled { return .some(nil) }
                    if state.version > after { return .some(state.version) }
                    state.waiters[token] = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: token) }?.resume(returning: nil)
        }
    }
}

/// One message of the push channel: alerts that changed (whole rows, keyed by `device/alert`), alerts that left
/// the open list, and the server's time so the page can age fixes and presses against its own clock.
struct DeskPush: Codable, Sendable {
    var serverNowMs: Int64
    var upsert: [DeskAlert]
    var remove: [String]
    /// Whether this is the first message of the stream (the page drops rows it has that are not in it).
    var snapshot: Bool
}

extension Desk {
    /// Every open alert as the desk shows it (what the push channel's snapshot carries).
    public func openAlerts() async throws -> [DeskAlert] {
        let open = try await room.openAlerts()
        return try await room.deskAlerts(open, tracks: tracks)
    }

    /// What changed since `sent` (the JSON of each alert last pushed, by key); updates `sent`. Nil when nothing did.
    func pushMessage(since sent: inout [String: Data], snapshot: Bool) async throws -> DeskPush? {
        let open = try await room.openAlerts()
        tracks.keep(open)
        var upsert: [DeskAlert] = []
        var keys = Set<String>()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for var alert in try await room.deskAlerts(open, tracks: tracks) {
            // The page counts time since the press itself; without this every row would differ every time.
            alert.alert.sincePressMs = 0
            let key = alert.alert.device + "/" + alert.alert.id
            keys.insert(key)
            let data = try encoder.encode(alert)
            if sent[key] != data {
                sent[key] = data
                upsert.append(alert)
            }
        }
        let removed = sent.keys.filter { !keys.contains($0) }.sorted()
        for key in removed { sent[key] = nil }
        if upsert.isEmpty && removed.isEmpty && !snapshot { return nil }
        return DeskPush(
            serverNowMs: room.wallClock().epochMilliseconds, upsert: upsert, remove: removed, snapshot: snapshot)
    }

    /// The Server-Sent Events stream of one page: a snapshot, then a message per change, and a comment line every
    /// `heartbeat` so proxies keep the connection and a vanished page is noticed.
    func eventStream() -> ResponseBody {
        ResponseBody { [self] writer in
            var sent: [String: Data] = [:]
            var version = signal.version
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let first = try await pushMessage(since: &sent, snapshot: true) {
                try await writer.write(ByteBuffer(string: "retry: 2000\nevent: alerts\ndata: "))
                try await writer.write(ByteBuffer(bytes: try encoder.encode(first)))
                try await writer.write(ByteBuffer(string: "\n\n"))
            }
            // A server stopping gracefully ends the streams, or it would wait for every open page to go away.
            let signal = signal
            try await withGracefulShutdownHandler {
                streaming: while true {
                    switch await wake(after: version) {
                    case .closed:
                        break streaming
                    case .heartbeat:
                        try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    case .changed(let next):
                        version = next
                        guard let message = try await pushMessage(since: &sent, snapshot: false) else { continue }
                        try await writer.write(ByteBuffer(string: "event: alerts\ndata: "))
                        try await writer.write(ByteBuffer(bytes: try encoder.encode(message)))
                        try await writer.write(ByteBuffer(string: "\n\n"))
                    }
                }
            } onGracefulShutdown: {
                signal.close()
            }
            try await writer.finish(nil)
        }
    }

    private enum Wake: Sendable {
        case changed(UInt64)
        case heartbeat
        case closed
    }

    private func wake(after version: UInt64) async -> Wake {
        let signal = signal
        let clock = clock
        let heartbeat = configuration.heartbeat
        return await withTaskGroup(of: Wake.self) { group in
            group.addTask { await signal.next(after: version).map(Wake.changed) ?? .closed }
            group.addTask {
                do {
                    try await clock.sleep(for: heartbeat)
                    return .heartbeat
                } catch { return .closed }
            }
            let first = await group.next() ?? .closed
            group.cancelAll()
            return first
        }
    }
}
