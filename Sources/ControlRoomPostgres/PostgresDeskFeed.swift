import ControlRoomKit
import Logging
import PostgresNIO
import ServiceLifecycle

/// Feeds the control room's change stream from PostgreSQL: statement-level triggers on records, alerts, the audit
/// log, dispatches and metadata `NOTIFY panicbridge_desk` on commit (the payload names the change,
/// `ControlRoomChange(notification:)`), and every instance listening publishes it on its `ControlRoom.changes`, so a
/// record or an operator action on one instance reaches the pages open on every other. A lost listening connection
/// is re-opened (and a change of every kind published, since one may have been missed meanwhile).
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

    private func listen() async throws {
        let clock = ContinuousClock()
        let everything = ControlRoomChange(Set(ControlRoomChange.Kind.allCases))
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    try await connection.listen(on: "panicbridge_desk") { notifications in
                        publish(everything)
                        for try await notification in notifications {
                            publish(ControlRoomChange(notification: notification.payload))
                        }
                    }
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
