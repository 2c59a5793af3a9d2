import PanicSQLite

extension Outbox {
    /// The outbox's schema, one numbered step at a time (`PRAGMA user_version` is the last step applied). Step 1
    /// is the schema every outbox has had since the first release, so existing files open unchanged.
    static let migrations: [SQLiteMigration] = [
        SQLiteMigration(
            version: 1, summary: "chain, records, backends, delivery and meta tables",
            sql: """
                CREATE TABLE chain(device TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, last_hash TEXT);
                CREATE TABLE records(
                    seq INTEGER PRIMARY KEY, uuid TEXT NOT NULL, kind TEXT NOT NULL, priority INTEGER NOT NULL,
                    created_ms INTEGER NOT NULL, size INTEGER NOT NULL, envelope TEXT NOT NULL);
                CREATE INDEX records_by_priority ON records(priority, seq);
                CREATE TABLE backends(name TEXT PRIMARY KEY, backlog_order TEXT NOT NULL);
                CREATE TABLE delivery(
                    backend TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL,
                    attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,
                    PRIMARY KEY(backend, seq)) WITHOUT ROWID;
                CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """),
        // The lanes' claims read `priority`; step 1 wrote it from `isAlert`, which left clears in the backlog lane.
        SQLiteMigration(
            version: 2, summary: "cleared records are urgent (alert lane)",
            sql: "UPDATE records SET priority = 0 WHERE kind = 'cleared'"),
        // Status and health figures come from counters kept as deliveries are marked, not from a scan of the delivery
        // table per record (quadratic: seconds at 10k records, over a minute at 50k, under the append lock).
        SQLiteMigration(
            version: 3, summary: "records count the backends that have them (delivered_count), indexed",
            sql: """
                ALTER TABLE records ADD COLUMN delivered_count INTEGER NOT NULL DEFAULT 0;
                UPDATE records SET delivered_count = (
                    SELECT count(*) FROM backends b JOIN delivery d ON d.backend = b.name AND d.seq = records.seq
                    WHERE d.state = 'delivered');
                CREATE INDEX records_by_delivered ON records(delivered_count, created_ms);
                """),
        // The SMS fallback records each message (alert, number) before and after the modem's dialogue, so a power cut
        // neither sends it twice nor forgets it (docs/outbox.md → SMS).
        SQLiteMigration(
            version: 4, summary: "sms table: one row per alert and number, its state (attempting, sent, failed)",
            sql: """
                CREATE TABLE sms(
                    alert_seq INTEGER NOT NULL, number TEXT NOT NULL, state TEXT NOT NULL,
                    updated_ms INTEGER NOT NULL, reference INTEGER, detail TEXT,
                    PRIMARY KEY(alert_seq, number)) WITHOUT ROWID;
                """),
        // Claims read what a backend still lacks from a table of exactly that, kept as records are claimed, delivered,
        // failed and evicted: before, each claim walked the records in order and stepped over every delivered one
        // (25 ms of CPU per claim with 39k delivered rows ahead: a backlog drained in quadratic time). Existing
        // outboxes carry over: every record a backend has no delivery row for, or one that is pending again.
        SQLiteMigration(
            version: 5, summary: "pending table: per backend and lane, the records it still lacks (the claims' index)",
            sql: """
                CREATE TABLE pending(
                    backend TEXT NOT NULL, priority INTEGER NOT NULL, seq INTEGER NOT NULL, created_ms INTEGER NOT NULL,
                    PRIMARY KEY(backend, priority, seq)) WITHOUT ROWID;
                CREATE INDEX pending_by_time ON pending(backend, priority, created_ms);
                INSERT INTO pending(backend, priority, seq, created_ms)
                    SELECT b.name, r.priority, r.seq, r.created_ms FROM backends b CROSS JOIN records r
                    WHERE NOT EXISTS (
                        SELECT 1 FROM delivery d WHERE d.backend = b.name AND d.seq = r.seq AND d.state != 'pending');
                """),
        // `panicd outbox status` reads the counters the outbox keeps, not a count over its rows (11.5 / 23.1 / 55.6 ms at
        // 1k / 10k / 40k records before): each transaction that moves one writes it here. Filled at the next open.
        SQLiteMigration(
            version: 6, summary: "tally table: the status counters, written by the transactions that move them",
            sql: "CREATE TABLE tally(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"),
    ]
}
