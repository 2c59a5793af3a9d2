import Foundation
import Logging
import PanicCore
import PanicSQLite
import PanicSigning

extension ControlRoom {
    func remoteAlerts(device: String, _ state: State) throws -> [RemoteAlertState] {
        let query = try state.statement(
            "SELECT id, state FROM alerts WHERE device = ?1 AND device_cleared = 0 ORDER BY seq")
        try query.bind([.text(device)])
        var result: [RemoteAlertState] = []
        while try query.step() {
            result.append(
                RemoteAlertState(alert: query.text(0), state: ControlRoomAlertState(rawValue: query.text(1)) ?? .open))
        }
        query.reset()
        return result
    }

    /// Unacknowledged, unexpired commands for `device`; an expired one whose effect the device has not
    /// confirmed is replaced by a fresh one (new nonce, new expiry).
    func pendingCommands(device: String, now: RecordTime, _ state: State) throws -> [String] {
        let wanting = try state.statement(
            """
            SELECT a.id, a.state FROM alerts a
            WHERE a.device = ?1 AND a.device_cleared = 0 AND a.state IN (?3, ?4)
            AND NOT EXISTS (
                SELECT 1 FROM commands c WHERE c.device = a.device AND c.alert = a.id
                AND c.action = CASE a.state WHEN ?3 THEN ?5 ELSE ?6 END
                AND (c.acked = 1 OR c.expires_ms > ?2))
            """)
        try wanting.bind([
            .text(device), .integer(now.epochMilliseconds), .text(ControlRoomAlertState.acknowledged.rawValue),
            .text(ControlRoomAlertState.cleared.rawValue), .text(CommandAction.accept.rawValue),
            .text(CommandAction.clear.rawValue),
        ])
        var reissue: [(String, CommandAction)] = []
        while try wanting.step() {
            let state = ControlRoomAlertState(rawValue: wanting.text(1))
            reissue.append((wanting.text(0), state == .acknowledged ? .accept : .clear))
        }
        wanting.reset()
        for (alert, action) in reissue { try issue(action, device: device, alert: alert, now: now, state) }
        let query = try state.statement(
            "SELECT envelope FROM commands WHERE device = ?1 AND acked = 0 AND expires_ms > ?2 ORDER BY rowid")
        try query.bind([.text(device), .integer(now.epochMilliseconds)])
        var result: [String] = []
        while try query.step() { result.append(query.text(0)) }
        query.reset()
        return result
    }

    private func issue(_ action: CommandAction, device: String, alert: String, now: RecordTime, _ state: State) throws {
        let lifetime = commandLifetime.components
        let expires = RecordTime(
            epochMilliseconds: now.epochMilliseconds + lifetime.seconds * 1000 + lifetime.attoseconds
                / 1_000_000_000_000_000)
        let command = ControlCommand(
            action: action, device: device, alert: alert, nonce: ControlRoom.makeNonce(), issued: now, expires: expires)
        guard let signer else { throw ControlRoomError.noSigningKey }
        let envelope = try signer.sign(command)
        try state.statement(
            "INSERT INTO commands(nonce, device, alert, action, envelope, expires_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
        ).bind([
            .text(command.nonce), .text(device), .text(alert), .text(action.rawValue), .text(envelope),
            .integer(expires.epochMilliseconds),
        ]).run()
    }

    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base64URL.encode(bytes)
    }

    /// The operator accepts an alert ("help is on the way"); a signed `accept` command goes to the device.
    @discardableResult
    public func accept(device: String, alert: String) throws -> AlertView {
        try act(.accept, device: device, alert: alert, allowed: [.open], newState: .acknowledged)
    }

    /// The operator clears an alert; a signed `clear` command goes to the device, which answers with a
    /// `cleared` record.
    @discardableResult
    public func clear(device: String, alert: String) throws -> AlertView {
        try act(.clear, device: device, alert: alert, allowed: [.open, .acknowledged], newState: .cleared)
    }

    private func act(
        _ action: CommandAction, device: String, alert: String, allowed: Set<ControlRoomAlertState>,
        newState: ControlRoomAlertState
    )
        throws -> AlertView
    {
        let now = wallClock()
        return try state.withLock { state in
            try state.connection.transaction {
                let query = try state.statement("SELECT state FROM alerts WHERE device = ?1 AND id = ?2")
                try query.bind([.text(device), .text(alert)])
                guard try query.step() else {
                    query.reset()
                    throw ControlRoomError.unknownAlert(device: device, alert: alert)
                }
                let current = ControlRoomAlertState(rawValue: query.text(0)) ?? .open
                query.reset()
                guard allowed.contains(current) else {
                    throw ControlRoomError.wrongState(alert: alert, state: current, action: action)
                }
                try state.statement("UPDATE alerts SET state = ?3 WHERE device = ?1 AND id = ?2")
                    .bind([.text(device), .text(alert), .text(newState.rawValue)]).run()
                try issue(action, device: device, alert: alert, now: now, state)
                logger.notice(
                    "operator action",
                    metadata: ["action": "\(action.rawValue)", "device": "\(device)", "alert": "\(alert)"])
                return try alertViews(
                    where: "a.device = ?1 AND a.id = ?2", [.text(device), .text(alert)], now: now, state)[0]
            }
        }
    }
}
