import ControlRoomKit
import Foundation
import PanicCore
import PostgresNIO

extension PostgresControlRoomStore {
    // MARK: Accounts

    public func addUser(
        name: String, role: DeskRole, passwordHash: String, tokenHash: String?, now: RecordTime
    )
        async throws
    {
        let roleName = role.rawValue
        let created = now.epochMilliseconds
        let inserted = try await query(
            """
            INSERT INTO users(name, role, password_hash, token_hash, created_ms)
            VALUES(\(name), \(roleName), \(passwordHash), \(tokenHash), \(created))
            ON CONFLICT (name) DO NOTHING RETURNING 1
            """)
        if inserted.isEmpty { throw DeskError.duplicateUser(name) }
    }

    public func removeUser(name: String) async throws -> Bool {
        let logger = logger
        return try await transaction { connection in
            let removed = try await connection.query(
                "DELETE FROM users WHERE name = \(name) RETURNING 1", logger: logger
            ).collect()
            try await connection.query(#"DELETE FROM sessions WHERE "user" = \#(name)"#, logger: logger)
            try await connection.query(#"DELETE FROM api_tokens WHERE "user" = \#(name)"#, logger: logger)
            return !removed.isEmpty
        }
    }

    public func setPasswordHash(name: String, hash: String) async throws {
        let logger = logger
        try await transaction { connection in
            let changed = try await connection.query(
                "UPDATE users SET password_hash = \(hash) WHERE name = \(name) RETURNING 1", logger: logger
            ).collect()
            if changed.isEmpty { throw DeskError.unknownUser(name) }
            // A new password ends the sessions the old one opened, and the account's API tokens, on every instance.
            try await connection.query(#"DELETE FROM sessions WHERE "user" = \#(name)"#, logger: logger)
            try await connection.query(#"DELETE FROM api_tokens WHERE "user" = \#(name)"#, logger: logger)
        }
    }

    public func startSession(_ session: StoredSession) async throws {
        let (id, user, csrf, started, used) = (
            session.idHash, session.user, session.csrf, session.startedMs, session.lastUsedMs
        )
        _ = try await query(
            #"""
            INSERT INTO sessions(id_hash, "user", csrf, started_ms, last_used_ms)
            VALUES(\#(id), \#(user), \#(csrf), \#(started), \#(used))
            """#)
    }

    public func session(
        idHash: String, now: Int64, idle: Int64, lifetime: Int64, touchAfter: Int64
    ) async throws -> StoredSession? {
        guard
            let row = try await query(
                #"SELECT "user", csrf, started_ms, last_used_ms FROM sessions WHERE id_hash = \#(idHash)"#
            ).first
        else { return nil }
        let (user, csrf, started, used) = try row.decode((String, String, Int64, Int64).self)
        let session = StoredSession(idHash: idHash, user: user, csrf: csrf, startedMs: started, lastUsedMs: used)
        switch SessionPlan(session, now: now, idle: idle, lifetime: lifetime, touchAfter: touchAfter) {
        case .expired(let lastUsedBefore, let startedBefore):
            _ = try await query(
                """
                DELETE FROM sessions WHERE id_hash = \(idHash) OR last_used_ms < \(lastUsedBefore)
                OR started_ms < \(startedBefore)
                """)
            return nil
        case .alive(let touch):
            if touch { _ = try await query("UPDATE sessions SET last_used_ms = \(now) WHERE id_hash = \(idHash)") }
            return session
        }
    }

    public func endSession(idHash: String) async throws {
        _ = try await query("DELETE FROM sessions WHERE id_hash = \(idHash)")
    }

    public func endSessions(user: String) async throws {
        _ = try await query(#"DELETE FROM sessions WHERE "user" = \#(user)"#)
    }

    public func users() async throws -> [DeskAccount] {
        try await query(
            #"SELECT name, role, EXISTS(SELECT 1 FROM api_tokens t WHERE t."user" = users.name) FROM users ORDER BY name"#
        ).map { row in
            let (name, role, token) = try row.decode((String, String, Bool).self)
            return DeskAccount(name: name, role: DeskRole(rawValue: role) ?? .operator, hasToken: token)
        }
    }

    public func credentials(name: String) async throws -> (account: DeskAccount, passwordHash: String)? {
        guard
            let row = try await query(
                #"SELECT role, password_hash, EXISTS(SELECT 1 FROM api_tokens t WHERE t."user" = users.name) FROM users WHERE name = \#(name)"#
            ).first
        else { return nil }
        let (role, hash, token) = try row.decode((String, String, Bool).self)
        return (DeskAccount(name: name, role: DeskRole(rawValue: role) ?? .operator, hasToken: token), hash)
    }

    public func account(name: String) async throws -> DeskAccount? {
        guard
            let row = try await query(
                #"SELECT role, EXISTS(SELECT 1 FROM api_tokens t WHERE t."user" = users.name) FROM users WHERE name = \#(name)"#
            ).first
        else { return nil }
        let (role, token) = try row.decode((String, Bool).self)
        return DeskAccount(name: name, role: DeskRole(rawValue: role) ?? .operator, hasToken: token)
    }

    public func account(tokenHash: String, now: Int64) async throws -> DeskAccount? {
        guard
            let row = try await query(
                #"""
                SELECT u.name, u.role, t.id, t.last_used_ms FROM api_tokens t JOIN users u ON u.name = t."user"
                WHERE t.hash = \#(tokenHash)
                """#
            ).first
        else { return nil }
        let (name, role, id, used) = try row.decode((String, String, String, Int64?).self)
        if used.map({ now - $0 >= DeskSessions.touchAfterMs }) ?? true {
            _ = try await query("UPDATE api_tokens SET last_used_ms = \(now) WHERE id = \(id)")
        }
        return DeskAccount(name: name, role: DeskRole(rawValue: role) ?? .operator, hasToken: true)
    }

    public func setRole(name: String, role: DeskRole) async throws {
        let roleName = role.rawValue
        let changed = try await query("UPDATE users SET role = \(roleName) WHERE name = \(name) RETURNING 1")
        if changed.isEmpty { throw DeskError.unknownUser(name) }
    }

    public func addToken(id: String, user: String, hash: String, now: RecordTime) async throws {
        let created = now.epochMilliseconds
        let inserted = try await query(
            #"""
            INSERT INTO api_tokens(id, "user", hash, created_ms)
            SELECT \#(id), name, \#(hash), \#(created) FROM users WHERE name = \#(user) RETURNING 1
            """#)
        if inserted.isEmpty { throw DeskError.unknownUser(user) }
    }

    public func tokens(user: String) async throws -> [APIToken] {
        try await query(
            #"SELECT id, created_ms, last_used_ms FROM api_tokens WHERE "user" = \#(user) ORDER BY created_ms, id"#
        ).map { row in
            let (id, created, used) = try row.decode((String, Int64, Int64?).self)
            return APIToken(id: id, user: user, createdMs: created, lastUsedMs: used)
        }
    }

    public func revokeToken(id: String) async throws -> String? {
        try await query(#"DELETE FROM api_tokens WHERE id = \#(id) RETURNING "user""#).first.map {
            try $0.decode(String.self)
        }
    }

    // MARK: Audit

    public func appendAudit(_ entry: NewAuditEntry, requireAlert: Bool) async throws {
        let logger = logger
        try await transaction { connection in
            if requireAlert {
                try await Self.requireAlert(device: entry.device, alert: entry.alert, connection, logger)
            }
            try await Self.append(entry, connection, logger)
        }
    }

    /// The alert's state; throws `unknownAlert` when there is no such alert.
    @discardableResult
    static func requireAlert(
        device: String, alert: String, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> ControlRoomAlertState {
        let rows = try await connection.query(
            "SELECT state FROM alerts WHERE device = \(device) AND id = \(alert)", logger: logger
        ).collect()
        guard let row = rows.first else { throw ControlRoomError.unknownAlert(device: device, alert: alert) }
        return ControlRoomAlertState(rawValue: try row.decode(String.self)) ?? .open
    }

    static func append(_ entry: NewAuditEntry, _ connection: PostgresConnection, _ logger: Logger) async throws {
        let time = entry.now.epochMilliseconds
        let user = entry.user
        let role = entry.roleText
        let action = entry.action.rawValue
        try await connection.query(
            """
            INSERT INTO audit(time_ms, user_name, role, action, device, alert, reason)
            VALUES(\(time), \(user), \(role), \(action), \(entry.device), \(entry.alert), \(entry.reason))
            """, logger: logger)
    }

    public func audit(device: String?, alert: String?) async throws -> [AuditEntry] {
        try Self.auditEntries(
            try await query(
                """
                SELECT id, time_ms, user_name, role, action, device, alert, reason FROM audit
                WHERE (\(device)::text IS NULL OR device = \(device)) AND (\(alert)::text IS NULL OR alert = \(alert))
                ORDER BY id
                """))
    }

    public func audit(_ page: AuditQuery) async throws -> AuditPage {
        AuditPage(
            try Self.auditEntries(
                try await query(
                    """
                    SELECT id, time_ms, user_name, role, action, device, alert, reason FROM audit
                    WHERE (\(page.device)::text IS NULL OR device = \(page.device))
                        AND (\(page.alert)::text IS NULL OR alert = \(page.alert)) AND id > \(page.start)
                    ORDER BY id LIMIT \(page.limit + 1)
                    """)), limit: page.limit)
    }

    public func audit(alerts: [AlertRef]) async throws -> [AlertRef: [AuditEntry]] {
        guard !alerts.isEmpty else { return [:] }
        let (wanted, devices, ids) = Self.lists(alerts)
        var result: [AlertRef: [AuditEntry]] = [:]
        for entry in try Self.auditEntries(
            try await query(
                """
                SELECT id, time_ms, user_name, role, action, device, alert, reason FROM audit
                WHERE device = ANY(\(devices)) AND alert = ANY(\(ids)) ORDER BY id
                """))
        {
            let key = AlertRef(device: entry.device, id: entry.alert)
            if wanted.contains(key) { result.append(entry, to: key) }
        }
        return result
    }

    /// The alerts asked for, and their devices and ids as two arrays: `= ANY` over both uses the (device, alert)
    /// index; the caller keeps only the pairs asked for.
    private static func lists(_ alerts: [AlertRef]) -> (wanted: Set<AlertRef>, devices: [String], ids: [String]) {
        (Set(alerts), Set(alerts.map(\.device)).sorted(), Set(alerts.map(\.id)).sorted())
    }

    private static func auditEntries(_ rows: [PostgresRow]) throws -> [AuditEntry] {
        try rows.map { row in
            let (id, time, user, role, action, device, alert, reason) = try row.decode(
                (Int64, Int64, String, String, String, String, String, String).self)
            return AuditEntry(
                id: id, timeMs: time, user: user, role: DeskRole(rawValue: role),
                action: AuditAction(rawValue: action) ?? .note, device: device, alert: alert, reason: reason)
        }
    }

    // MARK: Metadata

    public func editMetadata(device: String, _ edit: DeviceMetadataEdit) async throws -> DeviceMetadata {
        let logger = logger
        return try await transaction { connection in
            try await connection.query(
                "INSERT INTO device_meta(device) VALUES(\(device)) ON CONFLICT DO NOTHING", logger: logger)
            let rows = try await connection.query(
                """
                SELECT name, registration, route, phone, responder, make, model, serial FROM device_meta
                WHERE device = \(device) FOR UPDATE
                """, logger: logger
            ).collect()
            let current = try rows.first.map(Self.metadata) ?? DeviceMetadata()
            let metadata = try edit.applied(to: current)
            try await connection.query(
                """
                UPDATE device_meta SET name = \(metadata.name), registration = \(metadata.registration),
                    route = \(metadata.route), phone = \(metadata.phone), responder = \(metadata.responder),
                    make = \(metadata.make), model = \(metadata.model), serial = \(metadata.serial)
                WHERE device = \(device)
                """, logger: logger)
            return metadata
        }
    }

    static func metadata(_ row: PostgresRow) throws -> DeviceMetadata {
        let (name, registration, route, phone, responder, make, model, serial) = try row.decode(
            (String, String, String, String, Bool, String, String, String).self)
        return DeviceMetadata(
            name: name, registration: registration, route: route, phone: phone, responder: responder, make: make,
            model: model, serial: serial)
    }

    public func metadata(device: String) async throws -> DeviceMetadata? {
        try await query(
            """
            SELECT name, registration, route, phone, responder, make, model, serial FROM device_meta
            WHERE device = \(device)
            """
        ).first.map(Self.metadata)
    }

    public func allMetadata() async throws -> [String: DeviceMetadata] {
        var result: [String: DeviceMetadata] = [:]
        for row in try await query(
            "SELECT device, name, registration, route, phone, responder, make, model, serial FROM device_meta")
        {
            let (device, name, registration, route, phone, responder, make, model, serial) = try row.decode(
                (String, String, String, String, String, Bool, String, String, String).self)
            result[device] = DeviceMetadata(
                name: name, registration: registration, route: route, phone: phone, responder: responder, make: make,
                model: model, serial: serial)
        }
        return result
    }

    public func metadata(devices: [String]) async throws -> [String: DeviceMetadata] {
        guard !devices.isEmpty else { return [:] }
        var result: [String: DeviceMetadata] = [:]
        for row in try await query(
            """
            SELECT device, name, registration, route, phone, responder, make, model, serial FROM device_meta
            WHERE device = ANY(\(devices))
            """)
        {
            let (device, name, registration, route, phone, responder, make, model, serial) = try row.decode(
                (String, String, String, String, String, Bool, String, String, String).self)
            result[device] = DeviceMetadata(
                name: name, registration: registration, route: route, phone: phone, responder: responder, make: make,
                model: model, serial: serial)
        }
        return result
    }

    // MARK: Dispatch and tracks

    public func dispatch(
        device: String, alert: String, responder: String, stage: DispatchStage, by account: DeskAccount,
        now: RecordTime, issue: CommandIssuer
    ) async throws {
        let logger = logger
        try await transaction { connection in
            let current = try await Self.requireAlert(device: device, alert: alert, connection, logger)
            let isResponder = try await connection.query(
                "SELECT responder FROM device_meta WHERE device = \(responder)", logger: logger
            ).collect().first.map { try $0.decode(Bool.self) }
            // The alert's row stays locked until the transaction ends: two operators moving the same responder at
            // once (even its first assignment, when there is no dispatch row to lock yet) are judged one after the
            // other, each against the stage the other left.
            try await connection.query(
                "SELECT 1 FROM alerts WHERE device = \(device) AND id = \(alert) FOR UPDATE", logger: logger)
            let before = try await connection.query(
                """
                SELECT stage FROM dispatches WHERE device = \(device) AND alert = \(alert) AND responder = \(responder)
                """, logger: logger
            ).collect().first.flatMap { DispatchStage(rawValue: try $0.decode(String.self)) }
            guard
                let plan = try DispatchPlan.plan(
                    device: device, alert: alert, alertState: current, responder: responder,
                    isResponder: isResponder == true, before: before, to: stage, by: account, now: now)
            else { return }
            let (assigned, stageName, time) = (plan.row.responder, plan.row.stage.rawValue, plan.row.timeMs)
            try await connection.query(
                """
                INSERT INTO dispatches(device, alert, responder, stage, time_ms)
                VALUES(\(device), \(alert), \(assigned), \(stageName), \(time))
                ON CONFLICT (device, alert, responder) DO UPDATE SET stage = EXCLUDED.stage, time_ms = EXCLUDED.time_ms
                """, logger: logger)
            try await Self.append(plan.audit, connection, logger)
            if let action = plan.command {
                try await Self.insert(try issue(action, device, alert, now), connection, logger)
            }
        }
    }

    public func dispatches(alerts: [AlertRef]) async throws -> [AlertRef: [DispatchRow]] {
        guard !alerts.isEmpty else { return [:] }
        let (wanted, devices, ids) = Self.lists(alerts)
        var result: [AlertRef: [DispatchRow]] = [:]
        for row in try await query(
            """
            SELECT device, alert, responder, stage, time_ms FROM dispatches
            WHERE device = ANY(\(devices)) AND alert = ANY(\(ids)) ORDER BY time_ms
            """)
        {
            let (device, alert, responder, stage, time) = try row.decode((String, String, String, String, Int64).self)
            let key = AlertRef(device: device, id: alert)
            guard wanted.contains(key) else { continue }
            result.append(
                DispatchRow(responder: responder, stage: DispatchStage(rawValue: stage) ?? .dispatched, timeMs: time),
                to: key)
        }
        return result
    }

    public func logEvidence(leaf: String, now: RecordTime) async throws -> (leaves: [String], index: Int) {
        let logger = logger
        let time = now.epochMilliseconds
        return try await transaction { connection in
            // One appender at a time across every instance, so the indexes stay 0, 1, 2... without holes.
            try await connection.query("LOCK TABLE evidence_log IN EXCLUSIVE MODE", logger: logger)
            try await connection.query(
                """
                INSERT INTO evidence_log(idx, leaf, time_ms)
                SELECT (SELECT COUNT(*) FROM evidence_log), \(leaf), \(time)
                WHERE NOT EXISTS(SELECT 1 FROM evidence_log WHERE leaf = \(leaf))
                """, logger: logger)
            var leaves: [String] = []
            for try await text in try await connection.query(
                "SELECT leaf FROM evidence_log ORDER BY idx", logger: logger
            ).decode(String.self) {
                leaves.append(text)
            }
            return (leaves, leaves.firstIndex(of: leaf) ?? leaves.count - 1)
        }
    }

    public func evidenceLeaves() async throws -> [String] {
        try await query("SELECT leaf FROM evidence_log ORDER BY idx").map { try $0.decode(String.self) }
    }

    public func keepCheckpoint(size: Int, note: String, now: RecordTime) async throws -> String {
        let (size, time) = (Int64(size), now.epochMilliseconds)
        _ = try await query(
            """
            INSERT INTO evidence_checkpoints(size, note, time_ms) VALUES(\(size), \(note), \(time))
            ON CONFLICT DO NOTHING
            """)
        let rows = try await query("SELECT note FROM evidence_checkpoints WHERE size = \(size)")
        return try rows.first?.decode(String.self) ?? note
    }

    public func commands(device: String, alert: String) async throws -> [StoredCommand] {
        try await query(
            """
            SELECT nonce, action, envelope, expires_ms, acked FROM commands WHERE device = \(device)
            AND alert = \(alert) ORDER BY row_id
            """
        ).map(Self.storedCommand)
    }

    public func commands(device: String, action: String) async throws -> [StoredCommand] {
        try await query(
            """
            SELECT nonce, action, envelope, expires_ms, acked FROM commands WHERE device = \(device)
            AND action = \(action) ORDER BY row_id
            """
        ).map(Self.storedCommand)
    }

    /// A row of `SELECT nonce, action, envelope, expires_ms, acked FROM commands`.
    static func storedCommand(_ row: PostgresRow) throws -> StoredCommand {
        let (nonce, action, envelope, expires, acked) = try row.decode((String, String, String, Int64, Bool).self)
        return StoredCommand(nonce: nonce, action: action, envelope: envelope, expiresMs: expires, acked: acked)
    }

    public func envelopes(device: String, from sequence: Int64, afterRowID: Int64) async throws -> [StoredEnvelope] {
        try await query(
            """
            SELECT row_id, envelope FROM records WHERE device = \(device) AND seq >= \(sequence)
            AND row_id > \(afterRowID) ORDER BY seq
            """
        ).map { row in
            let (id, envelope) = try row.decode((Int64, String).self)
            return StoredEnvelope(rowID: id, envelope: envelope)
        }
    }

    public func envelopes(tracks: [TrackCursor]) async throws -> [TrackCursor: [StoredEnvelope]] {
        guard !tracks.isEmpty else { return [:] }
        let (devices, froms, rowIDs) = (tracks.map(\.device), tracks.map(\.from), tracks.map(\.afterRowID))
        var result: [TrackCursor: [StoredEnvelope]] = [:]
        // One row per cursor (its ordinal is the cursor's index + 1), each joined to its device's records through
        // the (device, seq) key.
        for row in try await query(
            """
            SELECT q.i, r.row_id, r.envelope FROM unnest(\(devices)::text[], \(froms)::bigint[], \(rowIDs)::bigint[])
            WITH ORDINALITY AS q(device, seq, row_id, i)
            JOIN records r ON r.device = q.device AND r.seq >= q.seq AND r.row_id > q.row_id
            ORDER BY q.i, r.seq
            """)
        {
            let (index, id, envelope) = try row.decode((Int64, Int64, String).self)
            result[tracks[Int(index) - 1], default: []].append(StoredEnvelope(rowID: id, envelope: envelope))
        }
        return result
    }

    public func latestEnvelopes(device: String, kind: RecordKind?, limit: Int) async throws -> [String] {
        let kindName = kind?.rawValue
        return try await query(
            """
            SELECT envelope FROM records WHERE device = \(device) AND (\(kindName)::text IS NULL OR kind = \(kindName))
            ORDER BY seq DESC LIMIT \(limit)
            """
        ).map { try $0.decode(String.self) }
    }

    public func devicesSeen(since: Int64) async throws -> Int {
        Int(
            try await query("SELECT count(DISTINCT device) FROM records WHERE received_ms >= \(since)").first?.decode(
                Int64.self) ?? 0)
    }

    public func lastSeen(device: String) async throws -> Int64? {
        try await query("SELECT max(received_ms) FROM records WHERE device = \(device)").first?.decode(Int64?.self)
            ?? nil
    }
}

extension PostgresControlRoomStore {
    /// The rows `CommandReceipts` decides over for one authenticated request: its acks' and refusals' commands
    /// (as they are before the acks are applied) and, when it reports refusals, the nonces refused before.
    static func commandReceipts(
        _ request: IngestRequest, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> [NewAuditEntry] {
        let nonces = CommandReceipts.nonces(acks: request.acks, refusals: request.refusals)
        guard !nonces.isEmpty else { return [] }
        var rows: [CommandReceiptRow] = []
        for try await (nonce, alert, action, acked) in try await connection.query(
            """
            SELECT nonce, alert, action, acked FROM commands
            WHERE device = \(request.device) AND nonce = ANY(\(nonces))
            """, logger: logger
        ).decode((String, String, String, Bool).self) {
            rows.append(CommandReceiptRow(nonce: nonce, alert: alert, action: action, acked: acked))
        }
        var refusedBefore: Set<String> = []
        if !request.refusals.isEmpty {
            let refused = AuditAction.boxRefused.rawValue
            for try await reason in try await connection.query(
                "SELECT reason FROM audit WHERE device = \(request.device) AND action = \(refused)", logger: logger
            ).decode(String.self) {
                if let nonce = CommandReceipts.refusedNonce(in: reason) { refusedBefore.insert(nonce) }
            }
        }
        return CommandReceipts.plan(
            device: request.device, rows: rows, acks: request.acks, refusals: request.refusals,
            refusedBefore: refusedBefore, now: request.now)
    }
}

extension PostgresControlRoomStore {
    /// Keeps each vehicle's position when it is newer (by sequence number) than the one stored, with a fresh value
    /// of the change counter the desk's fleet layer follows. `positions` holds one row per vehicle
    /// (`VehiclePosition.newest`): one statement may not update a row twice.
    static func keepPositions(
        _ positions: [VehiclePosition], _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        guard !positions.isEmpty else { return }
        // An array element cannot be NULL through the driver's array encoding: NaN stands for "no course".
        try await connection.query(
            """
            INSERT INTO device_positions(device, seq, time_ms, lat, lon, course, fix_age_ms, changed)
            SELECT device, seq, time_ms, lat, lon, NULLIF(course, 'NaN'::float8), fix_age_ms,
                   nextval('device_positions_changed')
            FROM unnest(\(positions.map(\.device))::text[], \(positions.map(\.sequence))::bigint[],
                        \(positions.map(\.timeMs))::bigint[], \(positions.map(\.latitude))::float8[],
                        \(positions.map(\.longitude))::float8[], \(positions.map { $0.course ?? .nan })::float8[],
                        \(positions.map(\.fixAgeMs))::bigint[])
                AS p(device, seq, time_ms, lat, lon, course, fix_age_ms)
            ON CONFLICT(device) DO UPDATE SET seq = excluded.seq, time_ms = excluded.time_ms, lat = excluded.lat,
                lon = excluded.lon, course = excluded.course, fix_age_ms = excluded.fix_age_ms,
                changed = excluded.changed
            WHERE excluded.seq > device_positions.seq
            """, logger: logger)
    }

    public func vehiclePositions(after cursor: Int64, limit: Int) async throws -> VehiclePositionPage {
        let positions = try Self.positions(
            try await query(
                """
                \(unescaped: Self.selectPositions)
                WHERE p.changed > \(cursor) ORDER BY p.changed LIMIT \(Int64(limit) + 1)
                """))
        return VehiclePositionPage(positions, limit: limit)
    }

    public func positions(devices: [String]) async throws -> [String: VehiclePosition] {
        guard !devices.isEmpty else { return [:] }
        let rows = try Self.positions(
            try await query("\(unescaped: Self.selectPositions) WHERE p.device = ANY(\(devices)::text[])"))
        return Dictionary(rows.map { ($0.device, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The columns `positions(_:)` decodes, each vehicle with its name; a query adds its WHERE.
    private static let selectPositions = """
        SELECT p.device, p.seq, p.time_ms, p.lat, p.lon, p.course, p.fix_age_ms, p.changed, coalesce(m.name, '')
        FROM device_positions p LEFT JOIN device_meta m ON m.device = p.device
        """

    private static func positions(_ rows: [PostgresRow]) throws -> [VehiclePosition] {
        try rows.map { row in
            let (device, sequence, timeMs, latitude, longitude, course, fixAgeMs, changed, name) = try row.decode(
                (String, Int64, Int64, Double, Double, Double?, Int64, Int64, String).self)
            var position = VehiclePosition(
                device: device, sequence: sequence, timeMs: timeMs, latitude: latitude, longitude: longitude,
                course: course, fixAgeMs: fixAgeMs, changed: changed)
            position.name = name
            return position
        }
    }
}
