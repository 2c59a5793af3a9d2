import PanicSQLite

extension SQLiteControlRoomStore {
    /// The control room's schema, one numbered step at a time (`PRAGMA user_version` is the last step applied).
    /// Step 1 is the schema every control room has had since the first release, so existing files open unchanged.
    static let migrations: [SQLiteMigration] = [
        SQLiteMigration(
            version: 1, summary: "devices, records, alerts, commands and findings tables",
            sql: """
                CREATE TABLE devices(id TEXT PRIMARY KEY, kid TEXT NOT NULL UNIQUE, jwk TEXT NOT NULL);
                CREATE TABLE records(
                    device TEXT NOT NULL, seq INTEGER NOT NULL, uuid TEXT NOT NULL, kind TEXT NOT NULL,
                    time_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, hash TEXT NOT NULL, prev TEXT,
                    envelope TEXT NOT NULL, PRIMARY KEY(device, seq));
                CREATE UNIQUE INDEX records_by_uuid ON records(device, uuid);
                CREATE TABLE alerts(
                    device TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, input TEXT,
                    pressed_ms INTEGER NOT NULL, time_source TEXT NOT NULL, received_ms INTEGER NOT NULL,
                    fix TEXT, state TEXT NOT NULL, device_cleared INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY(device, id));
                CREATE TABLE commands(
                    nonce TEXT PRIMARY KEY, device TEXT NOT NULL, alert TEXT NOT NULL, action TEXT NOT NULL,
                    envelope TEXT NOT NULL, expires_ms INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX commands_by_device ON commands(device, acked);
                CREATE TABLE findings(device TEXT NOT NULL, seq INTEGER NOT NULL, finding TEXT NOT NULL);
                """),
        // Every change to `devices`, by this process or another (`controlroom devices add` beside a running
        // server), bumps the generation, so a server sees it with one cheap read (`DeviceRegistry.current`).
        SQLiteMigration(
            version: 2, summary: "registry generation, bumped by triggers on every change to devices",
            sql: """
                CREATE TABLE registry(generation INTEGER NOT NULL);
                INSERT INTO registry(generation) VALUES(0);
                CREATE TRIGGER registry_added AFTER INSERT ON devices
                    BEGIN UPDATE registry SET generation = generation + 1; END;
                CREATE TRIGGER registry_removed AFTER DELETE ON devices
                    BEGIN UPDATE registry SET generation = generation + 1; END;
                CREATE TRIGGER registry_changed AFTER UPDATE ON devices
                    BEGIN UPDATE registry SET generation = generation + 1; END;
                """),
        SQLiteMigration(
            version: 3,
            summary: "the operator desk: accounts, device metadata, the append-only audit log, dispatches",
            sql: """
                CREATE TABLE users(
                    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, token_hash TEXT UNIQUE,
                    created_ms INTEGER NOT NULL);
                CREATE TABLE device_meta(
                    device TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', registration TEXT NOT NULL DEFAULT '',
                    route TEXT NOT NULL DEFAULT '', phone TEXT NOT NULL DEFAULT '',
                    responder INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE audit(
                    id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, user TEXT NOT NULL,
                    role TEXT NOT NULL, action TEXT NOT NULL, device TEXT NOT NULL, alert TEXT NOT NULL,
                    reason TEXT NOT NULL DEFAULT '');
                CREATE INDEX audit_by_alert ON audit(device, alert);
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TABLE dispatches(
                    device TEXT NOT NULL, alert TEXT NOT NULL, responder TEXT NOT NULL, stage TEXT NOT NULL,
                    time_ms INTEGER NOT NULL, PRIMARY KEY(device, alert, responder));
                """),
        // Sessions in the database: a restart logs nobody out, and a password change ends the old sessions.
        SQLiteMigration(
            version: 4, summary: "desk sessions (hash of the secret, user, CSRF token, start, last use)",
            sql: """
                CREATE TABLE sessions(
                    id_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, started_ms INTEGER NOT NULL,
                    last_used_ms INTEGER NOT NULL);
                CREATE INDEX sessions_by_user ON sessions(user);
                """),
        // Several API tokens per account, each with an id to list and revoke it by, and its last use. The one token
        // an account had moves over; `users.token_hash` is no longer read.
        SQLiteMigration(
            version: 5, summary: "API tokens (id, account, hash of the secret, created, last used)",
            sql: """
                CREATE TABLE api_tokens(
                    id TEXT PRIMARY KEY, user TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL,
                    last_used_ms INTEGER);
                CREATE INDEX api_tokens_by_user ON api_tokens(user);
                INSERT INTO api_tokens(id, user, hash, created_ms)
                    SELECT 'tok_' || substr(token_hash, 1, 16), name, token_hash, created_ms FROM users
                    WHERE token_hash IS NOT NULL;
                UPDATE users SET token_hash = NULL;
                """),
        // The evidence log (docs/evidence.md): one leaf per exported bundle, append-only, and its signed checkpoints.
        // IF NOT EXISTS: a file taken back to an earlier step (a test, a restored backup) keeps its log.
        SQLiteMigration(
            version: 6, summary: "the append-only evidence log (leaves, signed checkpoints)",
            sql: """
                CREATE TABLE IF NOT EXISTS evidence_log(
                    idx INTEGER PRIMARY KEY, leaf TEXT NOT NULL UNIQUE, time_ms INTEGER NOT NULL);
                CREATE TRIGGER IF NOT EXISTS evidence_log_no_update BEFORE UPDATE ON evidence_log
                    BEGIN SELECT RAISE(ABORT, 'the evidence log is append-only'); END;
                CREATE TRIGGER IF NOT EXISTS evidence_log_no_delete BEFORE DELETE ON evidence_log
                    BEGIN SELECT RAISE(ABORT, 'the evidence log is append-only'); END;
                CREATE TABLE IF NOT EXISTS evidence_checkpoints(
                    size INTEGER PRIMARY KEY, note TEXT NOT NULL, time_ms INTEGER NOT NULL);
                CREATE TRIGGER IF NOT EXISTS evidence_checkpoints_no_update BEFORE UPDATE ON evidence_checkpoints
                    BEGIN SELECT RAISE(ABORT, 'the evidence log is append-only'); END;
                CREATE TRIGGER IF NOT EXISTS evidence_checkpoints_no_delete BEFORE DELETE ON evidence_checkpoints
                    BEGIN SELECT RAISE(ABORT, 'the evidence log is append-only'); END;
                """),
        SQLiteMigration(
            version: 7, summary: "device make, model and serial / IMEI (the §63 certificate)",
            sql: """
                ALTER TABLE device_meta ADD COLUMN make TEXT NOT NULL DEFAULT '';
                ALTER TABLE device_meta ADD COLUMN model TEXT NOT NULL DEFAULT '';
                ALTER TABLE device_meta ADD COLUMN serial TEXT NOT NULL DEFAULT '';
                """),
        // Staged rollouts (docs/configuration.md → *Staged rollouts*): the control room's own device groups, each
        // rollout (its state and a revision that makes a second instance's stale step write nothing), its devices.
        // IF NOT EXISTS: a file taken back to an earlier step (a test, a restored backup) keeps its rollouts.
        SQLiteMigration(
            version: 8, summary: "device groups and staged rollouts (rollouts, rollout_devices)",
            sql: """
                CREATE TABLE IF NOT EXISTS device_groups(device TEXT PRIMARY KEY, fleet_group TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS device_groups_by_group ON device_groups(fleet_group);
                CREATE TABLE IF NOT EXISTS rollouts(
                    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, fleet_group TEXT NOT NULL,
                    payload TEXT NOT NULL, stages TEXT NOT NULL, max_failed INTEGER NOT NULL, wait_ms INTEGER NOT NULL,
                    lifetime_ms INTEGER NOT NULL, state TEXT NOT NULL, stage INTEGER NOT NULL,
                    accepted_failures INTEGER NOT NULL, revision INTEGER NOT NULL, created_ms INTEGER NOT NULL,
                    created_by TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS rollout_devices(
                    rollout INTEGER NOT NULL, device TEXT NOT NULL, stage INTEGER NOT NULL, state TEXT NOT NULL,
                    version TEXT, alert TEXT, pushed_ms INTEGER, reason TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY(rollout, device));
                """),
        // The desk's fleet layer (`VehiclePosition`): each vehicle's newest fix, and a change counter a page follows.
        // Filled as records arrive: a database from before this step shows each vehicle from its next record on.
        SQLiteMigration(
            version: 9, summary: "each vehicle's newest position (device_positions), for the desk's fleet map",
            sql: """
                CREATE TABLE IF NOT EXISTS device_positions(
                    device TEXT PRIMARY KEY, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL, lat REAL NOT NULL,
                    lon REAL NOT NULL, course REAL, fix_age_ms INTEGER NOT NULL, changed INTEGER NOT NULL);
                CREATE INDEX IF NOT EXISTS device_positions_changed ON device_positions(changed);
                """),
        // The desk's history and rows (`closedAlerts`, `alerts(.open)`) read an index, not every alert ever stored.
        SQLiteMigration(
            version: 10,
            summary: "alerts indexed by press (the desk's history reads one page) and by open state (the desk's rows)",
            sql: """
                CREATE INDEX IF NOT EXISTS alerts_by_press ON alerts(pressed_ms, device, seq);
                CREATE INDEX IF NOT EXISTS alerts_open ON alerts(device_cleared, pressed_ms);
                """),
    ]
}
