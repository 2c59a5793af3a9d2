import ControlRoomKit
import Logging
import PostgresNIO
import ServiceLifecycle

/// Feeds the control room's change stream from PostgreSQL: statement-level triggers on records, alerts, the audit
/// log, dispatches and metadata `NOTIFY panicbridge_desk` on commit (the payload names the change,
/// `ControlRoomChange(notification:)`), and every instance listening publishes it on its `ControlRoom.changes`, so a
/// record or an operator action on one instance reaches the pages open on every other. The notifications this
/// instance's own connections sent are skipped (`OwnSessions`): its control room published those changes already, so
/// a page is woken once per change, not twice. A lost listening connection is re-opened (and a change of every kind
/// published, since one may have been missed meanwhile).
public struct PostgresDeskFeed: Service {
    let store: PostgresControlRoomStore
    let publish: @Sendable (ControlRoomChange) -> Void

    /// Publishes every change on `changes` (the control room's change stream; `controlroom serve` runs this).
    public init(store: PostgresControlRoomStore, changes: ControlRoomChanges) {
        self.store = store
        self.publish = { changes.publish($0) }
    }

    /// Pokes `signal` on every change.
    public init(store: PostgresControlRoomStore, signal: DeskSignal) {
        self.store = store
        self.publish = { _ in signal.poke() }
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await listen() }
    }

    /// The listening connection closed under the feed (it reconnects).
    struct ListenerClosed: Error {}

    private func listen() async throws {
        let clock = ContinuousClock()
        let everything = ControlRoomChange(Set(ControlRoomChange.Kind.allCases))
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    // The notification's sender (its backend's process id) comes only with a listener.
                    let (notifications, sink) = AsyncStream<(pid: Int32, payload: String)>.makeStream()
                    let listener = connection.addListener(channel: "panicbridge_desk") { _, notification in
                        sink.yield((notification.backendPID, notification.payload))
                    }
                    connection.closeFuture.whenComplete { _ in sink.finish() }
                    defer { listener.stop() }
                    try await connection.query("LISTEN panicbridge_desk", logger: store.logger)
                    publish(everything)
                    var own = OwnSessions()
                    for await notification in notifications {
                        // This instance's own commit: the control room published it already.
                        if try await own.contains(notification.pid, store: store, now: clock.now) { continue }
                        publish(ControlRoomChange(notification: notification.payload))
                    }
                    if Task.isCancelled { throw CancellationError() }
                    throw ListenerClosed()
                }
            } catch is CancellationError {
                return
            } catch {
                store.logger.warning(
                    "desk feed: listening on PostgreSQL failed; retrying in 1 s",
                    metadata: ["error": "\(PostgresStoreError.reason(error))"])
                // Back off before reconnecting to a server that is down; cancellation ends the wait at once.
                try? await clock.sleep(for: .seconds(1))
            }
        }
    }
}

/// Which database sessions are this instance's own: a notification's sender is a server process id, and a process
/// whose `application_name` is the store's `instance` is one of this store's pool connections. Each process is
/// asked about once and the answer kept for `trust`, after which a process id is asked about again (a closed
/// connection's id may later be another instance's). A sender that has ended by the time it is asked is taken as
/// another instance's: at worst a page is woken twice, never not at all.
struct OwnSessions {
    static let trust: Duration = .seconds(10)
    private var known: [Int32: (own: Bool, at: ContinuousClock.Instant)] = [:]

    mutating func contains(
        _ pid: Int32, store: PostgresControlRoomStore, now: ContinuousClock.Instant
    ) async throws
        -> Bool
    {
        if let entry = known[pid], entry.at.duration(to: now) < Self.trust { return entry.own }
        let rows = try await store.client.query(
            "SELECT application_name FROM pg_stat_activity WHERE pid = \(pid)", logger: store.logger)
        var own = false
        for try await name in rows.decode(String?.self) { own = name == store.instance }
        if known.count > 1000 { known = known.filter { $0.value.at.duration(to: now) < Self.trust } }
        known[pid] = (own, now)
        return own
    }
}
