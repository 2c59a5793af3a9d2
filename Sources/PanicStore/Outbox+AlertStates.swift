import PanicCore
import PanicSQLite

/// The commands' history: the last state the control room's commands (and deliveries) moved each alert to, kept in
/// the outbox beside the alert records so that a lost or corrupt alert-state file is rebuilt with the LED it had
/// (an accepted alert is still help on the way). One `meta` row per alert (`alert-state:<id>`), replaced as the
/// alert moves on; no schema step.
extension Outbox {
    static let alertStatePrefix = "alert-state:"

    /// Records that `alert` is now `alertState` (committed before this returns; throws on a full disk).
    public func recordAlertState(_ alertState: AlertState, alert: String) throws {
        try state.withLock { state in
            try Outbox.restoreDurability(state)
            try state.statement(
                """
                INSERT INTO meta(key, value) VALUES(?1, ?2)
                ON CONFLICT(key) DO UPDATE SET value = excluded.value
                """
            ).bind([.text(Outbox.alertStatePrefix + alert), .text(alertState.rawValue)]).run()
        }
    }

    /// The last recorded state of every alert the history knows, by alert id.
    public func alertStates() throws -> [String: AlertState] {
        try state.withLock { state in
            let query = try state.statement("SELECT key, value FROM meta WHERE key LIKE 'alert-state:%'")
            defer { query.reset() }
            var states: [String: AlertState] = [:]
            while try query.step() {
                guard let known = AlertState(rawValue: query.text(1)) else { continue }
                states[String(query.text(0).dropFirst(Outbox.alertStatePrefix.count))] = known
            }
            return states
        }
    }
}
