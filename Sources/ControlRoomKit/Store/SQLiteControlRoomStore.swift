import Foundation
import NIOPosix
import PanicCore
import PanicSQLite
import PanicSigning
import Synchronization

/// The control room's state in one SQLite file (WAL, `synchronous = FULL`): for one `controlroom serve` and the
/// `controlroom` commands beside it on the same machine. Calls are serialized on one connection; the registry has
/// its own connection (`SQLiteDeviceRegistry`) so it sees other processes' changes at the next request.
public final class SQLiteControlRoomStore: ControlRoomStore {
    final class State {
        let connection: SQLiteConnection

        init(connection: SQLiteConnection) { self.connection = connection }

        func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement { try connection.statement(sql) }
    }

    // The connection and its statements are touched only inside `state.withLock`, one thread at a time.
    let state: Mutex<State>
    /// Connections for reading only (`query_only`), each under its own lock. In WAL mode a reader sees the last
    /// commit and never waits for the writer: a desk query no longer queues behind an intake transaction's
    /// `fsync` (docs/scaling.md → *Readers and checkpoints beside the writer (SQLite)*).
    let readers: [LockedConnection]

    /// A connection of its own under its own lock (a reader; the checkpointer's).
    final class LockedConnection: Sendable {
        let state: Mutex<State>
        init(_ connection: sending SQLiteConnection) { state = Mutex(State(connection: connection)) }
    }
    let registryReader: SQLiteDeviceRegistry
    /// The writer's own thread: an intake transaction waits for the disk (`synchronous = FULL`), and must neither
    /// hold a thread that runs tasks nor queue in NIO's shared pool behind other blocking work (a checkpoint, a big
    /// encode).
    let writerThread = NIOThreadPool(numberOfThreads: 1)
    /// Request nonces taken, in memory (one process per file).
    let replayGuard = Mutex(RequestReplayGuard())
    public let path: String

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = FULL")
        try connection.migrate(Self.migrations)
        self.path = path
        state = Mutex(State(connection: connection))
        readers = try (0..<Self.readerCount).map { _ in
            let reader = try SQLiteConnection(path: path, create: false)
            try reader.execute("PRAGMA query_only = 1")
            return LockedConnection(reader)
        }
        registryReader = try SQLiteDeviceRegistry(path: path)
        writerThread.start()
    }

    deinit { writerThread.shutdownGracefully { _ in } }

    public var description: String { path }

    /// Reader connections: the desk's page, push frames and map reads run beside each other and beside intake.
    static let readerCount = 2

    /// Runs `body` (which must only read) on a free reader connection, or waits for the first one. It sees every
    /// transaction committed before it starts; `query_only` refuses any write in it.
    func read<T>(_ body: (State) throws -> sending T) throws -> sending T {
        // Whatever the body left stepping is reset, so no reader keeps an old snapshot (see `resetBusyStatements`).
        for reader in readers {
            let result = try reader.state.withLockIfAvailable { state throws -> sending T in
                defer { state.connection.resetBusyStatements() }
                return try body(state)
            }
            if let result { return result }
        }
        return try readers[0].state.withLock { state throws -> sending T in
            defer { state.connection.resetBusyStatements() }
            return try body(state)
        }
    }

    // MARK: Registry

    public func registry() throws -> RegistrySnapshot { try registryReader.current() }

    public func addDevice(id: String, identity: DeviceIdentity) throws {
        try registryReader.add(id: id, identity: identity)
    }

    public func removeDevice(id: String) throws -> Bool { try registryReader.remove(id: id) }

    public func devicePage(_ request: DevicePageRequest) throws -> DevicePageRows {
        try read { state in
            var rows = DevicePageRows()
            let devices = try state.statement(
                "SELECT id, kid, jwk FROM devices WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2")
            try devices.bind([request.after.map { .text($0) } ?? .null, .integer(Int64(request.limit) + 1)])
            while try devices.step() {
                rows.devices.append(.init(id: devices.text(0), keyID: devices.text(1), jwk: devices.text(2)))
            }
            devices.reset()
            if rows.devices.count > request.limit {
                rows.devices.removeLast(rows.devices.count - request.limit)
                rows.more = true
            }
            guard let (first, last) = rows.range else { return rows }
            let range: [SQLiteValue] = [.text(first), .text(last)]
            let counts = try state.statement(
                """
                SELECT device, count(*), max(received_ms) FROM records WHERE device >= ?1 AND device <= ?2
                GROUP BY device
                """)
            try counts.bind(range)
            while try counts.step() {
                rows.counts[counts.text(0)] = .init(
                    records: Int(counts.integer(1)), lastSeenMs: counts.isNull(2) ? nil : counts.integer(2))
            }
            counts.reset()
            let gaps = try state.statement(
                """
                SELECT device, before + 1, seq - 1 FROM (
                    SELECT device, seq, lag(seq, 1, 0) OVER (PARTITION BY device ORDER BY seq) AS before FROM records
                    WHERE device >= ?1 AND device <= ?2)
                WHERE seq > before + 1 ORDER BY device, seq
                """)
            try gaps.bind(range)
            while try gaps.step() { rows.gaps[gaps.text(0), default: []].append(gaps.integer(1)...gaps.integer(2)) }
            gaps.reset()
            let findings = try state.statement(
                "SELECT device, seq, finding FROM findings WHERE device >= ?1 AND device <= ?2 ORDER BY device, seq")
            try findings.bind(range)
            while try findings.step() {
                rows.findings.append(
                    FindingRow(device: findings.text(0), sequence: findings.integer(1), name: findings.text(2)))
            }
            findings.reset()
            let latest = try state.statement(
                """
                WITH latest AS (
                    SELECT device, kind, max(seq) AS seq FROM records
                    WHERE device >= ?1 AND device <= ?2 AND kind IN ('health', 'power', 'tamper') GROUP BY device, kind)
                SELECT r.device, r.kind, r.seq, r.envelope FROM records r
                    JOIN latest l ON r.device = l.device AND r.seq = l.seq
                UNION ALL
                SELECT r.device, r.kind, r.seq, r.envelope FROM records r
                    JOIN latest l ON r.device = l.device AND l.kind = 'tamper' AND r.seq > l.seq
                    WHERE r.kind = 'restored'
                """)
            try latest.bind(range)
            while try latest.step() {
                rows.latest.append(
                    .init(
                        device: latest.text(0), kind: latest.text(1), sequence: latest.integer(2),
                        envelope: latest.text(3)))
            }
            latest.reset()
            let metadata = try state.statement(
                """
                SELECT device, name, registration, route, phone, responder, make, model, serial FROM device_meta
                WHERE device >= ?1 AND device <= ?2
                """)
            try metadata.bind(range)
            while try metadata.step() {
                rows.metadata[metadata.text(0)] = DeviceMetadata(
                    name: metadata.text(1), registration: metadata.text(2), route: metadata.text(3),
                    phone: metadata.text(4), responder: metadata.integer(5) != 0, make: metadata.text(6),
                    model: metadata.text(7), serial: metadata.text(8))
            }
            metadata.reset()
            return rows
        }
    }

    // MARK: Intake

    /// The group's transaction runs on the writer's own thread (`writerThread`).
    public func ingest(_ requests: [IngestRequest], issue: @escaping CommandIssuer) async throws -> [IngestAnswer] {
        try await writerThread.runIfActive { try self.ingestNow(requests, issue: issue) }
    }

    func ingestNow(_ requests: [IngestRequest], issue: CommandIssuer) throws -> [IngestAnswer] {
        try state.withLock { state in
            try state.connection.transaction {
                try requests.map { request in try ingest(request, issue: issue, state) }
            }
        }
    }

    private func ingest(_ request: IngestRequest, issue: CommandIssuer, _ state: State) throws -> IngestAnswer {
        let plan = try IntakePlan(request.records, rows: try ledgerRows(request, state))
        let now = request.now
        let insert = try state.statement(
            """
            INSERT INTO records(device, seq, uuid, kind, time_ms, received_ms, hash, prev, envelope)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """)
        for record in plan.records {
            try insert.bind([
                .text(record.device), .integer(record.sequence), .text(record.id), .text(record.kind),
                .integer(record.timeMs), .integer(now.epochMilliseconds), .text(record.hash),
                record.previousHash.map { .text($0) } ?? .null, .text(record.envelope),
            ]).run()
        }
        for finding in plan.findings {
            try state.statement("INSERT INTO findings(device, seq, finding) VALUES(?1, ?2, ?3)")
                .bind([.text(finding.device), .integer(finding.sequence), .text(finding.name)]).run()
        }
        try keepPositions(plan.positions, state)
        for change in plan.alerts {
            switch change {
            case .open(let device, let id, let sequence, let kind, let input, let pressedMs, let timeSource, let fix):
                try state.statement(
                    """
                    INSERT OR IGNORE INTO alerts(device, id, seq, kind, input, pressed_ms, time_source, received_ms, fix, state)
                    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open')
                    """
                ).bind([
                    .text(device), .text(id), .integer(sequence), .text(kind), input.map { .text($0) } ?? .null,
                    .integer(pressedMs), .text(timeSource), .integer(now.epochMilliseconds),
                    fix.map { .text($0) } ?? .null,
                ]).run()
            case .deviceCleared(let device, let alert):
                try state.statement("UPDATE alerts SET device_cleared = 1 WHERE device = ?1 AND id = ?2")
                    .bind([.text(device), .text(alert)]).run()
            }
        }
        guard let claim = request.claim, replayGuard.withLock({ $0.take(claim, now: now) }) == nil else {
            return IngestAnswer(
                results: plan.results, findings: plan.findings,
                needsProof: try request.proofWaiting && hasAnswer(device: request.device, now: now, state))
        }
        let receipts = try commandReceipts(request, state)
        let ack = try state.statement("UPDATE commands SET acked = 1 WHERE nonce = ?1 AND device = ?2")
        for nonce in request.acks { try ack.bind([.text(nonce), .text(request.device)]).run() }
        for entry in receipts { try appendAudit(entry, state) }
        return IngestAnswer(
            results: plan.results, findings: plan.findings, authenticated: true,
            alerts: try remoteAlerts(device: request.device, state),
            commands: try pendingCommands(device: request.device, now: now, issue: issue, state))
    }

    /// The box's confirmations and refusals of commands (`CommandReceipts`), read before the acks are applied.
    private func commandReceipts(_ request: IngestRequest, _ state: State) throws -> [NewAuditEntry] {
        let nonces = CommandReceipts.nonces(acks: request.acks, refusals: request.refusals)
        guard !nonces.isEmpty else { return [] }
        var rows: [CommandReceiptRow] = []
        let command = try state.statement("SELECT alert, action, acked FROM commands WHERE nonce = ?1 AND device = ?2")
        for nonce in nonces {
            try command.bind([.text(nonce), .text(request.device)])
            if try command.step() {
                rows.append(
                    CommandReceiptRow(
                        nonce: nonce, alert: command.text(0), action: command.text(1), acked: command.integer(2) != 0))
            }
            command.reset()
        }
        var refusedBefore: Set<String> = []
        if !request.refusals.isEmpty {
            let lines = try state.statement("SELECT reason FROM audit WHERE device = ?1 AND action = ?2")
            try lines.bind([.text(request.device), .text(AuditAction.boxRefused.rawValue)])
            while try lines.step() {
                if let nonce = CommandReceipts.refusedNonce(in: lines.text(0)) { refusedBefore.insert(nonce) }
            }
            lines.reset()
        }
        return CommandReceipts.plan(
            device: request.device, rows: rows, acks: request.acks, refusals: request.refusals,
            refusedBefore: refusedBefore, now: request.now)
    }

    private func ledgerRows(_ request: IngestRequest, _ state: State) throws -> LedgerRows {
        var rows = LedgerRows()
        guard !request.records.isEmpty else { return rows }
        let entry = try state.statement("SELECT hash, uuid, prev FROM records WHERE device = ?1 AND seq = ?2")
        for sequence in IntakePlan.sequences(of: request.records) {
            try entry.bind([.text(request.device), .integer(sequence)])
            if try entry.step() {
                rows.entries[sequence] = LedgerEntry(
                    envelopeHash: entry.text(0), recordID: entry.text(1),
                    previousHash: entry.isNull(2) ? nil : entry.text(2))
            }
            entry.reset()
        }
        let known = try state.statement("SELECT 1 FROM records WHERE device = ?1 AND uuid = ?2")
        for id in IntakePlan.recordIDs(of: request.records) {
            try known.bind([.text(request.device), .text(id)])
            if try known.step() { rows.recordIDs.insert(id) }
            known.reset()
        }
        return rows
    }

    /// Whether `device` has an alert not yet closed or a command not yet acknowledged (what an answer carries).
    private func hasAnswer(device: String, now: RecordTime, _ state: State) throws -> Bool {
        let query = try state.statement(
            """
            SELECT EXISTS(SELECT 1 FROM alerts WHERE device = ?1 AND device_cleared = 0),
                (SELECT max(expires_ms) FROM commands WHERE device = ?1 AND acked = 0)
            """)
        try query.bind([.text(device)])
        defer { query.reset() }
        guard try query.step() else { return false }
        let rows = AnswerPlan.Rows(
            openAlert: query.integer(0) != 0, latestUnackedExpiryMs: query.isNull(1) ? nil : query.integer(1))
        return AnswerPlan.hasAnswer(rows, nowMs: now.epochMilliseconds)
    }

    private func remoteAlerts(device: String, _ state: State) throws -> [RemoteAlertState] {
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

    /// Unacknowledged, unexpired commands for `device` (the oldest `RecordBatchResponse.maximumCommands`), after
    /// issuing the fresh ones `CommandReissue` says the device's alerts want.
    private func pendingCommands(
        device: String, now: RecordTime, issue: CommandIssuer, _ state: State
    ) throws
        -> [String]
    {
        let alertQuery = try state.statement(
            "SELECT id, state FROM alerts WHERE device = ?1 AND device_cleared = 0 ORDER BY seq")
        try alertQuery.bind([.text(device)])
        var alerts: [CommandReissue.AlertRow] = []
        while try alertQuery.step() {
            guard let alertState = ControlRoomAlertState(rawValue: alertQuery.text(1)) else { continue }
            alerts.append(.init(device: device, alert: alertQuery.text(0), state: alertState, deviceCleared: false))
        }
        alertQuery.reset()
        var commands: [CommandReissue.CommandRow] = []
        if !alerts.isEmpty {
            let stageQuery = try state.statement("SELECT alert, stage FROM dispatches WHERE device = ?1")
            try stageQuery.bind([.text(device)])
            var stages: [String: [DispatchStage]] = [:]
            while try stageQuery.step() {
                guard let stage = DispatchStage(rawValue: stageQuery.text(1)) else { continue }
                stages[stageQuery.text(0), default: []].append(stage)
            }
            stageQuery.reset()
            for index in alerts.indices { alerts[index].stages = stages[alerts[index].alert] ?? [] }
        }
        if alerts.contains(where: { !CommandReissue.wanted($0).isEmpty }) {
            let commandQuery = try state.statement(
                """
                SELECT c.alert, c.action, c.acked, c.expires_ms FROM commands c
                JOIN alerts a ON a.device = c.device AND a.id = c.alert
                WHERE c.device = ?1 AND a.device_cleared = 0
                """)
            try commandQuery.bind([.text(device)])
            while try commandQuery.step() {
                guard let action = CommandAction(rawValue: commandQuery.text(1)) else { continue }
                commands.append(
                    .init(
                        device: device, alert: commandQuery.text(0), action: action,
                        acked: commandQuery.integer(2) != 0, expiresMs: commandQuery.integer(3)))
            }
            commandQuery.reset()
        }
        for wanted in CommandReissue.reissues(alerts: alerts, commands: commands, nowMs: now.epochMilliseconds) {
            try insert(try issue(wanted.action, device, wanted.alert, now), state)
        }
        let query = try state.statement(
            """
            SELECT envelope FROM commands WHERE device = ?1 AND acked = 0 AND expires_ms > ?2 ORDER BY rowid LIMIT ?3
            """)
        try query.bind([
            .text(device), .integer(now.epochMilliseconds), .integer(Int64(RecordBatchResponse.maximumCommands)),
        ])
        var result: [String] = []
        while try query.step() { result.append(query.text(0)) }
        query.reset()
        return result
    }

    private func insert(_ command: IssuedCommand, _ state: State) throws {
        try insertCommand(
            nonce: command.nonce, device: command.device, alert: command.alert, action: command.action.rawValue,
            envelope: command.envelope, expiresMs: command.expires.epochMilliseconds, state)
    }

    /// One row of `commands`: an operator command, or a configuration or update document queued for a device.
    func insertCommand(
        nonce: String, device: String, alert: String, action: String, envelope: String, expiresMs: Int64,
        _ state: State
    ) throws {
        try state.statement(
            "INSERT INTO commands(nonce, device, alert, action, envelope, expires_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
        ).bind([
            .text(nonce), .text(device), .text(alert), .text(action), .text(envelope), .integer(expiresMs),
        ]).run()
    }

    /// Throws `unknownDevice` unless `device` is registered.
    func requireRegistered(_ device: String, _ state: State) throws {
        let known = try state.statement("SELECT 1 FROM devices WHERE id = ?1")
        try known.bind([.text(device)])
        let registered = try known.step()
        known.reset()
        guard registered else { throw ControlRoomError.unknownDevice(device) }
    }

    /// The alert ids of the documents of `action` (`ConfigQueue.action`, `UpdateQueue.action`) queued for `device`.
    func queuedAlerts(device: String, action: String, _ state: State) throws -> [String] {
        let queued = try state.statement("SELECT alert FROM commands WHERE device = ?1 AND action = ?2")
        try queued.bind([.text(device), .text(action)])
        var alerts: [String] = []
        while try queued.step() { alerts.append(queued.text(0)) }
        queued.reset()
        return alerts
    }

    // MARK: Alerts and commands

    public func queueConfig(device: String, issue: ConfigIssuer, audit: NewAuditEntry) throws -> IssuedConfig {
        try state.withLock { state in
            try state.connection.transaction {
                try requireRegistered(device, state)
                let alerts = try queuedAlerts(device: device, action: ConfigQueue.action, state)
                let issued = try issue(ConfigQueue.nextVersion(after: alerts))
                let alert = ConfigQueue.alert(version: issued.document.version)
                try insertCommand(
                    nonce: issued.document.nonce, device: device, alert: alert, action: ConfigQueue.action,
                    envelope: issued.envelope, expiresMs: issued.document.expires.epochMilliseconds, state)
                var entry = audit
                entry.alert = alert
                try appendAudit(entry, state)
                return issued
            }
        }
    }

    public func queueUpdate(device: String, issued: IssuedUpdate, audit: NewAuditEntry) throws {
        try state.withLock { state in
            try state.connection.transaction {
                try requireRegistered(device, state)
                let alert = UpdateQueue.alert(version: issued.document.version)
                try insertCommand(
                    nonce: issued.document.nonce, device: device, alert: alert, action: UpdateQueue.action,
                    envelope: issued.envelope, expiresMs: issued.document.expires.epochMilliseconds, state)
                var entry = audit
                entry.alert = alert
                try appendAudit(entry, state)
            }
        }
    }

    public func act(
        _ action: CommandAction, device: String, alert: String, allowed: Set<ControlRoomAlertState>,
        newState: ControlRoomAlertState, now: RecordTime, issue: CommandIssuer, audit: NewAuditEntry?
    ) throws -> AlertView {
        try state.withLock { state in
            try state.connection.transaction {
                let plan = try AlertActionPlan(
                    action, device: device, alert: alert, current: try alertState(device: device, alert: alert, state),
                    allowed: allowed, newState: newState, audit: audit)
                try state.statement("UPDATE alerts SET state = ?3 WHERE device = ?1 AND id = ?2")
                    .bind([.text(device), .text(alert), .text(plan.state.rawValue)]).run()
                try insert(try issue(plan.command, device, alert, now), state)
                if let audit = plan.audit { try appendAudit(audit, state) }
                return try alertViews(
                    where: "a.device = ?1 AND a.id = ?2", [.text(device), .text(alert)], now: now, state)[0]
            }
        }
    }

    public func alerts(_ scope: AlertScope, now: RecordTime) throws -> [AlertView] {
        try read { state in
            switch scope {
            case .open: try alertViews(where: "a.device_cleared = 0", [], now: now, state)
            case .all: try alertViews(where: "1", [], now: now, state)
            case .one(let device, let alert):
                try alertViews(where: "a.device = ?1 AND a.id = ?2", [.text(device), .text(alert)], now: now, state)
            }
        }
    }

    public func alerts(after cursor: Int64, now: RecordTime) throws -> (alerts: [AlertView], cursor: Int64) {
        try read { state in
            let views = try alertViews(where: "a.rowid > ?1", [.integer(cursor)], order: "a.rowid", now: now, state)
            let last = try state.statement("SELECT ifnull(max(rowid), 0) FROM alerts")
            try last.bind([])
            defer { last.reset() }
            return (views, try last.step() ? max(cursor, last.integer(0)) : cursor)
        }
    }

    public func closedAlerts(_ query: AlertHistoryQuery, now: RecordTime) throws -> AlertHistoryPage {
        try read { state in
            let before = query.start
            let condition = """
                (?7 = 1 OR a.device_cleared = 1 OR a.state = 'cleared') AND (?1 IS NULL OR instr(a.device, ?1) > 0)
                AND (?2 IS NULL OR a.kind = ?2) AND (a.pressed_ms, a.device, a.seq) < (?3, ?4, ?5)
                """
            let values: [SQLiteValue] = [
                query.deviceContains.map { .text($0) } ?? .null, query.kind.map { .text($0) } ?? .null,
                .integer(before.pressedMs), .text(before.device), .integer(before.sequence),
                .integer(Int64(query.limit) + 1), .integer(query.includeOpen ? 1 : 0),
            ]
            let rows = try alertRows(
                where: condition, values, order: "a.pressed_ms DESC, a.device DESC, a.seq DESC LIMIT ?6", now: now,
                state)
            return AlertHistoryPage(rows, limit: query.limit)
        }
    }

    private func alertViews(
        where condition: String, _ values: [SQLiteValue], order: String = "a.pressed_ms, a.device, a.seq",
        now: RecordTime, _ state: State
    ) throws -> [AlertView] {
        try alertRows(where: condition, values, order: order, now: now, state).map(\.alert)
    }

    /// Alerts matching `condition` in `order` (which may end with a LIMIT), each with its place in the history's
    /// order.
    private func alertRows(
        where condition: String, _ values: [SQLiteValue], order: String, now: RecordTime, _ state: State
    ) throws -> [(alert: AlertView, cursor: AlertHistoryCursor)] {
        let query = try state.statement(
            """
            SELECT a.id, a.device, a.seq, a.kind, a.input, a.pressed_ms, a.time_source, a.fix, a.state,
                   a.device_cleared
            FROM alerts a WHERE \(condition) ORDER BY \(order)
            """)
        try query.bind(values)
        var result: [(alert: AlertView, cursor: AlertHistoryCursor)] = []
        while try query.step() {
            let alert = AlertView(
                id: query.text(0), device: query.text(1), sequence: query.integer(2), kind: query.text(3),
                input: query.isNull(4) ? nil : query.text(4), pressedMs: query.integer(5),
                timeSource: query.text(6), fix: query.isNull(7) ? nil : query.text(7),
                state: query.text(8), deviceCleared: query.integer(9) != 0, now: now)
            result.append(
                (alert, AlertHistoryCursor(pressedMs: query.integer(5), device: alert.device, sequence: alert.sequence))
            )
        }
        query.reset()
        return result
    }

    // MARK: Queries

    public func recordCount(device: String?) throws -> Int {
        try read { state in try recordCount(device: device, state) }
    }

    private func recordCount(device: String?, _ state: State) throws -> Int {
        let query = try state.statement("SELECT count(*) FROM records WHERE ?1 IS NULL OR device = ?1")
        try query.bind([device.map { .text($0) } ?? .null])
        defer { query.reset() }
        return try query.step() ? Int(query.integer(0)) : 0
    }

    public func arrivalOrder(device: String) throws -> [RecordArrival] {
        try read { state in
            let query = try state.statement("SELECT seq, kind FROM records WHERE device = ?1 ORDER BY rowid")
            try query.bind([.text(device)])
            var result: [RecordArrival] = []
            while try query.step() {
                result.append(
                    RecordArrival(sequence: query.integer(0), kind: RecordKind(rawValue: query.text(1)) ?? .position))
            }
            query.reset()
            return result
        }
    }

    public func gaps(device: String) throws -> [ClosedRange<Int64>] {
        try read { state in try gaps(device: device, state) }
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

    public func findings(device: String) throws -> [DeviceFinding] {
        try read { state in
            let query = try state.statement("SELECT seq, finding FROM findings WHERE device = ?1 ORDER BY rowid")
            try query.bind([.text(device)])
            var result: [DeviceFinding] = []
            while try query.step() {
                guard let kind = VerificationFinding.Kind(rawValue: query.text(1)) else { continue }
                result.append(DeviceFinding(sequence: query.integer(0), finding: kind))
            }
            query.reset()
            return result
        }
    }

    public func recordIdentities(device: String) throws -> [RecordIdentity] {
        try read { state in
            let query = try state.statement("SELECT seq, hash FROM records WHERE device = ?1 ORDER BY seq")
            try query.bind([.text(device)])
            var result: [RecordIdentity] = []
            while try query.step() { result.append(RecordIdentity(sequence: query.integer(0), hash: query.text(1))) }
            query.reset()
            return result
        }
    }

    // MARK: Desk: accounts

    public func addUser(name: String, role: DeskRole, passwordHash: String, tokenHash: String?, now: RecordTime) throws
    {
        try state.withLock { state in
            let existing = try state.statement("SELECT 1 FROM users WHERE name = ?1")
            try existing.bind([.text(name)])
            let taken = try existing.step()
            existing.reset()
            if taken { throw DeskError.duplicateUser(name) }
            try state.statement(
                "INSERT INTO users(name, role, password_hash, token_hash, created_ms) VALUES(?1, ?2, ?3, ?4, ?5)"
            ).bind([
                .text(name), .text(role.rawValue), .text(passwordHash), tokenHash.map { .text($0) } ?? .null,
                .integer(now.epochMilliseconds),
            ]).run()
        }
    }

    public func removeUser(name: String) throws -> Bool {
        try state.withLock { state in
            try state.connection.transaction {
                try state.statement("DELETE FROM users WHERE name = ?1").bind([.text(name)]).run()
                let removed = state.connection.changes > 0
                try state.statement("DELETE FROM sessions WHERE user = ?1").bind([.text(name)]).run()
                try state.statement("DELETE FROM api_tokens WHERE user = ?1").bind([.text(name)]).run()
                return removed
            }
        }
    }

    public func setPasswordHash(name: String, hash: String) throws {
        try state.withLock { state in
            try state.connection.transaction {
                try state.statement("UPDATE users SET password_hash = ?2 WHERE name = ?1")
                    .bind([.text(name), .text(hash)]).run()
                if state.connection.changes == 0 { throw DeskError.unknownUser(name) }
                // A new password ends the sessions the old one opened, and the account's API tokens.
                try state.statement("DELETE FROM sessions WHERE user = ?1").bind([.text(name)]).run()
                try state.statement("DELETE FROM api_tokens WHERE user = ?1").bind([.text(name)]).run()
            }
        }
    }

    public func startSession(_ session: StoredSession) throws {
        try state.withLock { state in
            try state.statement(
                "INSERT INTO sessions(id_hash, user, csrf, started_ms, last_used_ms) VALUES(?1, ?2, ?3, ?4, ?5)"
            ).bind([
                .text(session.idHash), .text(session.user), .text(session.csrf), .integer(session.startedMs),
                .integer(session.lastUsedMs),
            ]).run()
        }
    }

    /// Read on a reader connection (every desk request asks it); the writer is taken only when the plan says to
    /// touch or end the session.
    public func session(
        idHash: String, now: Int64, idle: Int64, lifetime: Int64, touchAfter: Int64
    ) throws -> StoredSession? {
        let found: StoredSession? = try read { state in
            let query = try state.statement(
                "SELECT user, csrf, started_ms, last_used_ms FROM sessions WHERE id_hash = ?1")
            try query.bind([.text(idHash)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            return StoredSession(
                idHash: idHash, user: query.text(0), csrf: query.text(1), startedMs: query.integer(2),
                lastUsedMs: query.integer(3))
        }
        guard let session = found else { return nil }
        switch SessionPlan(session, now: now, idle: idle, lifetime: lifetime, touchAfter: touchAfter) {
        case .expired(let lastUsedBefore, let startedBefore):
            try state.withLock { state in
                try state.statement("DELETE FROM sessions WHERE id_hash = ?1 OR last_used_ms < ?2 OR started_ms < ?3")
                    .bind([.text(idHash), .integer(lastUsedBefore), .integer(startedBefore)]).run()
            }
            return nil
        case .alive(let touch):
            if touch {
                try state.withLock { state in
                    try state.statement("UPDATE sessions SET last_used_ms = ?2 WHERE id_hash = ?1")
                        .bind([.text(idHash), .integer(now)]).run()
                }
            }
            return session
        }
    }

    public func endSession(idHash: String) throws {
        try state.withLock { state in
            try state.statement("DELETE FROM sessions WHERE id_hash = ?1").bind([.text(idHash)]).run()
        }
    }

    public func endSessions(user: String) throws {
        try state.withLock { state in
            try state.statement("DELETE FROM sessions WHERE user = ?1").bind([.text(user)]).run()
        }
    }

    public func users() throws -> [DeskAccount] {
        try read { state in
            let query = try state.statement(
                "SELECT name, role, EXISTS(SELECT 1 FROM api_tokens t WHERE t.user = users.name) FROM users ORDER BY name"
            )
            try query.bind([])
            var result: [DeskAccount] = []
            while try query.step() {
                result.append(
                    DeskAccount(
                        name: query.text(0), role: DeskRole(rawValue: query.text(1)) ?? .operator,
                        hasToken: query.integer(2) != 0))
            }
            query.reset()
            return result
        }
    }

    public func credentials(name: String) throws -> (account: DeskAccount, passwordHash: String)? {
        try read { state in
            let query = try state.statement(
                "SELECT role, password_hash, EXISTS(SELECT 1 FROM api_tokens t WHERE t.user = users.name) FROM users WHERE name = ?1"
            )
            try query.bind([.text(name)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            let account = DeskAccount(
                name: name, role: DeskRole(rawValue: query.text(0)) ?? .operator, hasToken: query.integer(2) != 0)
            return (account, query.text(1))
        }
    }

    public func account(name: String) throws -> DeskAccount? {
        try read { state in
            let query = try state.statement(
                "SELECT role, EXISTS(SELECT 1 FROM api_tokens t WHERE t.user = users.name) FROM users WHERE name = ?1")
            try query.bind([.text(name)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            return DeskAccount(
                name: name, role: DeskRole(rawValue: query.text(0)) ?? .operator, hasToken: query.integer(1) != 0)
        }
    }

    public func account(tokenHash: String, now: Int64) throws -> DeskAccount? {
        let found: (DeskAccount, String, Int64?)? = try read { state in
            let query = try state.statement(
                """
                SELECT u.name, u.role, t.id, t.last_used_ms FROM api_tokens t JOIN users u ON u.name = t.user
                WHERE t.hash = ?1
                """)
            try query.bind([.text(tokenHash)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            let account = DeskAccount(
                name: query.text(0), role: DeskRole(rawValue: query.text(1)) ?? .operator, hasToken: true)
            return (account, query.text(2), query.isNull(3) ? nil : query.integer(3))
        }
        guard let (account, id, used) = found else { return nil }
        if used.map({ now - $0 >= DeskSessions.touchAfterMs }) ?? true {
            try state.withLock { state in
                try state.statement("UPDATE api_tokens SET last_used_ms = ?2 WHERE id = ?1")
                    .bind([.text(id), .integer(now)]).run()
            }
        }
        return account
    }

    public func setRole(name: String, role: DeskRole) throws {
        try state.withLock { state in
            try state.statement("UPDATE users SET role = ?2 WHERE name = ?1")
                .bind([.text(name), .text(role.rawValue)]).run()
            if state.connection.changes == 0 { throw DeskError.unknownUser(name) }
        }
    }

    public func addToken(id: String, user: String, hash: String, now: RecordTime) throws {
        try state.withLock { state in
            try state.connection.transaction {
                let existing = try state.statement("SELECT 1 FROM users WHERE name = ?1")
                try existing.bind([.text(user)])
                let known = try existing.step()
                existing.reset()
                guard known else { throw DeskError.unknownUser(user) }
                try state.statement("INSERT INTO api_tokens(id, user, hash, created_ms) VALUES(?1, ?2, ?3, ?4)")
                    .bind([.text(id), .text(user), .text(hash), .integer(now.epochMilliseconds)]).run()
            }
        }
    }

    public func tokens(user: String) throws -> [APIToken] {
        try read { state in
            let query = try state.statement(
                "SELECT id, created_ms, last_used_ms FROM api_tokens WHERE user = ?1 ORDER BY created_ms, id")
            try query.bind([.text(user)])
            var result: [APIToken] = []
            while try query.step() {
                result.append(
                    APIToken(
                        id: query.text(0), user: user, createdMs: query.integer(1),
                        lastUsedMs: query.isNull(2) ? nil : query.integer(2)))
            }
            query.reset()
            return result
        }
    }

    public func revokeToken(id: String) throws -> String? {
        try state.withLock { state in
            try state.connection.transaction {
                let query = try state.statement("SELECT user FROM api_tokens WHERE id = ?1")
                try query.bind([.text(id)])
                let owner = try query.step() ? query.text(0) : nil
                query.reset()
                if owner != nil {
                    try state.statement("DELETE FROM api_tokens WHERE id = ?1").bind([.text(id)]).run()
                }
                return owner
            }
        }
    }

    // MARK: Desk: audit, metadata, dispatch, tracks

    public func appendAudit(_ entry: NewAuditEntry, requireAlert: Bool) throws {
        try state.withLock { state in
            if requireAlert { try self.requireAlert(device: entry.device, alert: entry.alert, state) }
            try appendAudit(entry, state)
        }
    }

    func appendAudit(_ entry: NewAuditEntry, _ state: State) throws {
        try state.statement(
            "INSERT INTO audit(time_ms, user, role, action, device, alert, reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ).bind([
            .integer(entry.now.epochMilliseconds), .text(entry.user), .text(entry.roleText),
            .text(entry.action.rawValue), .text(entry.device), .text(entry.alert), .text(entry.reason),
        ]).run()
    }

    /// The alert's state; throws `unknownAlert` when there is no such alert.
    @discardableResult
    private func requireAlert(device: String, alert: String, _ state: State) throws -> ControlRoomAlertState {
        guard let current = try alertState(device: device, alert: alert, state) else {
            throw ControlRoomError.unknownAlert(device: device, alert: alert)
        }
        return current
    }

    /// The alert's state; nil when there is no such alert.
    private func alertState(device: String, alert: String, _ state: State) throws -> ControlRoomAlertState? {
        let query = try state.statement("SELECT state FROM alerts WHERE device = ?1 AND id = ?2")
        try query.bind([.text(device), .text(alert)])
        defer { query.reset() }
        guard try query.step() else { return nil }
        return ControlRoomAlertState(rawValue: query.text(0)) ?? .open
    }

    public func audit(device: String?, alert: String?) throws -> [AuditEntry] {
        try read { state in
            try auditEntries(
                "(?1 IS NULL OR device = ?1) AND (?2 IS NULL OR alert = ?2)",
                [device.map { .text($0) } ?? .null, alert.map { .text($0) } ?? .null], state)
        }
    }

    public func audit(_ query: AuditQuery) throws -> AuditPage {
        try read { state in
            AuditPage(
                try auditEntries(
                    "(?1 IS NULL OR device = ?1) AND (?2 IS NULL OR alert = ?2) AND id > ?3",
                    [
                        query.device.map { .text($0) } ?? .null, query.alert.map { .text($0) } ?? .null,
                        .integer(query.start),
                    ], limit: query.limit + 1, state),
                limit: query.limit)
        }
    }

    public func audit(alerts: [AlertRef]) throws -> [AlertRef: [AuditEntry]] {
        guard !alerts.isEmpty else { return [:] }
        let wanted = Set(alerts)
        let lists = try Self.lists(alerts)
        return try read { state in
            var result: [AlertRef: [AuditEntry]] = [:]
            for entry in try auditEntries(
                "device IN (SELECT value FROM json_each(?1)) AND alert IN (SELECT value FROM json_each(?2))",
                [.text(lists.devices), .text(lists.ids)], state)
            {
                let key = AlertRef(device: entry.device, id: entry.alert)
                if wanted.contains(key) { result.append(entry, to: key) }
            }
            return result
        }
    }

    /// The devices and the alert ids of `alerts` as two JSON arrays, for `json_each`: both IN lists together use
    /// the (device, alert) index; the caller keeps only the pairs asked for.
    private static func lists(_ alerts: [AlertRef]) throws -> (devices: String, ids: String) {
        let encoder = JSONEncoder()
        return (
            String(decoding: try encoder.encode(Set(alerts.map(\.device)).sorted()), as: UTF8.self),
            String(decoding: try encoder.encode(Set(alerts.map(\.id)).sorted()), as: UTF8.self)
        )
    }

    private func auditEntries(
        _ condition: String, _ values: [SQLiteValue], limit: Int? = nil, _ state: State
    ) throws -> [AuditEntry] {
        let query = try state.statement(
            """
            SELECT id, time_ms, user, role, action, device, alert, reason FROM audit
            WHERE \(condition) ORDER BY id\(limit == nil ? "" : " LIMIT ?\(values.count + 1)")
            """)
        try query.bind(values + (limit.map { [.integer(Int64($0))] } ?? []))
        var result: [AuditEntry] = []
        while try query.step() {
            result.append(
                AuditEntry(
                    id: query.integer(0), timeMs: query.integer(1), user: query.text(2),
                    role: DeskRole(rawValue: query.text(3)),
                    action: AuditAction(rawValue: query.text(4)) ?? .note, device: query.text(5),
                    alert: query.text(6), reason: query.text(7)))
        }
        query.reset()
        return result
    }

    public func editMetadata(device: String, _ edit: DeviceMetadataEdit) throws -> DeviceMetadata {
        try state.withLock { state in
            let metadata = try edit.applied(to: try metadata(device: device, state) ?? DeviceMetadata())
            try state.statement(
                """
                INSERT INTO device_meta(device, name, registration, route, phone, responder, make, model, serial)
                VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                ON CONFLICT(device) DO UPDATE SET name = ?2, registration = ?3, route = ?4, phone = ?5, responder = ?6,
                    make = ?7, model = ?8, serial = ?9
                """
            ).bind([
                .text(device), .text(metadata.name), .text(metadata.registration), .text(metadata.route),
                .text(metadata.phone), .integer(metadata.responder ? 1 : 0), .text(metadata.make),
                .text(metadata.model), .text(metadata.serial),
            ]).run()
            return metadata
        }
    }

    public func metadata(device: String) throws -> DeviceMetadata? {
        try read { state in try metadata(device: device, state) }
    }

    private func metadata(device: String, _ state: State) throws -> DeviceMetadata? {
        let query = try state.statement(
            "SELECT name, registration, route, phone, responder, make, model, serial FROM device_meta WHERE device = ?1"
        )
        try query.bind([.text(device)])
        defer { query.reset() }
        guard try query.step() else { return nil }
        return DeviceMetadata(
            name: query.text(0), registration: query.text(1), route: query.text(2), phone: query.text(3),
            responder: query.integer(4) != 0, make: query.text(5), model: query.text(6), serial: query.text(7))
    }

    public func allMetadata() throws -> [String: DeviceMetadata] {
        try read { state in
            let query = try state.statement(
                "SELECT device, name, registration, route, phone, responder, make, model, serial FROM device_meta")
            try query.bind([])
            var result: [String: DeviceMetadata] = [:]
            while try query.step() {
                result[query.text(0)] = DeviceMetadata(
                    name: query.text(1), registration: query.text(2), route: query.text(3), phone: query.text(4),
                    responder: query.integer(5) != 0, make: query.text(6), model: query.text(7),
                    serial: query.text(8))
            }
            query.reset()
            return result
        }
    }

    public func metadata(devices: [String]) throws -> [String: DeviceMetadata] {
        guard !devices.isEmpty else { return [:] }
        let list = String(decoding: try JSONEncoder().encode(devices), as: UTF8.self)
        return try read { state in
            let query = try state.statement(
                """
                SELECT device, name, registration, route, phone, responder, make, model, serial FROM device_meta
                WHERE device IN (SELECT value FROM json_each(?1))
                """)
            try query.bind([.text(list)])
            var result: [String: DeviceMetadata] = [:]
            while try query.step() {
                result[query.text(0)] = DeviceMetadata(
                    name: query.text(1), registration: query.text(2), route: query.text(3), phone: query.text(4),
                    responder: query.integer(5) != 0, make: query.text(6), model: query.text(7),
                    serial: query.text(8))
            }
            query.reset()
            return result
        }
    }

    public func dispatch(
        device: String, alert: String, responder: String, stage: DispatchStage, by account: DeskAccount,
        now: RecordTime, issue: CommandIssuer
    ) throws {
        try state.withLock { state in
            try state.connection.transaction {
                let current = try requireAlert(device: device, alert: alert, state)
                let isResponder = try metadata(device: responder, state)?.responder == true
                let stageQuery = try state.statement(
                    "SELECT stage FROM dispatches WHERE device = ?1 AND alert = ?2 AND responder = ?3")
                try stageQuery.bind([.text(device), .text(alert), .text(responder)])
                let before = try stageQuery.step() ? DispatchStage(rawValue: stageQuery.text(0)) : nil
                stageQuery.reset()
                guard
                    let plan = try DispatchPlan.plan(
                        device: device, alert: alert, alertState: current, responder: responder,
                        isResponder: isResponder, before: before, to: stage, by: account, now: now)
                else { return }
                try state.statement(
                    """
                    INSERT INTO dispatches(device, alert, responder, stage, time_ms) VALUES(?1, ?2, ?3, ?4, ?5)
                    ON CONFLICT(device, alert, responder) DO UPDATE SET stage = ?4, time_ms = ?5
                    """
                ).bind([
                    .text(device), .text(alert), .text(plan.row.responder), .text(plan.row.stage.rawValue),
                    .integer(plan.row.timeMs),
                ]).run()
                try appendAudit(plan.audit, state)
                if let action = plan.command { try insert(try issue(action, device, alert, now), state) }
            }
        }
    }

    public func dispatches(alerts: [AlertRef]) throws -> [AlertRef: [DispatchRow]] {
        guard !alerts.isEmpty else { return [:] }
        let wanted = Set(alerts)
        let lists = try Self.lists(alerts)
        return try read { state in
            let query = try state.statement(
                """
                SELECT device, alert, responder, stage, time_ms FROM dispatches
                WHERE device IN (SELECT value FROM json_each(?1)) AND alert IN (SELECT value FROM json_each(?2))
                ORDER BY time_ms
                """)
            try query.bind([.text(lists.devices), .text(lists.ids)])
            var rows: [AlertRef: [DispatchRow]] = [:]
            while try query.step() {
                let key = AlertRef(device: query.text(0), id: query.text(1))
                guard wanted.contains(key) else { continue }
                rows.append(
                    DispatchRow(
                        responder: query.text(2), stage: DispatchStage(rawValue: query.text(3)) ?? .dispatched,
                        timeMs: query.integer(4)), to: key)
            }
            query.reset()
            return rows
        }
    }

    public func logEvidence(leaf: String, now: RecordTime) throws -> (leaves: [String], index: Int) {
        try state.withLock { state in
            try state.connection.transaction {
                try state.statement(
                    """
                    INSERT INTO evidence_log(idx, leaf, time_ms)
                    SELECT (SELECT COUNT(*) FROM evidence_log), ?1, ?2
                    WHERE NOT EXISTS(SELECT 1 FROM evidence_log WHERE leaf = ?1)
                    """
                ).bind([.text(leaf), .integer(now.epochMilliseconds)]).run()
                let query = try state.statement("SELECT leaf FROM evidence_log ORDER BY idx")
                var leaves: [String] = []
                while try query.step() { leaves.append(query.text(0)) }
                query.reset()
                return (leaves, leaves.firstIndex(of: leaf) ?? leaves.count - 1)
            }
        }
    }

    public func evidenceLeaves() throws -> [String] {
        try read { state in
            let query = try state.statement("SELECT leaf FROM evidence_log ORDER BY idx")
            defer { query.reset() }
            var leaves: [String] = []
            while try query.step() { leaves.append(query.text(0)) }
            return leaves
        }
    }

    public func keepCheckpoint(size: Int, note: String, now: RecordTime) throws -> String {
        try state.withLock { state in
            try state.connection.transaction {
                try state.statement(
                    "INSERT INTO evidence_checkpoints(size, note, time_ms) VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING"
                ).bind([.integer(Int64(size)), .text(note), .integer(now.epochMilliseconds)]).run()
                let query = try state.statement("SELECT note FROM evidence_checkpoints WHERE size = ?1")
                try query.bind([.integer(Int64(size))])
                defer { query.reset() }
                return try query.step() ? query.text(0) : note
            }
        }
    }

    public func commands(device: String, alert: String) throws -> [StoredCommand] {
        try read { state in
            let query = try state.statement(
                """
                SELECT nonce, action, envelope, expires_ms, acked FROM commands WHERE device = ?1 AND alert = ?2
                ORDER BY rowid
                """)
            try query.bind([.text(device), .text(alert)])
            var rows: [StoredCommand] = []
            while try query.step() {
                rows.append(
                    StoredCommand(
                        nonce: query.text(0), action: query.text(1), envelope: query.text(2),
                        expiresMs: query.integer(3), acked: query.integer(4) != 0))
            }
            query.reset()
            return rows
        }
    }

    public func commands(device: String, action: String) throws -> [StoredCommand] {
        try read { state in
            let query = try state.statement(
                """
                SELECT nonce, action, envelope, expires_ms, acked FROM commands WHERE device = ?1 AND action = ?2
                ORDER BY rowid
                """)
            try query.bind([.text(device), .text(action)])
            var rows: [StoredCommand] = []
            while try query.step() {
                rows.append(
                    StoredCommand(
                        nonce: query.text(0), action: query.text(1), envelope: query.text(2),
                        expiresMs: query.integer(3), acked: query.integer(4) != 0))
            }
            query.reset()
            return rows
        }
    }

    public func envelopes(device: String, from sequence: Int64, afterRowID rowID: Int64) throws -> [StoredEnvelope] {
        try read { state in
            let query = try state.statement(
                "SELECT rowid, envelope FROM records WHERE device = ?1 AND seq >= ?2 AND rowid > ?3 ORDER BY seq")
            try query.bind([.text(device), .integer(sequence), .integer(rowID)])
            var rows: [StoredEnvelope] = []
            while try query.step() { rows.append(StoredEnvelope(rowID: query.integer(0), envelope: query.text(1))) }
            query.reset()
            return rows
        }
    }

    public func envelopes(tracks: [TrackCursor]) throws -> [TrackCursor: [StoredEnvelope]] {
        guard !tracks.isEmpty else { return [:] }
        let encoder = JSONEncoder()
        let devices = String(decoding: try encoder.encode(tracks.map(\.device)), as: UTF8.self)
        let froms = String(decoding: try encoder.encode(tracks.map(\.from)), as: UTF8.self)
        let rowIDs = String(decoding: try encoder.encode(tracks.map(\.afterRowID)), as: UTF8.self)
        return try read { state in
            // One row per cursor from json_each over the devices (its key is the cursor's index), each joined to its
            // device's records through the (device, seq) key.
            let query = try state.statement(
                """
                SELECT d.key, r.rowid, r.envelope FROM json_each(?1) d JOIN records r
                ON r.device = d.value AND r.seq >= json_extract(?2, '$[' || d.key || ']')
                AND r.rowid > json_extract(?3, '$[' || d.key || ']')
                ORDER BY d.key, r.seq
                """)
            try query.bind([.text(devices), .text(froms), .text(rowIDs)])
            defer { query.reset() }
            var result: [TrackCursor: [StoredEnvelope]] = [:]
            while try query.step() {
                result[tracks[Int(query.integer(0))], default: []].append(
                    StoredEnvelope(rowID: query.integer(1), envelope: query.text(2)))
            }
            return result
        }
    }

    public func latestEnvelopes(device: String, kind: RecordKind?, limit: Int) throws -> [String] {
        try read { state in
            let query = try state.statement(
                """
                SELECT envelope FROM records WHERE device = ?1 AND (?2 IS NULL OR kind = ?2) ORDER BY seq DESC
                LIMIT ?3
                """)
            try query.bind([.text(device), kind.map { .text($0.rawValue) } ?? .null, .integer(Int64(limit))])
            var rows: [String] = []
            while try query.step() { rows.append(query.text(0)) }
            query.reset()
            return rows
        }
    }

    public func devicesSeen(since: Int64) throws -> Int {
        try read { state in
            let query = try state.statement("SELECT count(DISTINCT device) FROM records WHERE received_ms >= ?1")
            try query.bind([.integer(since)])
            defer { query.reset() }
            return try query.step() ? Int(query.integer(0)) : 0
        }
    }

    /// Keeps each vehicle's position when it is newer (by sequence number) than the one stored, bumping the change
    /// counter the desk's fleet layer follows.
    private func keepPositions(_ positions: [VehiclePosition], _ state: State) throws {
        guard !positions.isEmpty else { return }
        let upsert = try state.statement(
            """
            INSERT INTO device_positions(device, seq, time_ms, lat, lon, course, fix_age_ms, changed)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT ifnull(max(changed), 0) + 1 FROM device_positions))
            ON CONFLICT(device) DO UPDATE SET seq = excluded.seq, time_ms = excluded.time_ms, lat = excluded.lat,
                lon = excluded.lon, course = excluded.course, fix_age_ms = excluded.fix_age_ms,
                changed = excluded.changed
            WHERE excluded.seq > device_positions.seq
            """)
        for position in positions {
            try upsert.bind([
                .text(position.device), .integer(position.sequence), .integer(position.timeMs),
                .real(position.latitude), .real(position.longitude), position.course.map { .real($0) } ?? .null,
                .integer(position.fixAgeMs),
            ]).run()
        }
    }

    public func vehiclePositions(after cursor: Int64, limit: Int) throws -> VehiclePositionPage {
        try read { state in
            let positions = try readPositions(
                "p.changed > ?1 ORDER BY p.changed LIMIT ?2", [.integer(cursor), .integer(Int64(limit) + 1)], state)
            return VehiclePositionPage(positions, limit: limit)
        }
    }

    public func positions(devices: [String]) throws -> [String: VehiclePosition] {
        guard !devices.isEmpty else { return [:] }
        return try read { state in
            let list = String(decoding: try JSONEncoder().encode(devices), as: UTF8.self)
            let rows = try readPositions("p.device IN (SELECT value FROM json_each(?1))", [.text(list)], state)
            return Dictionary(rows.map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    private func readPositions(
        _ condition: String, _ values: [SQLiteValue], _ state: State
    ) throws
        -> [VehiclePosition]
    {
        let query = try state.statement(
            """
            SELECT p.device, p.seq, p.time_ms, p.lat, p.lon, p.course, p.fix_age_ms, p.changed, ifnull(m.name, '')
            FROM device_positions p LEFT JOIN device_meta m ON m.device = p.device
            WHERE \(condition)
            """)
        try query.bind(values)
        defer { query.reset() }
        var positions: [VehiclePosition] = []
        while try query.step() {
            var position = VehiclePosition(
                device: query.text(0), sequence: query.integer(1), timeMs: query.integer(2), latitude: query.real(3),
                longitude: query.real(4), course: query.isNull(5) ? nil : query.real(5), fixAgeMs: query.integer(6),
                changed: query.integer(7))
            position.name = query.text(8)
            positions.append(position)
        }
        return positions
    }

    public func lastSeen(device: String) throws -> Int64? {
        try read { state in
            let seen = try state.statement("SELECT max(received_ms) FROM records WHERE device = ?1")
            try seen.bind([.text(device)])
            defer { seen.reset() }
            return try seen.step() && !seen.isNull(0) ? seen.integer(0) : nil
        }
    }
}

extension AlertView {
    /// An alert from its stored columns (both stores), aged against `now`.
    public init(
        id: String, device: String, sequence: Int64, kind: String, input: String?, pressedMs: Int64,
        timeSource: String, fix fixText: String?, state: String, deviceCleared: Bool, now: RecordTime
    ) {
        let fix = fixText.flatMap { try? JSONDecoder().decode(RecordFix.self, from: Data($0.utf8)) }
        self.init(
            id: id, device: device, sequence: sequence, kind: kind, input: input,
            pressed: RecordTime(epochMilliseconds: pressedMs).description, timeSource: timeSource,
            sincePressMs: now.epochMilliseconds - pressedMs, latitude: fix?.latitude, longitude: fix?.longitude,
            fixAgeMs: fix?.ageMilliseconds, state: ControlRoomAlertState(rawValue: state) ?? .open,
            deviceCleared: deviceCleared)
    }
}
