import ControlRoomKit
import Foundation
import Hummingbird
import PanicCore
import ServiceLifecycle
import Synchronization

/// One message of the push channel: alerts that changed (whole rows, keyed by `device/alert`, without their
/// route trail), the pieces of route trails that changed (`DeskTrackChunk`), the keys that left (alerts no longer
/// open, trail pieces no longer kept), and the server's time so the page can age fixes and presses against its
/// own clock.
struct DeskPush: Codable, Sendable {
    var serverNowMs: Int64
    var upsert: [DeskAlert]
    var tracks: [DeskTrackChunk]
    var remove: [String]
    /// Whether this is the whole state (the page drops rows it has that are not in it): a new stream's first
    /// message, or a reconnect from a position the server cannot resume (`DeskHistory`). Otherwise only the rows
    /// that changed since the stream's position.
    var snapshot: Bool
}

/// The desk's state at one moment, computed once and shared by every push stream: each open alert as the JSON
/// the page gets (keyed by `device/alert`, in the desk's order), and what changed since the frame before it.
struct DeskFrame: Sendable {
    /// The change signal's version when the computation started: every change poked before it is in the frame.
    var version: UInt64
    /// Which computation this is (1, 2, ...): the stream position a client has seen (`DeskPosition`).
    var number: UInt64
    var rows: [(key: String, json: Data)]
    /// The messages built from this frame, by the position they start from: 50 streams at one position share one.
    let messages = DeskMessages()

    init(version: UInt64, number: UInt64, rows: [(key: String, json: Data)]) {
        self.version = version
        self.number = number
        self.rows = rows
    }

    /// The message carrying `changed` (keys whose row was added, changed or removed since the client's position):
    /// the current rows of those keys, in desk order, and the keys no longer open; or, for a `snapshot`, every row.
    /// The JSON is `DeskPush`'s, spliced from the shared rows: nothing is encoded per stream.
    func message(changed: Set<String>?, nowMs: Int64) -> Data {
        var upsert: [Data] = []
        var tracks: [Data] = []
        var present = Set<String>()
        for row in rows where changed?.contains(row.key) ?? true {
            present.insert(row.key)
            if DeskTrackChunk.isKey(row.key) { tracks.append(row.json) } else { upsert.append(row.json) }
        }
        let removed = (changed ?? []).subtracting(present).sorted()
        func list(_ rows: [Data]) -> Data {
            var json = Data("[".utf8)
            for (index, row) in rows.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                json += row
            }
            return json + Data("]".utf8)
        }
        var json = Data(#"{"remove":"#.utf8)
        json += (try? JSONEncoder().encode(removed)) ?? Data("[]".utf8)
        json += Data(#","serverNowMs":\#(nowMs),"snapshot":\#(changed == nil),"tracks":"#.utf8)
        json += list(tracks)
        json += Data(#","upsert":"#.utf8) + list(upsert) + Data("}".utf8)
        return json
    }

    /// The keys whose row differs between `previous` and `rows` (added, changed or removed).
    static func changes(
        from previous: [(key: String, json: Data)], to rows: [(key: String, json: Data)]
    ) -> Set<
        String
    > {
        var before: [String: Data] = [:]
        for row in previous { before[row.key] = row.json }
        var changed = Set<String>()
        for row in rows {
            if before.removeValue(forKey: row.key) != row.json { changed.insert(row.key) }
        }
        changed.formUnion(before.keys)
        return changed
    }
}

/// The messages built from one frame, by the position they start from (`UInt64.max`: the snapshot).
final class DeskMessages: Sendable {
    private let built = Mutex<[UInt64: Data]>([:])

    func message(from position: UInt64, build: () -> Data) -> Data {
        if let known = built.withLock({ $0[position] }) { return known }
        let message = build()
        built.withLock { $0[position] = message }
        return message
    }
}

/// Where a push stream's client stands: the broadcast that numbered the frames (a server restart starts another)
/// and the last frame it was sent. Sent as each event's SSE `id` (`epoch.number`), so a browser reconnecting sends it
/// back in `Last-Event-ID` and gets only what changed since.
struct DeskPosition: Sendable, Hashable, CustomStringConvertible {
    var epoch: String
    var number: UInt64

    var description: String { "\(epoch).\(number)" }

    /// Parses `Last-Event-ID`; nil for anything else (the client then gets a snapshot).
    init?(_ text: String?) {
        guard let text, let dot = text.lastIndex(of: "."), let number = UInt64(text[text.index(after: dot)...]) else {
            return nil
        }
        epoch = String(text[..<dot])
        self.number = number
    }

    init(epoch: String, number: UInt64) {
        self.epoch = epoch
        self.number = number
    }
}

/// The changes between consecutive frames, newest last, at most `limit` of them: how a stream (or a client
/// reconnecting at a position) is sent only what changed since its position. Pure.
struct DeskHistory: Sendable {
    /// Most frames a client may fall behind and still resume; further behind, it gets a snapshot.
    static let limit = 512

    /// Each frame's changes over `previous`, the frame stored before it (0: none).
    private(set) var changes: [(previous: UInt64, number: UInt64, keys: Set<String>)] = []

    /// Records frame `number`'s changes over `previous`, the frame before it.
    mutating func append(previous: UInt64, number: UInt64, keys: Set<String>) {
        changes.append((previous, number, keys))
        if changes.count > Self.limit { changes.removeFirst(changes.count - Self.limit) }
    }

    /// Every key that changed after frame `position` up to frame `upTo`; nil when `position` is not a frame this
    /// history can resume from (too old, unknown, or ahead of `upTo`).
    func changed(since position: UInt64, upTo: UInt64) -> Set<String>? {
        guard position <= upTo else { return nil }
        if position == upTo { return [] }
        guard let start = changes.firstIndex(where: { $0.previous == position }) else { return nil }
        var keys = Set<String>()
        for change in changes[start...] where change.number <= upTo { keys.formUnion(change.keys) }
        return keys
    }
}

/// Computes the desk's state once per change for all push streams. A stream that needs a newer state than the
/// last one either starts the computation (in its own task: nothing unstructured) or, when one is already running,
/// waits for it; when it ends, every stream it satisfies gets the same frame. Record intake only pokes the
/// `DeskSignal` (which never waits), so 50 open pages cost one computation per change, not 50.
public final class DeskBroadcast: Sendable {
    private enum Outcome: Sendable {
        case frame(DeskFrame)
        case retry
    }

    private struct Need: Sendable {
        /// The frame must include every change up to this signal version...
        var version: UInt64
        /// ...and (for a stream's first message) come from a computation started after the stream opened.
        var number: UInt64

        func met(by frame: DeskFrame) -> Bool { frame.version >= version && frame.number >= number }
    }

    private struct State {
        var frame: DeskFrame?
        var history = DeskHistory()
        var computing = false
        var started: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: (need: Need, continuation: CheckedContinuation<Outcome, Never>)] = [:]
    }

    private let state = Mutex(State())
    private let signal: DeskSignal
    /// Names this broadcast's frame numbers in stream positions: a position from another run means a snapshot.
    let epoch = String(UUID().uuidString.prefix(8)).lowercased()

    init(signal: DeskSignal) { self.signal = signal }

    /// Whether no row changed between frame `position` and `frame` (nothing worth a message).
    func unchanged(_ frame: DeskFrame, since position: UInt64) -> Bool {
        state.withLock { $0.history.changed(since: position, upTo: frame.number)?.isEmpty ?? false }
    }

    /// The message that brings a client at `position` (nil: none, a new client) up to `frame`: the rows that
    /// changed since, or a snapshot when the position is not one this broadcast can resume from. Built once per
    /// frame and position, however many streams send it.
    func message(for frame: DeskFrame, from position: DeskPosition?, nowMs: Int64) -> Data {
        var changed: Set<String>?
        if let position, position.epoch == epoch {
            changed = state.withLock { $0.history.changed(since: position.number, upTo: frame.number) }
        }
        return frame.messages.message(from: changed == nil ? .max : position?.number ?? .max) {
            frame.message(changed: changed, nowMs: nowMs)
        }
    }

    /// How many times the desk's state was computed for the push streams (metrics, and the tests' proof that 50
    /// streams share one computation per change).
    public var computations: UInt64 { state.withLock { $0.started } }

    /// A frame with every change up to `version`; with `fresh`, one whose computation starts after this call
    /// (a new stream's snapshot also sees changes no poke announced, e.g. by the command line).
    func frame(
        version: UInt64, fresh: Bool, compute: @Sendable () async throws -> [(key: String, json: Data)]
    ) async throws -> DeskFrame {
        var need = Need(version: version, number: 0)
        // The next computation to start (one running now began before this call).
        if fresh { need.number = state.withLock { $0.started + 1 } }
        while true {
            try Task.checkCancellation()
            enum Step {
                case have(DeskFrame)
                case wait
                case compute(number: UInt64, version: UInt64)
            }
            let signal = signal
            let step: Step = state.withLock { state in
                if let frame = state.frame, need.met(by: frame) { return .have(frame) }
                if state.computing { return .wait }
                state.computing = true
                state.started += 1
                // Read before the store: every change poked up to here is committed, so the frame includes it.
                return .compute(number: state.started, version: signal.version)
            }
            switch step {
            case .have(let frame):
                return frame
            case .compute(let number, let version):
                let rows: [(key: String, json: Data)]
                do { rows = try await compute() } catch {
                    finish(nil)
                    throw error
                }
                let frame = DeskFrame(version: version, number: number, rows: rows)
                finish(frame)
                return frame
            case .wait:
                if case .frame(let frame) = await wait(need) { return frame }
            }
        }
    }

    /// Ends a computation: stores its frame, hands it to every waiter it satisfies and wakes the others, one of
    /// which starts the next computation.
    private func finish(_ frame: DeskFrame?) {
        let woken = state.withLock { state in
            state.computing = false
            if let frame {
                // What changed since the frame before, once per change for every stream.
                state.history.append(
                    previous: state.frame?.number ?? 0, number: frame.number,
                    keys: DeskFrame.changes(from: state.frame?.rows ?? [], to: frame.rows))
                state.frame = frame
            }
            defer { state.waiters.removeAll() }
            return state.waiters.values.map { waiter -> (CheckedContinuation<Outcome, Never>, Outcome) in
                if let frame, waiter.need.met(by: frame) { return (waiter.continuation, .frame(frame)) }
                return (waiter.continuation, .retry)
            }
        }
        for (continuation, outcome) in woken { continuation.resume(returning: outcome) }
    }

    private func wait(_ need: Need) async -> Outcome {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let registered = state.withLock { state in
                    // The computation may have ended meanwhile: look again instead of waiting for nothing.
                    guard state.computing, !Task.isCancelled else { return false }
                    state.waiters[id] = (need, continuation)
                    return true
                }
                if !registered { continuation.resume(returning: .retry) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: .retry)
        }
    }
}

/// What authenticated a push stream: the session cookie or the API token, checked again before every event.
enum DeskCredential: Sendable, Hashable {
    case session(String)
    case token(String)

    /// The credential `Desk.authorize` uses for this request (a bearer token first, else the session cookie).
    init?(_ request: Request) {
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            self = .token(String(header.dropFirst(7)))
        } else if let id = Desk.sessionID(in: request) {
            self = .session(id)
        } else {
            return nil
        }
    }

    /// Streams are counted per key: the hash of the session id or token (never the secret itself).
    var key: String {
        switch self {
        case .session(let id): "session:" + DeskPasswords.tokenHash(id)
        case .token(let token): "token:" + DeskPasswords.tokenHash(token)
        }
    }
}

/// The open push streams per credential: at most `limit` each. Opening one more closes the oldest (a reloaded
/// page's old stream may linger until its connection is noticed dead, and refusing the new one would leave the
/// operator without pushes); logging out closes the session's streams at once.
final class DeskStreams: Sendable {
    /// One open stream: closed by the registry (`close`), awaited by the stream (`closed()`).
    final class Ticket: Sendable {
        let key: String
        let id: UInt64
        private let state = Mutex<(closed: Bool, evicted: Bool, waiter: CheckedContinuation<Void, Never>?)>(
            (false, false, nil))

        init(key: String, id: UInt64) {
            self.key = key
            self.id = id
        }

        /// Closes the stream; `evicted`: because a newer stream of the same credential took its place.
        func close(evicted: Bool = false) {
            let waiter = state.withLock { state in
                state.closed = true
                state.evicted = state.evicted || evicted
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }

        var isClosed: Bool { state.withLock { $0.closed } }
        var wasEvicted: Bool { state.withLock { $0.evicted } }

        /// Returns once the stream is closed by the registry, or the task is cancelled.
        func closed() async {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = state.withLock { state in
                        if state.closed || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                state.withLock { state in
                    defer { state.waiter = nil }
                    return state.waiter
                }?.resume()
            }
        }
    }

    let limit: Int
    private let open = Mutex<(next: UInt64, byKey: [String: [Ticket]])>((0, [:]))
    private let checks = Mutex<[String: (frame: UInt64, allowed: Bool)]>([:])

    init(limit: Int) { self.limit = max(1, limit) }

    /// Registers a new stream of `key`, closing the oldest ones beyond the limit.
    func add(key: String) -> Ticket {
        let (ticket, evicted) = open.withLock { open in
            open.next += 1
            let ticket = Ticket(key: key, id: open.next)
            var list = open.byKey[key, default: []]
            list.append(ticket)
            let evicted = Array(list.prefix(max(0, list.count - limit)))
            open.byKey[key] = Array(list.suffix(limit))
            return (ticket, evicted)
        }
        for old in evicted { old.close(evicted: true) }
        return ticket
    }

    /// Forgets a stream that ended.
    func remove(_ ticket: Ticket) {
        let last = open.withLock { open in
            let list = open.byKey[ticket.key, default: []].filter { $0.id != ticket.id }
            open.byKey[ticket.key] = list.isEmpty ? nil : list
            return list.isEmpty
        }
        // A credential's shared check goes with its last stream.
        if last { checks.withLock { $0[ticket.key] = nil } }
    }

    /// Closes every stream of `key` (its session ended here).
    func close(key: String) {
        for ticket in open.withLock({ $0.byKey[key] ?? [] }) { ticket.close() }
    }

    /// Whether the streams of `key` may send `frame`: `check` (the store lookups) runs once per credential and
    /// frame, and the other streams of that credential sending the same frame use its answer.
    func check(key: String, frame: UInt64, _ check: () async -> Bool) async -> Bool {
        if let known = checks.withLock({ $0[key] }), known.frame == frame { return known.allowed }
        let allowed = await check()
        checks.withLock { $0[key] = (frame, allowed) }
        return allowed
    }

    /// Streams open now, over all credentials.
    var count: Int { open.withLock { $0.byKey.values.reduce(0) { $0 + $1.count } } }
}

extension Desk {
    /// Every open alert as the desk shows it (what the push channel's snapshot carries).
    public func openAlerts() async throws -> [DeskAlert] {
        let open = try await room.openAlerts()
        return try await room.deskAlerts(open, tracks: tracks)
    }

    /// The desk's rows: each open alert's JSON as the page gets it.
    func frameRows() async throws -> [(key: String, json: Data)] {
        // Every change poked up to here was committed before: the reads below see it.
        let version = signal.version
        let open = try await room.openAlerts()
        tracks.keep(open)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let alerts = try await room.deskAlerts(open, tracks: tracks)
        let shown = Set(alerts.flatMap { [$0.alert.device] + $0.responders.map(\.device) })
        watch.withLock { $0.computed(shown, version: version) }
        var rows: [(key: String, json: Data)] = []
        for alert in alerts {
            var alert = alert
            // The page counts time since the press itself; without this every row would differ every time.
            alert.alert.sincePressMs = 0
            let key = alert.alert.device + "/" + alert.alert.id
            // The trail goes in pieces of its own: a new position changes the last piece, not the whole trail.
            let track = alert.track ?? []
            alert.track = nil
            rows.append((key, try encoder.encode(alert)))
            for chunk in DeskTrackChunk.chunks(of: track, alert: key) {
                rows.append((chunk.key, try encoder.encode(chunk)))
            }
        }
        return rows
    }

    /// The desk's current state as one snapshot message (`GET /v1/desk/alerts`, the page's fallback poll); shares
    /// a computation with the push streams when one is running.
    func snapshotMessage() async throws -> Data {
        let frame = try await broadcast.frame(version: signal.version, fresh: true) { [self] in try await frameRows() }
        return broadcast.message(for: frame, from: nil, nowMs: room.wallClock().epochMilliseconds)
    }

    /// The account behind `credential` as it is now, by the same lookups that authenticate every request
    /// (`authorize`): nil once the session ended (logout, password change, account removed, expired) or the token
    /// is gone.
    func liveAccount(_ credential: DeskCredential) async throws -> DeskAccount? {
        switch credential {
        case .session(let id): try await sessions.session(id: id)?.account
        case .token(let token): try await room.account(token: token)
        }
    }

    /// Whether a stream opened by `account` with `credential` may still send: the credential is live and the
    /// account's role is the one it had (a role change ends the stream; the page reconnects under the new role).
    func mayStillSend(_ credential: DeskCredential, as account: DeskAccount) async -> Bool {
        guard let now = try? await liveAccount(credential) else { return false }
        return now.name == account.name && now.role == account.role
    }

    /// The Server-Sent Events stream of one page: a snapshot (or, for a client resuming at `resume`, what changed
    /// since), then a message per change carrying only the rows that changed, each event with its position as its
    /// `id`; and a comment line every `heartbeat` so proxies keep the connection and a vanished page is noticed.
    /// Before every event (heartbeats too) the credential is looked up again: a stream whose session or token ended, or whose account was removed
    /// or changed role, closes and sends nothing more. The state comes from `broadcast`, computed once per change
    /// for all streams.
    func eventStream(credential: DeskCredential, account: DeskAccount, resume: DeskPosition? = nil) -> ResponseBody {
        ResponseBody { [self] writer in
            let ticket = streams.add(key: credential.key)
            defer { streams.remove(ticket) }
            var position = resume
            var version = signal.version
            let compute: @Sendable () async throws -> [(key: String, json: Data)] = { [self] in try await frameRows() }
            let first = try await broadcast.frame(version: version, fresh: true, compute: compute)
            version = max(version, first.version)
            guard !ticket.isClosed, await mayStillSend(credential, as: account) else {
                try await writer.finish(nil)
                return
            }
            let broadcast = broadcast
            func send(_ frame: DeskFrame, prefix: String = "") async throws {
                let message = broadcast.message(
                    for: frame, from: position, nowMs: room.wallClock().epochMilliseconds)
                position = DeskPosition(epoch: broadcast.epoch, number: frame.number)
                try await writer.write(ByteBuffer(string: prefix + "id: \(position!)\nevent: alerts\ndata: "))
                try await writer.write(ByteBuffer(bytes: message))
                try await writer.write(ByteBuffer(string: "\n\n"))
            }
            try await send(first, prefix: "retry: 2000\n")
            // A server stopping gracefully ends the streams, or it would wait for every open page to go away.
            let signal = signal
            try await withGracefulShutdownHandler {
                streaming: while true {
                    switch await wake(after: version, ticket: ticket) {
                    case .closed:
                        break streaming
                    case .heartbeat:
                        guard await mayStillSend(credential, as: account) else { break streaming }
                        try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    case .changed(let next):
                        let frame = try await broadcast.frame(version: next, fresh: false, compute: compute)
                        version = max(next, frame.version)
                        // Checked after the state was computed, right before it is written; the streams of one
                        // credential share the check made for this frame.
                        guard !ticket.isClosed,
                            await streams.check(
                                key: credential.key, frame: frame.number,
                                {
                                    await mayStillSend(credential, as: account)
                                })
                        else { break streaming }
                        // Nothing the page shows changed (another frame was computed for the same state).
                        if frame.number == position?.number
                            || broadcast.unchanged(frame, since: position?.number ?? 0)
                        {
                            continue
                        }
                        try await send(frame)
                    }
                }
            } onGracefulShutdown: {
                signal.close()
            }
            // Told why, so the page does not reconnect at once and evict another of its credential's streams (five
            // tabs would take turns forever): it polls instead. Nothing about alerts is in this event.
            if ticket.wasEvicted {
                try await writer.write(ByteBuffer(string: "event: evicted\ndata: {\"evicted\":true}\n\n"))
            }
            try await writer.finish(nil)
        }
    }

    private enum Wake: Sendable {
        case changed(UInt64)
        case heartbeat
        case closed
    }

    private func wake(after version: UInt64, ticket: DeskStreams.Ticket) async -> Wake {
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
            group.addTask {
                await ticket.closed()
                return .closed
            }
            let first = await group.next() ?? .closed
            group.cancelAll()
            return first
        }
    }
}

/// Which stored batches wake the desk's pages (and the services waiting on its signal). A fleet's boxes report a
/// position every few seconds, and the pages show the positions of few of them: the alerting devices and the
/// responders assigned to their alerts (`shown`, from the last frame computed). A batch wakes the desk when it
/// carried the box's command receipts, stored any record other than a position (an alert, a clear, a health
/// report, power, tamper...), or stored a position of a device shown; until a frame has been computed every
/// stored batch does. Pure.
struct DeskWatch: Sendable {
    /// The devices the last computed frame shows, and the signal version that frame was computed at.
    private(set) var shown: Set<String>?
    private(set) var shownVersion: UInt64 = 0
    /// Devices that stored a non-position record after that frame began, by the signal version they woke: shown
    /// too until a frame computed after them says otherwise.
    private(set) var added: [String: UInt64] = [:]

    /// Whether `change` changes anything the desk shows: anything but positions does; positions when of a device
    /// shown (or of devices not named).
    func wakes(_ change: ControlRoomChange) -> Bool {
        if change.kinds.contains(where: { $0 != .positions }) { return true }
        if change.kinds.isEmpty { return false }
        guard let shown, !change.devices.isEmpty else { return true }
        return change.devices.contains { shown.contains($0) || added[$0] != nil }
    }

    /// Notes that `device` woke the desk at signal `version` with a record that may make it shown.
    mutating func woke(device: String, version: UInt64) { added[device] = version }

    /// A frame computed from signal `version` shows `devices`.
    mutating func computed(_ devices: Set<String>, version: UInt64) {
        guard version >= shownVersion else { return }
        shown = devices
        shownVersion = version
        added = added.filter { $0.value > version }
    }
}

extension Desk {
    /// The push channel's subscription to the control room's change stream (`ControlRoom.changes`): wakes the
    /// pages when the change is one they show (`DeskWatch`).
    func changed(_ change: ControlRoomChange) {
        guard watch.withLock({ $0.wakes(change) }) else { return }
        signal.poke()
        if change.kinds.contains(.records) {
            let version = signal.version
            watch.withLock { watch in for device in change.devices { watch.woke(device: device, version: version) } }
        }
    }
}
