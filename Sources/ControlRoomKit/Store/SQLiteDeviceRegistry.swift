import Foundation
import PanicSQLite
import PanicSigning
import Synchronization

/// The device registry with the database as the truth: every request reads `current()`, which costs one
/// `PRAGMA data_version` (and, when another connection committed, one read of the registry generation), and
/// reloads the devices only when the generation moved. So `controlroom devices add/remove` in another process
/// takes effect on a running server at its next request, with no polling; removal is revocation.
///
/// It has its own connection and lock, shared with neither the intake's writes nor the operator's reads.
final class SQLiteDeviceRegistry: Sendable {
    private final class State {
        let connection: SQLiteConnection
        var dataVersion: Int64 = -1
        var snapshot = RegistrySnapshot()

        init(connection: SQLiteConnection) { self.connection = connection }
    }

    private let state: Mutex<State>

    /// Opens a connection of its own to the control room's database (already migrated).
    init(path: String) throws {
        let connection = try SQLiteConnection(path: path, create: false)
        state = Mutex(State(connection: connection))
        _ = try current()
    }

    /// The registry as the database has it now.
    func current() throws -> RegistrySnapshot {
        try state.withLock { state in
            // data_version moves only when another connection commits; the generation only when devices change.
            let version = try state.connection.integer("PRAGMA data_version") ?? 0
            if version == state.dataVersion { return state.snapshot }
            state.dataVersion = version
            let generation = try state.connection.integer("SELECT generation FROM registry") ?? 0
            if generation != state.snapshot.generation { state.snapshot = try load(state.connection, generation) }
            return state.snapshot
        }
    }

    /// Registers `id` with `identity`; throws `duplicateDevice` when the id or the key is taken.
    func add(id: String, identity: DeviceIdentity) throws {
        try state.withLock { state in
            try state.connection.transaction {
                let taken = try state.connection.statement(
                    "SELECT 1 FROM devices WHERE id = ?1 OR kid = ?2")
                try taken.bind([.text(id), .text(identity.thumbprint)])
                defer { taken.reset() }
                if try taken.step() { throw ControlRoomError.duplicateDevice(id) }
                try state.connection.statement("INSERT INTO devices(id, kid, jwk) VALUES(?1, ?2, ?3)")
                    .bind([.text(id), .text(identity.thumbprint), .text(identity.jwk)]).run()
            }
            state.dataVersion = -1
        }
    }

    /// Removes `id`; returns whether it was registered.
    func remove(id: String) throws -> Bool {
        try state.withLock { state in
            try state.connection.statement("DELETE FROM devices WHERE id = ?1").bind([.text(id)]).run()
            state.dataVersion = -1
            return state.connection.changes > 0
        }
    }

    private func load(_ connection: SQLiteConnection, _ generation: Int64) throws -> RegistrySnapshot {
        let devices = try connection.statement("SELECT id, jwk FROM devices")
        try devices.bind([])
        defer { devices.reset() }
        var rows: [(id: String, jwk: String)] = []
        while try devices.step() { rows.append((devices.text(0), devices.text(1))) }
        return RegistrySnapshot(generation: generation, rows: rows)
    }
}
