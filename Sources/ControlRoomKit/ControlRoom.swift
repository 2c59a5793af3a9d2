import Crypto
import Foundation
import Logging
import PanicCore
import PanicSQLite
import PanicSigning
import Synchronization

/// Errors of control-room operations, each naming what was wrong.
public enum ControlRoomError: Error, Equatable, CustomStringConvertible {
    /// No device with that id is registered.
    case unknownDevice(String)
    /// A device with that id or key is already registered.
    case duplicateDevice(String)
    /// The public key text is neither a JWK nor a base64url Ed25519 key.
    case badPublicKey(String)
    /// No such alert.
    case unknownAlert(device: String, alert: String)
    /// The operator action does not fit the alert's state (e.g. accepting a cleared alert).
    case wrongState(alert: String, state: String, action: String)
    /// The control room was opened without its key, so it cannot sign commands.
    case noSigningKey

    public var description: String {
        switch self {
        case .unknownDevice(let id): "no device '\(id)' is registered"
        case .duplicateDevice(let id): "device '\(id)' (or its key) is already registered"
        case .badPublicKey(let text):
            "'\(text.prefix(60))' is not an Ed25519 public key (give a JWK or the 32-byte key in base64url)"
        case .unknownAlert(let device, let alert): "no alert \(alert) from device \(device)"
        case .wrongState(let alert, let state, let action): "cannot \(action) alert \(alert): it is \(state)"
        case .noSigningKey: "the control room was opened without its key (--key), so it cannot sign commands"
        }
    }
}

/// A registered device, as `controlroom devices list` shows it.
public struct RegisteredDevice: Sendable, Hashable, Codable {
    /// The device id.
    public var id: String
    /// Its public key's RFC 7638 thumbprint (the JWS `kid` of its records).
    public var keyID: String
    /// Its public JWK.
    public var jwk: String
    /// Records stored from it.
    public var records: Int
    /// Sequence numbers never received (between 1 and the highest received), as `from-to` ranges.
    public var gaps: [String]
    /// Chain findings (forks, broken links) recorded for it.
    public var findings: [String]
}

/// An alert as the operator page shows it.
public struct AlertView: Sendable, Hashable, Codable {
    /// The alert's record id.
    public var id: String
    /// The device that raised it.
    public var device: String
    /// Its sequence number in the device's stream.
    public var sequence: Int64
    /// `emergency`, `help` or `tamper`.
    public var kind: String
    /// The board input that raised it, when the record says.
    public var input: String?
    /// When the button was pressed (the record's time), RFC 3339.
    public var pressed: String
    /// Where that time came from (`gnss` or `system`).
    public var timeSource: String
    /// Milliseconds since the press, at the time of the answer.
    public var sincePressMs: Int64
    /// Latitude and longitude of the last fix, when there was one.
    public var latitude: Double?
    public var longitude: Double?
    /// The fix's age when the alert was made, in milliseconds; nil without a fix.
    public var fixAgeMs: Int64?
    /// `open`, `acknowledged` (help on the way) or `cleared`.
    public var state: String
    /// Whether the device has confirmed the clear with a `cleared` record.
    public var deviceCleared: Bool
}

/// The reference control room: a device registry, a record store that verifies and deduplicates, alerts with
/// operator actions, and signed commands back to the devices. Thread-safe: calls are serialized.
public final class ControlRoom: Sendable {
    final class State {
        let connection: SQLiteConnection
        var keys: [String: (device: String, identity: DeviceIdentity)] = [:]

        init(connection: SQLiteConnection) { self.connection = connection }

        func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement { try connection.statement(sql) }
    }

    // The connection and its statements are touched only inside `state.withLock`, one thread at a time.
    private let state: Mutex<State>
    private let signer: CommandSigner?
    private let wallClock: @Sendable () -> RecordTime
    private let logger: Logger
    /// How long a command stays valid after it is issued; a device offline longer gets a fresh one.
    public let commandLifetime: Duration
    /// The control room's public key, which devices pin (nil when opened without a key, for registry work).
    public var identity: DeviceIdentity? { signer?.identity }

    /// Opens (creating if needed) the control room's database at `path`. Without a `key` the registry and the
    /// queries work, but nothing can be signed (operator actions and command reissues throw).
    public init(
        path: String, key: DeviceKey?, commandLifetime: Duration = .seconds(300),
        wallClock: @escaping @Sendable () -> RecordTime = RecordTime.systemNow, logger: Logger
    ) throws {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = FULL")
        try connection.migrate(ControlRoom.migrations)
        let state = State(connection: connection)
        let devices = try connection.prepare("SELECT id, jwk FROM devices")
        while try devices.step() {
            if let identity = DeviceIdentity(jwk: devices.text(1)) {
                state.keys[identity.thumbprint] = (devices.text(0), identity)
            }
        }
        self.state = Mutex(state)
        signer = key.map(CommandSigner.init(key:))
        self.commandLifetime = commandLifetime
        self.wallClock = wallClock
        self.logger = logger
    }

    // MARK: Registry

    /// Registers a device with its public key (a JWK, or the raw key in base64url).
    public func addDevice(id: String, publicKey text: String) throws {
        guard let identity = DeviceIdentity(publicKeyText: text) else { throw ControlRoomError.badPublicKey(text) }
        try state.withLock { state in
            let existing = try state.statement("SELECT 1 FROM devices WHERE id = ?1")
            try existing.bind([.text(id)])
            let taken = try existing.step()
            existing.reset()
            if taken || state.keys[identity.thumbprint] != nil { throw ControlRoomError.duplicateDevice(id) }
            try state.statement("INSERT INTO devices(id, kid, jwk) VALUES(?1, ?2, ?3)")
                .bind([.text(id), .text(identity.thumbprint), .text(identity.jwk)]).run()
            state.keys[identity.thumbprint] = (id, identity)
        }
    }

    /// Removes a device from the registry (its stored records stay). Returns whether it was registered.
    @discardableResult
    public func removeDevice(id: String) throws -> Bool {
        try state.withLock { state in
            try state.statement("DELETE FROM devices WHERE id = ?1").bind([.text(id)]).run()
            let removed = state.connection.changes > 0
            state.keys = state.keys.filter { $0.value.device != id }
            return removed
        }
    }

    /// Every registered device, with its record count, gaps and findings.
    public func devices() throws -> [RegisteredDevice] {
        try state.withLock { state in
            let query = try state.statement("SELECT id, kid, jwk FROM devices ORDER BY id")
            var result: [RegisteredDevice] = []
            try query.bind([])
            while try query.step() {
                result.append(
                    RegisteredDevice(
                        id: query.text(0), keyID: query.text(1), jwk: query.text(2), records: 0, gaps: [],
                        findings: []))
            }
            query.reset()
            for index in result.indices {
                let device = result[index].id
                result[index].records = try recordCount(device: device, state)
                result[index].gaps = try gaps(device: device, state).map {
                    $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)"
                }
                let findings = try state.statement("SELECT seq, finding FROM findings WHERE device = ?1 ORDER BY seq")
                try findings.bind([.text(device)])
                while try findings.step() {
                    result[index].findings.append("\(findings.text(1)) seq \(findings.integer(0))")
                }
                findings.reset()
            }
            return result
        }
    }

    // MARK: Records

    /// Verifies, stores and answers one batch from a device (see `RecordBatchResponse`).
    public func receive(_ batch: RecordBatch) throws -> RecordBatchResponse {
        let now = wallClock()
        return try state.withLock { state in
            try state.connection.transaction {
                var results: [RecordResult] = []
                for text in batch.envelopes {
                    let result = try ingest(text, batchDevice: batch.device, now: now, state)
                    if result.status == .rejected {
                        logger.warning(
                            "record rejected",
                            metadata: [
                                "device": "\(batch.device)", "reason": "\(result.reason ?? "")",
                                "seq": "\(result.sequence.map(String.init) ?? "?")",
                            ])
                    }
                    results.append(result)
                }
                let ack = try state.statement("UPDATE commands SET acked = 1 WHERE nonce = ?1 AND device = ?2")
                for nonce in batch.commandAcks { try ack.bind([.text(nonce), .text(batch.device)]).run() }
                let registered = state.keys.values.contains { $0.device == batch.device }
                let alerts = registered ? try remoteAlerts(device: batch.device, state) : []
                let commands = registered ? try pendingCommands(device: batch.device, now: now, state) : []
                return RecordBatchResponse(results: results, alerts: alerts, commands: commands)
            }
        }
    }

    private func ingest(_ text: String, batchDevice: String, now: RecordTime, _ state: State) throws -> RecordResult {
        let envelope: Envelope
        do { envelope = try Envelope(text) } catch { return RecordResult(status: .rejected, reason: "malformed") }
        guard let keyID = envelope.keyID, let (device, identity) = state.keys[keyID] else {
            return RecordResult(status: .rejected, reason: "unknown-device")
        }
        guard envelope.algorithm == "EdDSA",
            identity.publicKey.isValidSignature(envelope.signature, for: Data(envelope.signingInput.utf8))
        else { return RecordResult(status: .rejected, reason: "bad-signature") }
        guard let record = try? JSONDecoder().decode(Record.self, from: envelope.payload) else {
            return RecordResult(status: .rejected, reason: "malformed")
        }
        guard record.device == device, batchDevice == device else {
            return RecordResult(status: .rejected, sequence: record.sequence, reason: "device-mismatch")
        }
        let hash = Envelope.hash(text)
        let existing = try state.statement("SELECT hash, uuid FROM records WHERE device = ?1 AND seq = ?2")
        try existing.bind([.text(device), .integer(record.sequence)])
        if try existing.step() {
            let same = existing.text(0) == hash || existing.text(1) == record.id
            existing.reset()
            if same { return RecordResult(status: .duplicate, sequence: record.sequence) }
            try addFinding("fork", device: device, sequence: record.sequence, state)
            return RecordResult(status: .rejected, sequence: record.sequence, reason: "fork")
        }
        existing.reset()
        let byID = try state.statement("SELECT seq FROM records WHERE device = ?1 AND uuid = ?2")
        try byID.bind([.text(device), .text(record.id)])
        if try byID.step() {
            byID.reset()
            try addFinding("replay", device: device, sequence: record.sequence, state)
            return RecordResult(status: .rejected, sequence: record.sequence, reason: "replay")
        }
        byID.reset()
        try state.statement(
            """
            INSERT INTO records(device, seq, uuid, kind, time_ms, received_ms, hash, prev, envelope)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """
        ).bind([
            .text(device), .integer(record.sequence), .text(record.id), .text(record.kind.rawValue),
            .integer(record.time.epochMilliseconds), .integer(now.epochMilliseconds), .text(hash),
            record.previousHash.map { .text($0) } ?? .null, .text(text),
        ]).run()
        try checkChain(record, hash: hash, state)
        try applyToAlerts(record, now: now, state)
        return RecordResult(status: .accepted, sequence: record.sequence)
    }

    /// Records a broken link when a neighbour is known: this record's `prev` against the previous record's hash,
    /// and the next record's `prev` against this one's hash. Records may arrive in any order (alerts first).
    private func checkChain(_ record: Record, hash: String, _ state: State) throws {
        let neighbour = try state.statement("SELECT hash, prev FROM records WHERE device = ?1 AND seq = ?2")
        if record.sequence > 1 {
            try neighbour.bind([.text(record.device), .integer(record.sequence - 1)])
            if try neighbour.step(), neighbour.text(0) != record.previousHash {
                try addFinding("broken-chain", device: record.device, sequence: record.sequence, state)
            }
            neighbour.reset()
        }
        try neighbour.bind([.text(record.device), .integer(record.sequence + 1)])
        if try neighbour.step(), neighbour.text(1) != hash {
            try addFinding("broken-chain", device: record.device, sequence: record.sequence + 1, state)
        }
        neighbour.reset()
    }

    private func addFinding(_ finding: String, device: String, sequence: Int64, _ state: State) throws {
        try state.statement("INSERT INTO findings(device, seq, finding) VALUES(?1, ?2, ?3)")
            .bind([.text(device), .integer(sequence), .text(finding)]).run()
        logger.warning(
            "chain finding", metadata: ["device": "\(device)", "seq": "\(sequence)", "finding": "\(finding)"])
    }

    private func applyToAlerts(_ record: Record, now: RecordTime, _ state: State) throws {
        switch record.body {
        case .emergency(let input), .help(let input), .tamper(_, let input):
            var fixText: SQLiteValue = .null
            if let fix = record.fix, let data = try? JSONEncoder().encode(fix) {
                fixText = .text(String(decoding: data, as: UTF8.self))
            }
            try state.statement(
                """
                INSERT OR IGNORE INTO alerts(device, id, seq, kind, input, pressed_ms, time_source, received_ms, fix, state)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open')
                """
            ).bind([
                .text(record.device), .text(record.id), .integer(record.sequence), .text(record.kind.rawValue),
                .text(input), .integer(record.time.epochMilliseconds), .text(record.timeSource.rawValue),
                .integer(now.epochMilliseconds), fixText,
            ]).run()
        case .cleared(let alert, _):
            try state.statement("UPDATE alerts SET device_cleared = 1 WHERE device = ?1 AND id = ?2")
                .bind([.text(record.device), .text(alert)]).run()
        default:
            break
        }
    }

    private func remoteAlerts(device: String, _ state: State) throws -> [RemoteAlertState] {
        let query = try state.statement(
            "SELECT id, state FROM alerts WHERE device = ?1 AND device_cleared = 0 ORDER BY seq")
        try query.bind([.text(device)])
        var result: [RemoteAlertState] = []
        while try query.step() { result.append(RemoteAlertState(alert: query.text(0), state: query.text(1))) }
        query.reset()
        return result
    }

    /// Unacknowledged, unexpired commands for `device`; an expired one whose effect the device has not
    /// confirmed is replaced by a fresh one (new nonce, new expiry).
    private func pendingCommands(device: String, now: RecordTime, _ state: State) throws -> [String] {
        let wanting = try state.statement(
            """
            SELECT a.id, a.state FROM alerts a
            WHERE a.device = ?1 AND a.device_cleared = 0 AND a.state IN ('acknowledged', 'cleared')
            AND NOT EXISTS (
                SELECT 1 FROM commands c WHERE c.device = a.device AND c.alert = a.id
                AND c.action = CASE a.state WHEN 'acknowledged' THEN 'accept' ELSE 'clear' END
                AND (c.acked = 1 OR c.expires_ms > ?2))
            """)
        try wanting.bind([.text(device), .integer(now.epochMilliseconds)])
        var reissue: [(String, CommandAction)] = []
        while try wanting.step() {
            reissue.append((wanting.text(0), wanting.text(1) == "acknowledged" ? .accept : .clear))
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

    // MARK: Operator actions

    /// The operator accepts an alert ("help is on the way"); a signed `accept` command goes to the device.
    @discardableResult
    public func accept(device: String, alert: String) throws -> AlertView {
        try act(.accept, device: device, alert: alert, allowed: ["open"], newState: "acknowledged")
    }

    /// The operator clears an alert; a signed `clear` command goes to the device, which answers with a
    /// `cleared` record.
    @discardableResult
    public func clear(device: String, alert: String) throws -> AlertView {
        try act(.clear, device: device, alert: alert, allowed: ["open", "acknowledged"], newState: "cleared")
    }

    private func act(
        _ action: CommandAction, device: String, alert: String, allowed: Set<String>, newState: String
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
                let current = query.text(0)
                query.reset()
                guard allowed.contains(current) else {
                    throw ControlRoomError.wrongState(alert: alert, state: current, action: action.rawValue)
                }
                try state.statement("UPDATE alerts SET state = ?3 WHERE device = ?1 AND id = ?2")
                    .bind([.text(device), .text(alert), .text(newState)]).run()
                try issue(action, device: device, alert: alert, now: now, state)
                logger.notice(
                    "operator action",
                    metadata: ["action": "\(action.rawValue)", "device": "\(device)", "alert": "\(alert)"])
                return try alertViews(
                    where: "a.device = ?1 AND a.id = ?2", [.text(device), .text(alert)], now: now, state)[0]
            }
        }
    }

    // MARK: Queries

    /// Alerts not yet closed (cleared and confirmed by the device), oldest press first.
    public func openAlerts() throws -> [AlertView] {
        let now = wallClock()
        return try state.withLock { state in
            try alertViews(where: "a.device_cleared = 0", [], now: now, state)
        }
    }

    /// Every alert, open or closed, oldest press first.
    public func allAlerts() throws -> [AlertView] {
        let now = wallClock()
        return try state.withLock { state in try alertViews(where: "1", [], now: now, state) }
    }

    /// Alerts that arrived after `cursor` (0 for all), in arrival order, and the cursor to pass next time: a
    /// watcher reads only what is new, however many alerts the store holds.
    public func alerts(after cursor: Int64) throws -> (alerts: [AlertView], cursor: Int64) {
        let now = wallClock()
        return try state.withLock { state in
            let views = try alertViews(
                where: "a.rowid > ?1", [.integer(cursor)], order: "a.rowid", now: now, state)
            let last = try state.statement("SELECT ifnull(max(rowid), 0) FROM alerts")
            try last.bind([])
            defer { last.reset() }
            return (views, try last.step() ? max(cursor, last.integer(0)) : cursor)
        }
    }

    private func alertViews(
        where condition: String, _ values: [SQLiteValue], order: String = "a.pressed_ms, a.device, a.seq",
        now: RecordTime, _ state: State
    ) throws
        -> [AlertView]
    {
        let query = try state.statement(
            """
            SELECT a.id, a.device, a.seq, a.kind, a.input, a.pressed_ms, a.time_source, a.fix, a.state,
                   a.device_cleared
            FROM alerts a WHERE \(condition) ORDER BY \(order)
            """)
        try query.bind(values)
        var result: [AlertView] = []
        while try query.step() {
            let fix = query.isNull(7) ? nil : try? JSONDecoder().decode(RecordFix.self, from: Data(query.text(7).utf8))
            let pressed = RecordTime(epochMilliseconds: query.integer(5))
            result.append(
                AlertView(
                    id: query.text(0), device: query.text(1), sequence: query.integer(2), kind: query.text(3),
                    input: query.isNull(4) ? nil : query.text(4), pressed: pressed.description,
                    timeSource: query.text(6), sincePressMs: now.epochMilliseconds - pressed.epochMilliseconds,
                    latitude: fix?.latitude, longitude: fix?.longitude, fixAgeMs: fix?.ageMilliseconds,
                    state: query.text(8), deviceCleared: query.integer(9) != 0))
        }
        query.reset()
        return result
    }

    /// Records stored from `device` (from every device when nil).
    public func recordCount(device: String? = nil) throws -> Int {
        try state.withLock { state in try recordCount(device: device, state) }
    }

    private func recordCount(device: String?, _ state: State) throws -> Int {
        let query = try state.statement("SELECT count(*) FROM records WHERE ?1 IS NULL OR device = ?1")
        try query.bind([device.map { .text($0) } ?? .null])
        defer { query.reset() }
        return try query.step() ? Int(query.integer(0)) : 0
    }

    /// Stored sequence numbers of `device`, in arrival order (for tests and audits).
    public func arrivalOrder(device: String) throws -> [(sequence: Int64, kind: RecordKind)] {
        try state.withLock { state in
            let query = try state.statement(
                "SELECT seq, kind FROM records WHERE device = ?1 ORDER BY rowid")
            try query.bind([.text(device)])
            var result: [(Int64, RecordKind)] = []
            while try query.step() {
                result.append((query.integer(0), RecordKind(rawValue: query.text(1)) ?? .position))
            }
            query.reset()
            return result
        }
    }

    /// Sequence numbers never received from `device`, from 1 to the highest received, as closed ranges.
    public func gaps(device: String) throws -> [ClosedRange<Int64>] {
        try state.withLock { state in try gaps(device: device, state) }
    }

    private func gaps(device: String, _ state: State) throws -> [ClosedRange<Int64>] {
        let query = try state.statement(
            """
            SELECT before + 1, seq - 1 FROM (
                SELECT seq, lag(seq, 1, 0) OVER (ORDER BY seq) AS before FROM records WHERE device = ?1)
            WHERE seq > before + 1
            """)
        try query.bind([.text(device)])
        var result: [ClosedRange<Int64>] = []
        while try query.step() { result.append(query.integer(0)...query.integer(1)) }
        query.reset()
        return result
    }

    /// Chain findings recorded for `device` (`fork`, `replay`, `broken-chain`), with sequence numbers.
    public func findings(device: String) throws -> [(sequence: Int64, finding: String)] {
        try state.withLock { state in
            let query = try state.statement("SELECT seq, finding FROM findings WHERE device = ?1 ORDER BY rowid")
            try query.bind([.text(device)])
            var result: [(Int64, String)] = []
            while try query.step() { result.append((query.integer(0), query.text(1))) }
            query.reset()
            return result
        }
    }
}

extension RecordTime {
    /// The system's wall clock now.
    public static func systemNow() -> RecordTime {
        RecordTime(epochMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }
}
