import Foundation
import PanicSQLite
import Testing

/// A scratch database file, removed with its WAL when released.
final class ScratchDatabase {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-\(UUID().uuidString).db").path
    }

    deinit { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
}

@Suite("Numbered migrations")
struct MigrationTests {
    let steps = [
        SQLiteMigration(version: 1, summary: "table t", sql: "CREATE TABLE t(a INTEGER NOT NULL)"),
        SQLiteMigration(version: 2, summary: "column b", sql: "ALTER TABLE t ADD COLUMN b TEXT"),
    ]

    @Test("a new database runs every step in order and records the last as its schema version")
    func fresh() throws {
        let scratch = ScratchDatabase()
        let connection = try SQLiteConnection(path: scratch.path)
        #expect(try connection.schemaVersion == 0)
        #expect(try connection.migrate(steps) == [1, 2])
        #expect(try connection.schemaVersion == 2)
        try connection.execute("INSERT INTO t(a, b) VALUES(1, 'x')")
    }

    @Test("a database at an older version runs only the later steps, and a current one runs none")
    func upgrade() throws {
        let scratch = ScratchDatabase()
        do {
            // As the first release left it: step 1's schema, user_version 1.
            let old = try SQLiteConnection(path: scratch.path)
            try old.execute("CREATE TABLE t(a INTEGER NOT NULL); PRAGMA user_version = 1;")
            try old.execute("INSERT INTO t(a) VALUES(7)")
        }
        let connection = try SQLiteConnection(path: scratch.path)
        #expect(try connection.migrate(steps) == [2])
        #expect(try connection.integer("SELECT a FROM t WHERE b IS NULL") == 7)
        #expect(try connection.migrate(steps).isEmpty)
    }

    @Test("a list not numbered 1, 2, 3 … is refused before anything runs")
    func misnumbered() throws {
        let scratch = ScratchDatabase()
        let connection = try SQLiteConnection(path: scratch.path)
        let skipping = [steps[0], SQLiteMigration(version: 3, summary: "skips 2", sql: "SELECT 1")]
        #expect(throws: SQLiteMigrationError.misnumbered(expected: 2, found: 3)) { try connection.migrate(skipping) }
        #expect(try connection.schemaVersion == 0)
        #expect(throws: SQLiteMigrationError.misnumbered(expected: 1, found: 2)) {
            try connection.migrate([steps[1]])
        }
    }

    @Test("a database from a newer program is refused, not downgraded")
    func newer() throws {
        let scratch = ScratchDatabase()
        let connection = try SQLiteConnection(path: scratch.path)
        try connection.execute("PRAGMA user_version = 5")
        #expect(throws: SQLiteMigrationError.newerDatabase(path: scratch.path, version: 5, known: 2)) {
            try connection.migrate(steps)
        }
    }

    @Test("a failing step rolls back: neither its changes nor its number stay")
    func failingStep() throws {
        let scratch = ScratchDatabase()
        let connection = try SQLiteConnection(path: scratch.path)
        let broken = [steps[0], SQLiteMigration(version: 2, summary: "bad", sql: "CREATE TABLE u(x); NOT SQL")]
        #expect(throws: SQLiteError.self) { try connection.migrate(broken) }
        #expect(try connection.schemaVersion == 1)
        #expect(try connection.integer("SELECT count(*) FROM sqlite_master WHERE name = 'u'") == 0)
    }

    @Test("statement(_:) compiles a statement once and hands the same one back")
    func cachedStatements() throws {
        let scratch = ScratchDatabase()
        let connection = try SQLiteConnection(path: scratch.path)
        try connection.migrate(steps)
        let first = try connection.statement("SELECT count(*) FROM t")
        #expect(try connection.statement("SELECT count(*) FROM t") === first)
        #expect(try connection.statement("SELECT 1") !== first)
    }
}
