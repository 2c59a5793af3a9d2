import ControlRoomKit
import Foundation
import Logging
import NIOSSL
import PanicCore
import PanicSigning
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The control room's state in PostgreSQL, for several `controlroom serve` instances on one database: every
/// invariant is the database's (primary and UNIQUE keys, `ON CONFLICT`, one transaction per group commit holding a
/// per-device advisory lock, `SELECT … FOR UPDATE` on an alert an operator acts on), so a second instance sees
/// and respects it. Runs a `PostgresClient` connection pool, which must be running (`run()`, a `Service`) while
/// the store is used.
public final class PostgresControlRoomStore: ControlRoomStore, Service {
    /// The connection pool.
    public let client: PostgresClient
    /// Where it connects (no password).
    public let url: PostgresURL
    public let logger: Logger
    /// The registry last read, and how many times the cache was dropped (a read started before a drop must not
    /// store what it read).
    private let registryCache = Mutex(
        (snapshot: RegistrySnapshot(), drops: 0, checked: ContinuousClock.now - .seconds(3600)))
    /// Longest a cached registry is trusted without reading the generation, even while listening: a notification
    /// delayed (a loaded machine, a slow network) cannot keep a removed device trusted longer.
    static let registryTrust: Duration = .milliseconds(500)
    /// Whether the registry feed is listening: while it is, the cached registry is current (a change to `devices`
    /// anywhere notifies `panicbridge_registry`, which drops the cache); while it is not, every read asks.
    private let registryListening = Atomic<Bool>(false)

    /// This store's name on the server: the `application_name` of every connection of its pool, so the desk feed
    /// tells the notifications this instance's own commits sent (it has published them already) from another's.
    public let instance = "controlroom " + String(UUID().uuidString.prefix(13)).lowercased()

    /// Group commits in flight at once, each on its own connection.
    public var ingestParallelism: Int { 4 }
    private let nonceTakes = Atomic<Int>(0)

    /// A store on `url` (`postgres://user[:password]@host[:port]/db`). Call `run()` (or run it as a service), then
    /// `migrate()`, before using it.
    public init(url: PostgresURL, maximumConnections: Int = 16, logger: Logger) {
        var configuration = url.configuration
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters.append(("application_name", instance))
        self.url = url
        self.logger = logger
        // The pool logs every failed connection attempt at info, and retries forever: the probe in `migrate()`
        // reports a server that cannot be reached or refuses the login, once, as an error naming it.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        client = PostgresClient(
            configuration: configuration, eventLoopGroup: Self.databaseLoops, backgroundLogger: background)
    }

    /// The thread the database's connections and the ingest transactions run on. Not the HTTP server's loops:
    /// those are busy checking signatures, and each of a transaction's round trips would wait there behind that
    /// work (measured: a group's seven round trips took ~30 ms; the commits, not the database, were the limit).
    static let databaseLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let databaseExecutor = EventLoopTaskExecutor(loop: PostgresControlRoomStore.databaseLoops.next())

    /// Opens one connection of its own and closes it: throws `cannotConnect` naming the host, port and what went
    /// wrong (refused, unknown host, no such role or database, bad password) within 5 s.
    public func probe() async throws {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch url.sslMode {
            case "disable": tls = .disable
            case "require": tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            default: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch { throw PostgresStoreError.cannotConnect("\(url.host):\(url.port)", "TLS set-up failed: \(error)") }
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database, tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        var quiet = logger
        quiet.logLevel = .critical
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: quiet)
            try await connection.close()
        } catch {
            throw PostgresStoreError.cannotConnect("\(url.host):\(url.port)", PostgresStoreError.reason(error))
        }
    }

    /// Runs the connection pool and the registry feed until cancelled or, as a service, until the graceful
    /// shutdown reaches it (after the HTTP server, which is started after it, has stopped).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.client.run() }
                group.addTask { await self.followRegistry() }
                await group.waitForAll()
            }
        }
    }

    /// Listens on `panicbridge_registry` and drops the cached registry on every change; reconnects after a lost
    /// connection (reading the registry on every request meanwhile).
    private func followRegistry() async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: "panicbridge_registry") { notifications in
                        dropRegistryCache()
                        registryListening.store(true, ordering: .sequentiallyConsistent)
                        defer { registryListening.store(false, ordering: .sequentiallyConsistent) }
                        for try await _ in notifications {
                            dropRegistryCache()
                        }
                    }
                }
            } catch {
                registryListening.store(false, ordering: .sequentiallyConsistent)
                if Task.isCancelled { return }
                // Back off before reconnecting; cancellation ends the wait at once.
                try? await clock.sleep(for: .seconds(1))
            }
        }
    }

    public var description: String { url.description }

    /// Runs `body` with a running, migrated store on `url`, then shuts the pool down (for one-shot commands and
    /// tests).
    public static func with<T: Sendable>(
        url: PostgresURL, logger: Logger, _ body: (PostgresControlRoomStore) async throws -> T
    ) async throws -> T {
        let store = PostgresControlRoomStore(url: url, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }

    // MARK: Queries, with errors that name the problem

    @discardableResult
    func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do { return try await client.query(query, logger: logger).collect() } catch {
            throw Self.describe(error, url: url)
        }
    }

    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError, !(inner is PSQLError) { throw inner }
            throw Self.describe(error, url: url)
        } catch { throw Self.describe(error, url: url) }
    }

    static func describe(_ error: any Error, url: PostgresURL) -> any Error {
        if error is PostgresStoreError || error is ControlRoomError || error is DeskError { return error }
        if let error = error as? PSQLError, error.serverInfo == nil,
            [.connectionError, .serverClosedConnection, .poolClosed, .sslUnsupported].contains(error.code)
        {
            return PostgresStoreError.cannotConnect("\(url.host):\(url.port)", PostgresStoreError.reason(error))
        }
        return PostgresStoreError.query(PostgresStoreError.reason(error))
    }

    // MARK: Registry

    private func dropRegistryCache() {
        registryCache.withLock { $0 = (RegistrySnapshot(), $0.drops + 1, $0.checked) }
    }

    public func registry() async throws -> RegistrySnapshot {
        let (cached, drops, checked) = registryCache.withLock { $0 }
        let started = ContinuousClock.now
        if registryListening.load(ordering: .sequentiallyConsistent), cached.generation >= 0,
            checked.duration(to: started) < Self.registryTrust
        {
            return cached
        }
        let rows = try await query("SELECT generation FROM registry")
        let generation = try rows.first?.decode(Int64.self) ?? 0
        if cached.generation == generation {
            registryCache.withLock { if $0.drops == drops { $0.checked = started } }
            return cached
        }
        var devices: [(id: String, jwk: String)] = []
        for row in try await query("SELECT id, jwk FROM devices") {
            let (id, jwk) = try row.decode((String, String).self)
            devices.append((id, jwk))
        }
        let snapshot = RegistrySnapshot(generation: generation, rows: devices)
        registryCache.withLock {
            if $0.drops == drops {
                $0.snapshot = snapshot
                $0.checked = started
            }
        }
        return snapshot
    }

    public func addDevice(id: String, identity: DeviceIdentity) async throws {
        let thumbprint = identity.thumbprint
        let jwk = identity.jwk
        let inserted = try await query(
            "INSERT INTO devices(id, kid, jwk) VALUES(\(id), \(thumbprint), \(jwk)) ON CONFLICT DO NOTHING RETURNING 1")
        if inserted.isEmpty { throw ControlRoomError.duplicateDevice(id) }
        dropRegistryCache()
    }

    public func removeDevice(id: String) async throws -> Bool {
        let removed = !(try await query("DELETE FROM devices WHERE id = \(id) RETURNING 1")).isEmpty
        dropRegistryCache()
        return removed
    }

    public func devicePage(_ request: DevicePageRequest) async throws -> DevicePageRows {
        var rows = DevicePageRows()
        let after = request.after
        for row in try await query(
            "SELECT id, kid, jwk FROM devices WHERE \(after)::text IS NULL OR id > \(after) ORDER BY id LIMIT \(request.limit + 1)"
        ) {
            let (id, kid, jwk) = try row.decode((String, String, String).self)
            rows.devices.append(.init(id: id, keyID: kid, jwk: jwk))
        }
        if rows.devices.count > request.limit {
            rows.devices.removeLast(rows.devices.count - request.limit)
            rows.more = true
        }
        guard let (first, last) = rows.range else { return rows }
        for row in try await query(
            """
            SELECT device, count(*), max(received_ms) FROM records WHERE device >= \(first) AND device <= \(last)
            GROUP BY device
            """)
        {
            let (device, count, seen) = try row.decode((String, Int64, Int64?).self)
            rows.counts[device] = .init(records: Int(count), lastSeenMs: seen)
        }
        for row in try await query(
            """
            SELECT device, before + 1, seq - 1 FROM (
                SELECT device, seq, lag(seq, 1, 0::bigint) OVER (PARTITION BY device ORDER BY seq) AS before
                FROM records WHERE device >= \(first) AND device <= \(last)
            ) AS s WHERE seq > before + 1 ORDER BY device, seq
            """)
        {
            let (device, from, to) = try row.decode((String, Int64, Int64).self)
            rows.gaps[device, default: []].append(from...to)
        }
        for row in try await query(
            """
            SELECT device, seq, finding FROM findings WHERE device >= \(first) AND device <= \(last)
            ORDER BY device, seq, row_id
            """)
        {
            let (device, seq, finding) = try row.decode((String, Int64, String).self)
            rows.findings.append(FindingRow(device: device, sequence: seq, name: finding))
        }
        for row in try await query(
            """
            WITH latest AS (
                SELECT device, kind, max(seq) AS seq FROM records
                WHERE device >= \(first) AND device <= \(last) AND kind IN ('health', 'power', 'tamper')
                GROUP BY device, kind)
            SELECT r.device, r.kind, r.seq, r.envelope FROM records r
                JOIN latest l ON r.device = l.device AND r.seq = l.seq
            UNION ALL
            SELECT r.device, r.kind, r.seq, r.envelope FROM records r
                JOIN latest l ON r.device = l.device AND l.kind = 'tamper' AND r.seq > l.seq
                WHERE r.kind = 'restored'
            """)
        {
            let (device, kind, seq, envelope) = try row.decode((String, String, Int64, String).self)
            rows.latest.append(.init(device: device, kind: kind, sequence: seq, envelope: envelope))
        }
        for row in try await query(
            """
            SELECT device, name, registration, route, phone, responder, make, model, serial FROM device_meta
            WHERE device >= \(first) AND device <= \(last)
            """)
        {
            let (device, name, registration, route, phone, responder, make, model, serial) = try row.decode(
                (String, String, String, String, String, Bool, String, String, String).self)
            rows.metadata[device] = DeviceMetadata(
                name: name, registration: registration, route: route, phone: phone, responder: responder, make: make,
                model: model, serial: serial)
        }
        return rows
    }

    // MARK: Intake

    public func ingest(_ requests: [IngestRequest], issue: @escaping CommandIssuer) async throws -> [IngestAnswer] {
        try await withTaskExecutorPreference(databaseExecutor) {
            try await ingestOnDatabaseLoop(requests, issue: issue)
        }
    }

    private func ingestOnDatabaseLoop(
        _ requests: [IngestRequest], issue: @escaping CommandIssuer
    ) async throws -> [IngestAnswer] {
        let logger = logger
        if nonceTakes.add(1, ordering: .relaxed).newValue % 512 == 0, let now = requests.first?.now {
            // A nonce dropped here has a claim time outside the window, so a replay of it is refused as stale.
            let before = now.epochMilliseconds - 2 * BatchClaim.freshness.components.seconds * 1000
            try await query("DELETE FROM request_nonces WHERE time_ms < \(before)")
        }
        return try await transaction { connection in
            // Every device of the group, locked in one order so two instances' groups cannot deadlock; the lock is
            // the database's, held until commit, so a second instance ingesting the same device waits for it.
            let devices = Array(Set(requests.map(\.device))).sorted()
            try await connection.query(
                """
                SELECT count(pg_advisory_xact_lock(k)) FROM (
                    SELECT hashtextextended(d, 0) AS k FROM unnest(\(devices)::text[]) AS d ORDER BY 1) AS s
                """, logger: logger)
            return try await Self.ingestGroup(requests, issue: issue, connection, logger)
        }
    }

    /// A whole group in a few round trips, whatever its size (one per request was 5 each: the database's answers,
    /// not its work, bounded a group): the ledger rows of every request in one query; the rules (`IntakePlan`) in
    /// request order, each request seeing the records planned before it in the group; then one statement per kind
    /// of write (records, findings, alerts, nonces, acks) over arrays; then the alert states and pending commands of
    /// every authenticated device.
    private static func ingestGroup(
        _ requests: [IngestRequest], issue: CommandIssuer, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [IngestAnswer] {
        // 1. What is stored at each wanted (device, sequence), and which wanted (device, id) pairs exist: two joins
        // on the primary key and the (device, uuid) key, so the cost follows the group, not the table.
        var seqDevices: [String] = []
        var seqs: [Int64] = []
        var idDevices: [String] = []
        var ids: [String] = []
        for request in requests where !request.records.isEmpty {
            let sequences = IntakePlan.sequences(of: request.records)
            seqDevices += Array(repeating: request.device, count: sequences.count)
            seqs += sequences
            let recordIDs = IntakePlan.recordIDs(of: request.records)
            idDevices += Array(repeating: request.device, count: recordIDs.count)
            ids += recordIDs
        }
        var rows: [String: LedgerRows] = [:]
        if !seqs.isEmpty {
            let wantedSeqs = Set(zip(seqDevices, seqs).map { "\($0) \($1)" })
            let wantedIDs = Set(zip(idDevices, ids).map { "\($0) \($1)" })
            for try await (device, seq, hash, uuid, prev) in try await connection.query(
                """
                SELECT r.device, r.seq, r.hash, r.uuid, r.prev
                FROM unnest(\(seqDevices)::text[], \(seqs)::bigint[]) AS w(device, seq)
                JOIN records r ON r.device = w.device AND r.seq = w.seq
                UNION
                SELECT r.device, r.seq, r.hash, r.uuid, r.prev
                FROM unnest(\(idDevices)::text[], \(ids)::text[]) AS w(device, uuid)
                JOIN records r ON r.device = w.device AND r.uuid = w.uuid
                """,
                logger: logger
            ).decode((String, Int64, String, String, String?).self) {
                if wantedSeqs.contains("\(device) \(seq)") {
                    rows[device, default: LedgerRows()].entries[seq] = LedgerEntry(
                        envelopeHash: hash, recordID: uuid, previousHash: prev)
                }
                if wantedIDs.contains("\(device) \(uuid)") {
                    rows[device, default: LedgerRows()].recordIDs.insert(uuid)
                }
            }
        }
        // 2. The rules, request by request; a device's later request sees what its earlier ones planned.
        var plans: [IntakePlan] = []
        for request in requests {
            let plan = try IntakePlan(request.records, rows: rows[request.device] ?? LedgerRows())
            rows[request.device] = plan.rowsAfter
            plans.append(plan)
        }
        // 3. The writes, one statement each.
        let records = plans.flatMap(\.records)
        if !records.isEmpty {
            let now = requests[0].now.epochMilliseconds
            // An array element cannot be NULL through the driver's array encoding: '' stands for "no prev".
            try await connection.query(
                """
                INSERT INTO records(device, seq, uuid, kind, time_ms, received_ms, hash, prev, envelope)
                SELECT device, seq, uuid, kind, time_ms, \(now), hash, NULLIF(prev, ''), envelope
                FROM unnest(\(records.map(\.device))::text[], \(records.map(\.sequence))::bigint[],
                            \(records.map(\.id))::text[], \(records.map(\.kind))::text[],
                            \(records.map(\.timeMs))::bigint[], \(records.map(\.hash))::text[],
                            \(records.map { $0.previousHash ?? "" })::text[], \(records.map(\.envelope))::text[])
                    AS r(device, seq, uuid, kind, time_ms, hash, prev, envelope)
                """, logger: logger)
        }
        let findings = plans.flatMap(\.findings)
        if !findings.isEmpty {
            try await connection.query(
                """
                INSERT INTO findings(device, seq, finding)
                SELECT * FROM unnest(\(findings.map(\.device))::text[], \(findings.map(\.sequence))::bigint[],
                                     \(findings.map(\.name))::text[])
                """, logger: logger)
        }
        try await keepPositions(VehiclePosition.newest(plans.flatMap(\.positions)), connection, logger)
        try await applyAlertChanges(zip(requests, plans).map { ($0.now, $1.alerts) }, connection, logger)
        // The proofs' nonces, taken once across every instance (a concurrent transaction inserting the same one
        // waits for this one, then finds it); the same nonce twice in this group counts once, for the first.
        var claimed: [(index: Int, claim: BatchClaim)] = []
        var seen: Set<String> = []
        for (index, request) in requests.enumerated() {
            guard let claim = request.claim, seen.insert("\(claim.device) \(claim.nonce)").inserted else { continue }
            claimed.append((index, claim))
        }
        var taken: Set<String> = []
        if !claimed.isEmpty {
            for try await (device, nonce) in try await connection.query(
                """
                INSERT INTO request_nonces(device, nonce, time_ms)
                SELECT * FROM unnest(\(claimed.map(\.claim.device))::text[], \(claimed.map(\.claim.nonce))::text[],
                                     \(claimed.map(\.claim.time.epochMilliseconds))::bigint[])
                ON CONFLICT DO NOTHING RETURNING device, nonce
                """, logger: logger
            ).decode((String, String).self) {
                taken.insert("\(device) \(nonce)")
            }
        }
        let authenticated = Set(
            claimed.filter { taken.contains("\($0.claim.device) \($0.claim.nonce)") }.map(\.index))
        // 4. Acks, then the answers for every authenticated device.
        var ackDevices: [String] = []
        var acks: [String] = []
        // The box's confirmations and refusals (`CommandReceipts`), read before the acks are applied.
        var receipts: [NewAuditEntry] = []
        for index in authenticated.sorted() {
            receipts += try await Self.commandReceipts(requests[index], connection, logger)
        }
        for index in authenticated.sorted() {
            ackDevices += Array(repeating: requests[index].device, count: requests[index].acks.count)
            acks += requests[index].acks
        }
        if !acks.isEmpty {
            try await connection.query(
                """
                UPDATE commands SET acked = true FROM unnest(\(ackDevices)::text[], \(acks)::text[]) AS a(device, nonce)
                WHERE commands.device = a.device AND commands.nonce = a.nonce
                """, logger: logger)
        }
        for entry in receipts { try await Self.append(entry, connection, logger) }
        let answered = Array(Set(authenticated.map { requests[$0].device })).sorted()
        var alerts: [String: [RemoteAlertState]] = [:]
        var commands: [String: [String]] = [:]
        if !answered.isEmpty {
            for try await (device, id, state) in try await connection.query(
                """
                SELECT device, id, state FROM alerts WHERE device = ANY(\(answered)) AND NOT device_cleared
                ORDER BY device, seq
                """, logger: logger
            ).decode((String, String, String).self) {
                alerts[device, default: []].append(
                    RemoteAlertState(alert: id, state: ControlRoomAlertState(rawValue: state) ?? .open))
            }
            // Only a device with an alert it has not confirmed cleared can need a command (re)issued.
            let reissuing = answered.filter { !(alerts[$0]?.isEmpty ?? true) }
            commands = try await pendingCommands(
                devices: answered, reissuing: reissuing, now: requests[0].now, issue: issue, connection, logger)
        }
        // 5. Which devices whose proofs are waiting have an answer that needs them checked.
        let waiting = Array(Set(requests.filter { $0.proofWaiting && $0.claim == nil }.map(\.device))).sorted()
        var needing: Set<String> = []
        if !waiting.isEmpty {
            let nowMs = requests[0].now.epochMilliseconds
            for try await (device, openAlert, latestExpiry) in try await connection.query(
                """
                SELECT w.device,
                    EXISTS (SELECT 1 FROM alerts a WHERE a.device = w.device AND NOT a.device_cleared),
                    (SELECT max(c.expires_ms) FROM commands c WHERE c.device = w.device AND NOT c.acked)
                FROM unnest(\(waiting)::text[]) AS w(device)
                """, logger: logger
            ).decode((String, Bool, Int64?).self)
            where AnswerPlan.hasAnswer(.init(openAlert: openAlert, latestUnackedExpiryMs: latestExpiry), nowMs: nowMs) {
                needing.insert(device)
            }
        }
        return requests.indices.map { index in
            let plan = plans[index]
            guard authenticated.contains(index) else {
                let request = requests[index]
                return IngestAnswer(
                    results: plan.results, findings: plan.findings,
                    needsProof: request.proofWaiting && needing.contains(request.device))
            }
            let device = requests[index].device
            return IngestAnswer(
                results: plan.results, findings: plan.findings, authenticated: true, alerts: alerts[device] ?? [],
                commands: commands[device] ?? [])
        }
    }

    /// Each request's alert changes, in request and record order: new alerts (an alert already stored is kept),
    /// and the clears the devices confirmed.
    private static func applyAlertChanges(
        _ changes: [(now: RecordTime, alerts: [IntakePlan.AlertChange])], _ connection: PostgresConnection,
        _ logger: Logger
    ) async throws {
        for (now, alerts) in changes {
            for change in alerts {
                switch change {
                case .open(
                    let device, let id, let sequence, let kind, let input, let pressedMs, let timeSource, let fix):
                    try await connection.query(
                        """
                        INSERT INTO alerts(device, id, seq, kind, input, pressed_ms, time_source, received_ms, fix, state)
                        VALUES(\(device), \(id), \(sequence), \(kind), \(input), \(pressedMs), \(timeSource),
                               \(now.epochMilliseconds), \(fix), 'open')
                        ON CONFLICT DO NOTHING
                        """, logger: logger)
                case .deviceCleared(let device, let alert):
                    try await connection.query(
                        "UPDATE alerts SET device_cleared = true WHERE device = \(device) AND id = \(alert)",
                        logger: logger)
                }
            }
        }
    }

    /// Unacknowledged, unexpired commands for each of `devices` (the oldest `RecordBatchResponse.maximumCommands`
    /// each), after issuing for the `reissuing` ones the fresh commands `CommandReissue` says their alerts want.
    /// Runs under the devices' locks, so a command is issued once across instances.
    private static func pendingCommands(
        devices: [String], reissuing: [String], now: RecordTime, issue: CommandIssuer,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [String: [String]] {
        let nowMs = now.epochMilliseconds
        var alerts: [CommandReissue.AlertRow] = []
        var commands: [CommandReissue.CommandRow] = []
        if !reissuing.isEmpty {
            for try await (device, id, state) in try await connection.query(
                """
                SELECT device, id, state FROM alerts WHERE device = ANY(\(reissuing)) AND NOT device_cleared
                ORDER BY device, seq
                """, logger: logger
            ).decode((String, String, String).self) {
                guard let state = ControlRoomAlertState(rawValue: state) else { continue }
                alerts.append(.init(device: device, alert: id, state: state, deviceCleared: false))
            }
            var stages: [String: [DispatchStage]] = [:]
            for try await (device, alert, stage) in try await connection.query(
                "SELECT device, alert, stage FROM dispatches WHERE device = ANY(\(reissuing))", logger: logger
            ).decode((String, String, String).self) {
                guard let stage = DispatchStage(rawValue: stage) else { continue }
                stages["\(device) \(alert)", default: []].append(stage)
            }
            for index in alerts.indices {
                alerts[index].stages = stages["\(alerts[index].device) \(alerts[index].alert)"] ?? []
            }
            for try await (device, alert, action, acked, expiresMs) in try await connection.query(
                """
                SELECT c.device, c.alert, c.action, c.acked, c.expires_ms FROM commands c
                JOIN alerts a ON a.device = c.device AND a.id = c.alert
                WHERE c.device = ANY(\(reissuing)) AND NOT a.device_cleared
                """, logger: logger
            ).decode((String, String, String, Bool, Int64).self) {
                guard let action = CommandAction(rawValue: action) else { continue }
                commands.append(
                    .init(device: device, alert: alert, action: action, acked: acked, expiresMs: expiresMs))
            }
        }
        for wanted in CommandReissue.reissues(alerts: alerts, commands: commands, nowMs: nowMs) {
            try await insert(try issue(wanted.action, wanted.device, wanted.alert, now), connection, logger)
        }
        var result: [String: [String]] = [:]
        for try await (device, envelope) in try await connection.query(
            """
            SELECT device, envelope FROM commands WHERE device = ANY(\(devices)) AND NOT acked AND expires_ms > \(nowMs)
            ORDER BY row_id
            """, logger: logger
        ).decode((String, String).self) {
            // The oldest few per device: the rest go in later answers, once these are acknowledged.
            guard result[device, default: []].count < RecordBatchResponse.maximumCommands else { continue }
            result[device, default: []].append(envelope)
        }
        return result
    }

    static func insert(
        _ command: IssuedCommand, _ connection: PostgresConnection, _ logger: Logger
    )
        async throws
    {
        try await insertCommand(
            nonce: command.nonce, device: command.device, alert: command.alert, action: command.action.rawValue,
            envelope: command.envelope, expiresMs: command.expires.epochMilliseconds, connection, logger)
    }

    /// One row of `commands`: an operator command, or a configuration or update document queued for a device.
    static func insertCommand(
        nonce: String, device: String, alert: String, action: String, envelope: String, expiresMs: Int64,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO commands(nonce, device, alert, action, envelope, expires_ms)
            VALUES(\(nonce), \(device), \(alert), \(action), \(envelope), \(expiresMs))
            """, logger: logger)
    }

    /// Locks `device`'s row until commit (two pushes at once get consecutive versions); false when it is not
    /// registered.
    static func lockDevice(_ device: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> Bool {
        try await !connection.query("SELECT id FROM devices WHERE id = \(device) FOR UPDATE", logger: logger)
            .collect().isEmpty
    }

    /// The alert ids of the documents of `action` (`ConfigQueue.action`, `UpdateQueue.action`) queued for `device`.
    static func queuedAlerts(
        device: String, action: String, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [String] {
        var alerts: [String] = []
        for try await alert in try await connection.query(
            "SELECT alert FROM commands WHERE device = \(device) AND action = \(action)", logger: logger
        ).decode(String.self) {
            alerts.append(alert)
        }
        return alerts
    }

    // MARK: Alerts and commands

    public func queueConfig(device: String, issue: ConfigIssuer, audit: NewAuditEntry) async throws -> IssuedConfig {
        let logger = logger
        return try await transaction { connection in
            guard try await Self.lockDevice(device, connection, logger) else {
                throw ControlRoomError.unknownDevice(device)
            }
            let alerts = try await Self.queuedAlerts(device: device, action: ConfigQueue.action, connection, logger)
            let issued = try issue(ConfigQueue.nextVersion(after: alerts))
            let alert = ConfigQueue.alert(version: issued.document.version)
            try await Self.insertCommand(
                nonce: issued.document.nonce, device: device, alert: alert, action: ConfigQueue.action,
                envelope: issued.envelope, expiresMs: issued.document.expires.epochMilliseconds, connection, logger)
            var entry = audit
            entry.alert = alert
            try await Self.append(entry, connection, logger)
            return issued
        }
    }

    public func queueUpdate(device: String, issued: IssuedUpdate, audit: NewAuditEntry) async throws {
        let logger = logger
        try await transaction { connection in
            guard try await Self.lockDevice(device, connection, logger) else {
                throw ControlRoomError.unknownDevice(device)
            }
            let alert = UpdateQueue.alert(version: issued.document.version)
            try await Self.insertCommand(
                nonce: issued.document.nonce, device: device, alert: alert, action: UpdateQueue.action,
                envelope: issued.envelope, expiresMs: issued.document.expires.epochMilliseconds, connection, logger)
            var entry = audit
            entry.alert = alert
            try await Self.append(entry, connection, logger)
        }
    }

    static let alertColumns =
        "id, device, seq, kind, input, pressed_ms, time_source, fix, state, device_cleared"

    static func alertViews(_ rows: [PostgresRow], now: RecordTime) throws -> [AlertView] {
        try alertRows(rows, now: now).map(\.alert)
    }

    /// Each row of `alertColumns` as an alert, with its place in the history's order.
    static func alertRows(
        _ rows: [PostgresRow], now: RecordTime
    ) throws -> [(alert: AlertView, cursor: AlertHistoryCursor)] {
        try rows.map { row in
            let (id, device, seq, kind, input, pressed, source, fix, state, cleared) = try row.decode(
                (String, String, Int64, String, String?, Int64, String, String?, String, Bool).self)
            let alert = AlertView(
                id: id, device: device, sequence: seq, kind: kind, input: input, pressedMs: pressed,
                timeSource: source, fix: fix, state: state, deviceCleared: cleared, now: now)
            return (alert, AlertHistoryCursor(pressedMs: pressed, device: device, sequence: seq))
        }
    }

    public func closedAlerts(_ history: AlertHistoryQuery, now: RecordTime) async throws -> AlertHistoryPage {
        let before = history.start
        let rows = try await query(
            """
            SELECT \(unescaped: Self.alertColumns) FROM alerts
            WHERE (\(history.includeOpen) OR device_cleared OR state = 'cleared')
                AND (\(history.deviceContains)::text IS NULL OR strpos(device, \(history.deviceContains)) > 0)
                AND (\(history.kind)::text IS NULL OR kind = \(history.kind))
                AND (pressed_ms, device, seq) < (\(before.pressedMs), \(before.device), \(before.sequence))
            ORDER BY pressed_ms DESC, device DESC, seq DESC LIMIT \(history.limit + 1)
            """)
        return AlertHistoryPage(try Self.alertRows(rows, now: now), limit: history.limit)
    }

    public func act(
        _ action: CommandAction, device: String, alert: String, allowed: Set<ControlRoomAlertState>,
        newState: ControlRoomAlertState, now: RecordTime, issue: CommandIssuer, audit: NewAuditEntry?
    ) async throws -> AlertView {
        let logger = logger
        return try await transaction { connection in
            // The row is locked until commit: two operators on two instances acting at once are serialized, and
            // the second sees the first's state.
            let rows = try await connection.query(
                "SELECT state FROM alerts WHERE device = \(device) AND id = \(alert) FOR UPDATE", logger: logger
            ).collect()
            let plan = try AlertActionPlan(
                action, device: device, alert: alert,
                current: try rows.first.map { ControlRoomAlertState(rawValue: try $0.decode(String.self)) ?? .open },
                allowed: allowed, newState: newState, audit: audit)
            let state = plan.state.rawValue
            try await connection.query(
                "UPDATE alerts SET state = \(state) WHERE device = \(device) AND id = \(alert)", logger: logger)
            try await Self.insert(try issue(plan.command, device, alert, now), connection, logger)
            if let audit = plan.audit { try await Self.append(audit, connection, logger) }
            let views = try await connection.query(
                "SELECT \(unescaped: Self.alertColumns) FROM alerts WHERE device = \(device) AND id = \(alert)",
                logger: logger
            ).collect()
            return try Self.alertViews(views, now: now)[0]
        }
    }

    public func alerts(_ scope: AlertScope, now: RecordTime) async throws -> [AlertView] {
        let columns = Self.alertColumns
        let order = "ORDER BY pressed_ms, device, seq"
        switch scope {
        case .open:
            return try Self.alertViews(
                try await query(
                    "SELECT \(unescaped: columns) FROM alerts WHERE NOT device_cleared \(unescaped: order)"),
                now: now)
        case .all:
            return try Self.alertViews(
                try await query("SELECT \(unescaped: columns) FROM alerts \(unescaped: order)"), now: now)
        case .one(let device, let alert):
            return try Self.alertViews(
                try await query(
                    "SELECT \(unescaped: columns) FROM alerts WHERE device = \(device) AND id = \(alert)"),
                now: now)
        }
    }

    public func alerts(after cursor: Int64, now: RecordTime) async throws -> (alerts: [AlertView], cursor: Int64) {
        let rows = try await query(
            "SELECT \(unescaped: Self.alertColumns), row_id FROM alerts WHERE row_id > \(cursor) ORDER BY row_id")
        let views = try Self.alertViews(rows, now: now)
        let maximum = try await query("SELECT coalesce(max(row_id), 0) FROM alerts").first?.decode(Int64.self) ?? 0
        return (views, max(cursor, maximum))
    }

    // MARK: Queries

    public func recordCount(device: String?) async throws -> Int {
        let rows = try await query("SELECT count(*) FROM records WHERE \(device)::text IS NULL OR device = \(device)")
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }

    public func arrivalOrder(device: String) async throws -> [RecordArrival] {
        try await query("SELECT seq, kind FROM records WHERE device = \(device) ORDER BY row_id").map { row in
            let (seq, kind) = try row.decode((Int64, String).self)
            return RecordArrival(sequence: seq, kind: RecordKind(rawValue: kind) ?? .position)
        }
    }

    public func gaps(device: String) async throws -> [ClosedRange<Int64>] {
        try await query(
            """
            SELECT before + 1, seq - 1 FROM (
                SELECT seq, lag(seq, 1, 0::bigint) OVER (ORDER BY seq) AS before FROM records WHERE device = \(device)
            ) AS s WHERE seq > before + 1 ORDER BY seq
            """
        ).map { row in
            let (from, to) = try row.decode((Int64, Int64).self)
            return from...to
        }
    }

    public func findings(device: String) async throws -> [DeviceFinding] {
        try await query("SELECT seq, finding FROM findings WHERE device = \(device) ORDER BY row_id").compactMap {
            row in
            let (seq, name) = try row.decode((Int64, String).self)
            return VerificationFinding.Kind(rawValue: name).map { DeviceFinding(sequence: seq, finding: $0) }
        }
    }

    public func recordIdentities(device: String) async throws -> [RecordIdentity] {
        try await query("SELECT seq, hash FROM records WHERE device = \(device) ORDER BY seq").map { row in
            let (seq, hash) = try row.decode((Int64, String).self)
            return RecordIdentity(sequence: seq, hash: hash)
        }
    }
}

extension PostgresControlRoomStore {
    /// Creates the database `name` on the server of `server` (connecting to the database that URL names), for a
    /// fresh control room or a test's own database. `name` must be a plain identifier.
    public static func createDatabase(_ name: String, server: PostgresURL, logger: Logger) async throws {
        try await administer("CREATE DATABASE \(name)", name: name, server: server, logger: logger)
    }

    /// Drops the database `name` (closing its connections).
    public static func dropDatabase(_ name: String, server: PostgresURL, logger: Logger) async throws {
        try await administer("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", name: name, server: server, logger: logger)
    }

    private static func administer(_ sql: String, name: String, server: PostgresURL, logger: Logger) async throws {
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }), !name.isEmpty else {
            throw PostgresStoreError.query("'\(name.prefix(64))' is not a plain database name")
        }
        let client = PostgresClient(configuration: server.configuration, backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do { try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger) } catch {
                throw describe(error, url: server)
            }
        }
    }
}
