import Logging
import PostgresNIO

/// One numbered step of the PostgreSQL schema.
struct PostgresMigration: Sendable {
    var version: Int
    var summary: String
    var statements: [String]
}

extension PostgresControlRoomStore {
    /// The schema, one numbered step at a time; `schema_migrations` lists the steps applied. The same tables as the
    /// SQLite store's, with PostgreSQL types, arrival order kept in `BIGSERIAL` columns, and the registry
    /// generation bumped (and announced on `panicbridge_registry`) by a trigger on every change to `devices`.
    static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, summary: "devices, registry generation, records, alerts, commands, findings, request nonces",
            statements: [
                "CREATE TABLE devices(id TEXT PRIMARY KEY, kid TEXT NOT NULL UNIQUE, jwk TEXT NOT NULL)",
                "CREATE TABLE registry(generation BIGINT NOT NULL)",
                "INSERT INTO registry(generation) VALUES(0)",
                """
                CREATE FUNCTION registry_bump() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    UPDATE registry SET generation = generation + 1;
                    PERFORM pg_notify('panicbridge_registry', '');
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE ON devices
                    FOR EACH STATEMENT EXECUTE FUNCTION registry_bump()
                """,
                """
                CREATE TABLE records(
                    row_id BIGSERIAL UNIQUE, device TEXT NOT NULL, seq BIGINT NOT NULL, uuid TEXT NOT NULL,
                    kind TEXT NOT NULL, time_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, hash TEXT NOT NULL,
                    prev TEXT, envelope TEXT NOT NULL, PRIMARY KEY(device, seq), UNIQUE(device, uuid))
                """,
                "CREATE INDEX records_by_kind ON records(device, kind, seq)",
                """
                CREATE TABLE alerts(
                    row_id BIGSERIAL UNIQUE, device TEXT NOT NULL, id TEXT NOT NULL, seq BIGINT NOT NULL,
                    kind TEXT NOT NULL, input TEXT, pressed_ms BIGINT NOT NULL, time_source TEXT NOT NULL,
                    received_ms BIGINT NOT NULL, fix TEXT, state TEXT NOT NULL,
                    device_cleared BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY(device, id))
                """,
                "CREATE INDEX alerts_open ON alerts(device_cleared, pressed_ms)",
                """
                CREATE TABLE commands(
                    row_id BIGSERIAL UNIQUE, nonce TEXT PRIMARY KEY, device TEXT NOT NULL, alert TEXT NOT NULL,
                    action TEXT NOT NULL, envelope TEXT NOT NULL, expires_ms BIGINT NOT NULL,
                    acked BOOLEAN NOT NULL DEFAULT false)
                """,
                "CREATE INDEX commands_by_device ON commands(device, acked)",
                """
                CREATE TABLE findings(
                    row_id BIGSERIAL PRIMARY KEY, device TEXT NOT NULL, seq BIGINT NOT NULL, finding TEXT NOT NULL)
                """,
                "CREATE INDEX findings_by_device ON findings(device)",
                """
                CREATE TABLE request_nonces(
                    device TEXT NOT NULL, nonce TEXT NOT NULL, time_ms BIGINT NOT NULL, PRIMARY KEY(device, nonce))
                """,
            ]),
        PostgresMigration(
            version: 2,
            summary: "the operator desk: accounts, device metadata, the append-only audit log, dispatches",
            statements: [
                """
                CREATE TABLE users(
                    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, token_hash TEXT UNIQUE,
                    created_ms BIGINT NOT NULL)
                """,
                """
                CREATE TABLE device_meta(
                    device TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', registration TEXT NOT NULL DEFAULT '',
                    route TEXT NOT NULL DEFAULT '', phone TEXT NOT NULL DEFAULT '',
                    responder BOOLEAN NOT NULL DEFAULT false)
                """,
                """
                CREATE TABLE audit(
                    id BIGSERIAL PRIMARY KEY, time_ms BIGINT NOT NULL, user_name TEXT NOT NULL, role TEXT NOT NULL,
                    action TEXT NOT NULL, device TEXT NOT NULL, alert TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '')
                """,
                "CREATE INDEX audit_by_alert ON audit(device, alert)",
                """
                CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
                """,
                """
                CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
                    FOR EACH ROW EXECUTE FUNCTION audit_refuse()
                """,
                "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit EXECUTE FUNCTION audit_refuse()",
                """
                CREATE TABLE dispatches(
                    device TEXT NOT NULL, alert TEXT NOT NULL, responder TEXT NOT NULL, stage TEXT NOT NULL,
                    time_ms BIGINT NOT NULL, PRIMARY KEY(device, alert, responder))
                """,
                """
                CREATE FUNCTION desk_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_notify('panicbridge_desk', ''); RETURN NULL; END $$
                """,
                """
                CREATE TRIGGER alerts_changed AFTER INSERT OR UPDATE ON alerts
                    FOR EACH STATEMENT EXECUTE FUNCTION desk_changed()
                """,
                """
                CREATE TRIGGER audit_changed AFTER INSERT ON audit FOR EACH STATEMENT EXECUTE FUNCTION desk_changed()
                """,
                """
                CREATE TRIGGER dispatches_changed AFTER INSERT OR UPDATE ON dispatches
                    FOR EACH STATEMENT EXECUTE FUNCTION desk_changed()
                """,
                """
                CREATE TRIGGER meta_changed AFTER INSERT OR UPDATE ON device_meta
                    FOR EACH STATEMENT EXECUTE FUNCTION desk_changed()
                """,
            ]),
        // Sessions in the database: an operator logged in on one instance is logged in on all of them.
        PostgresMigration(
            version: 3, summary: "desk sessions (hash of the secret, user, CSRF token, start, last use)",
            statements: [
                """
                CREATE TABLE sessions(
                    id_hash TEXT PRIMARY KEY, "user" TEXT NOT NULL, csrf TEXT NOT NULL, started_ms BIGINT NOT NULL,
                    last_used_ms BIGINT NOT NULL)
                """,
                #"CREATE INDEX sessions_by_user ON sessions("user")"#,
            ]),
        // Several API tokens per account, each with an id to list and revoke it by, and its last use. The one token
        // an account had moves over; `users.token_hash` is no longer read.
        PostgresMigration(
            version: 4, summary: "API tokens (id, account, hash of the secret, created, last used)",
            statements: [
                """
                CREATE TABLE api_tokens(
                    id TEXT PRIMARY KEY, "user" TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_ms BIGINT NOT NULL,
                    last_used_ms BIGINT)
                """,
                #"CREATE INDEX api_tokens_by_user ON api_tokens("user")"#,
                #"""
                INSERT INTO api_tokens(id, "user", hash, created_ms)
                SELECT 'tok_' || substr(token_hash, 1, 16), name, token_hash, created_ms FROM users
                WHERE token_hash IS NOT NULL
                """#,
                "UPDATE users SET token_hash = NULL",
            ]),
        // The evidence log (docs/evidence.md): one leaf per exported bundle, append-only, and its signed checkpoints.
        PostgresMigration(
            version: 5, summary: "the append-only evidence log (leaves, signed checkpoints)",
            statements: [
                "CREATE TABLE evidence_log(idx BIGINT PRIMARY KEY, leaf TEXT NOT NULL UNIQUE, time_ms BIGINT NOT NULL)",
                """
                CREATE TABLE evidence_checkpoints(size BIGINT PRIMARY KEY, note TEXT NOT NULL, time_ms BIGINT NOT NULL)
                """,
                """
                CREATE FUNCTION evidence_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'the evidence log is append-only'; END $$
                """,
                """
                CREATE TRIGGER evidence_log_append_only BEFORE UPDATE OR DELETE ON evidence_log
                    FOR EACH ROW EXECUTE FUNCTION evidence_refuse()
                """,
                """
                CREATE TRIGGER evidence_checkpoints_append_only BEFORE UPDATE OR DELETE ON evidence_checkpoints
                    FOR EACH ROW EXECUTE FUNCTION evidence_refuse()
                """,
                "CREATE TRIGGER evidence_log_no_truncate BEFORE TRUNCATE ON evidence_log EXECUTE FUNCTION evidence_refuse()",
            ]),
        PostgresMigration(
            version: 6, summary: "device make, model and serial / IMEI (the §63 certificate)",
            statements: [
                """
                ALTER TABLE device_meta ADD COLUMN make TEXT NOT NULL DEFAULT '',
                    ADD COLUMN model TEXT NOT NULL DEFAULT '', ADD COLUMN serial TEXT NOT NULL DEFAULT ''
                """
            ]),
        // Staged rollouts (docs/configuration.md → *Staged rollouts*): the control room's own device groups, each
        // rollout (its state and a revision that makes a second instance's stale step write nothing), its devices.
        PostgresMigration(
            version: 7, summary: "device groups and staged rollouts (rollouts, rollout_devices)",
            statements: [
                "CREATE TABLE device_groups(device TEXT PRIMARY KEY, fleet_group TEXT NOT NULL)",
                "CREATE INDEX device_groups_by_group ON device_groups(fleet_group)",
                """
                CREATE TABLE rollouts(
                    id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, fleet_group TEXT NOT NULL, payload TEXT NOT NULL,
                    stages TEXT NOT NULL, max_failed BIGINT NOT NULL, wait_ms BIGINT NOT NULL,
                    lifetime_ms BIGINT NOT NULL, state TEXT NOT NULL, stage BIGINT NOT NULL,
                    accepted_failures BIGINT NOT NULL, revision BIGINT NOT NULL, created_ms BIGINT NOT NULL,
                    created_by TEXT NOT NULL)
                """,
                """
                CREATE TABLE rollout_devices(
                    rollout BIGINT NOT NULL, device TEXT NOT NULL, stage BIGINT NOT NULL, state TEXT NOT NULL,
                    version TEXT, alert TEXT, pushed_ms BIGINT, reason TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY(rollout, device))
                """,
            ]),
        // The change stream: every kind of change the desk shows sends `NOTIFY panicbridge_desk` naming its table
        // — positions (records) included, so a record ingested by one instance reaches the pages another serves.
        // Statement-level: one notification per statement (an intake group inserts its records in one), and
        // PostgreSQL folds identical ones in a transaction. A records statement that stored only positions names
        // their devices (`positions d1 d2 …`, while that stays short) so a listener can tell whether a page shows
        // any of them; any other record, or too many devices, is `records`.
        PostgresMigration(
            version: 8, summary: "the change stream: records NOTIFY too, each notification naming its table",
            statements: [
                """
                CREATE OR REPLACE FUNCTION desk_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_notify('panicbridge_desk', TG_TABLE_NAME); RETURN NULL; END $$
                """,
                """
                CREATE FUNCTION records_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                DECLARE devices TEXT; other BOOLEAN;
                BEGIN
                    SELECT string_agg(DISTINCT device, ' '), bool_or(kind <> 'position') INTO devices, other
                    FROM stored_records;
                    IF devices IS NULL THEN RETURN NULL; END IF;
                    PERFORM pg_notify('panicbridge_desk',
                        CASE WHEN other OR length(devices) > 7000 THEN 'records' ELSE 'positions ' || devices END);
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER records_changed AFTER INSERT ON records REFERENCING NEW TABLE AS stored_records
                    FOR EACH STATEMENT EXECUTE FUNCTION records_changed()
                """,
            ]),
        // The desk's fleet layer (`VehiclePosition`): each vehicle's newest fix, and a change counter a page follows.
        // Filled as records arrive: a database from before this step shows each vehicle from its next record on.
        PostgresMigration(
            version: 9, summary: "each vehicle's newest position (device_positions), for the desk's fleet map",
            statements: [
                "CREATE SEQUENCE device_positions_changed",
                """
                CREATE TABLE device_positions(
                    device TEXT PRIMARY KEY, seq BIGINT NOT NULL, time_ms BIGINT NOT NULL, lat DOUBLE PRECISION NOT NULL,
                    lon DOUBLE PRECISION NOT NULL, course DOUBLE PRECISION, fix_age_ms BIGINT NOT NULL,
                    changed BIGINT NOT NULL)
                """,
                "CREATE INDEX device_positions_changed_idx ON device_positions(changed)",
            ]),
        // The desk's history (`closedAlerts`) reads one page from an index, not every alert ever stored.
        PostgresMigration(
            version: 10, summary: "alerts indexed by press, for the desk's history",
            statements: ["CREATE INDEX alerts_by_press ON alerts(pressed_ms, device, seq)"]),
    ]

    /// Brings the schema up to date, each step in its own transaction; concurrent instances wait on one advisory
    /// lock, so a step runs once. Returns the versions applied.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await probe()
        do {
            try await client.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations(
                    version INTEGER PRIMARY KEY, summary TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
        } catch {
            throw PostgresStoreError.cannotConnect(url.description, PostgresStoreError.reason(error))
        }
        var applied: [Int] = []
        for migration in Self.migrations {
            do {
                let ran = try await client.withTransaction(logger: logger) { connection in
                    // 0x5042 "PB": one lock for every control room's migrations on this database.
                    try await connection.query("SELECT pg_advisory_xact_lock(20546)", logger: logger)
                    let done = try await connection.query(
                        "SELECT 1 FROM schema_migrations WHERE version = \(migration.version)", logger: logger
                    ).collect()
                    guard done.isEmpty else { return false }
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO schema_migrations(version, summary) VALUES(\(migration.version), \(migration.summary))",
                        logger: logger)
                    return true
                }
                if ran { applied.append(migration.version) }
            } catch {
                throw PostgresStoreError.migrationFailed(
                    version: migration.version, summary: migration.summary, PostgresStoreError.reason(error))
            }
        }
        return applied
    }
}
