import ControlRoomKit
import Logging
import PostgresNIO
import ServiceLifecycle

/// Feeds the desk's push channel from PostgreSQL: triggers on alerts, the audit log, dispatches and metadata
/// `NOTIFY panicbridge_desk` on commit, and every instance listening pokes its `DeskSignal`, so a record or an
/// operator action on one instance reaches the pages open on every other. A lost listening connection is
/// re-opened (and the signal poked, since a change may have been missed meanwhile).
public struct PostgresDeskFeed: Service {
    let store: PostgresControlRoomStore
    let signal: DeskSignal

    public init(store: PostgresControlRoomStore, signal: DeskSignal) {
        self.store = store
        self.signal = signal
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await listen() }
    }

    private func listen() async throws {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    try await connection.listen(on: "panicbridge_desk") { notifications in
                        signal.poke()
                        for try await _ in notifications { signal.poke() }
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
