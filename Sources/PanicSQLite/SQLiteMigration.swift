/// One numbered step of a database's schema. A database's `PRAGMA user_version` is the number of the last step
/// applied to it; steps are never edited once released, only appended.
public struct SQLiteMigration: Sendable, Hashable {
    /// The schema version this step brings the database to: 1 for the first step, then 2, 3, ...
    public var version: Int64
    /// What the step does, for logs and errors.
    public var summary: String
    /// The SQL text of the step (one or more statements; no `PRAGMA user_version`, the migrator sets it).
    public var sql: String

    public init(version: Int64, summary: String, sql: String) {
        self.version = version
        self.summary = summary
        self.sql = sql
    }
}

/// Why a database's schema could not be brought up to date (beyond a failed SQLite call).
public enum SQLiteMigrationError: Error, Equatable, CustomStringConvertible {
    /// The list is not numbered 1, 2, 3, ... in order: `found` stands where `expected` should.
    case misnumbered(expected: Int64, found: Int64)
    /// The database was written by a newer program: its schema version is above every step this one knows.
    case newerDatabase(path: String, version: Int64, known: Int64)

    public var description: String {
        switch self {
        case .misnumbered(let expected, let found):
            "migration list is misnumbered: step \(found) stands where step \(expected) should"
        case .newerDatabase(let path, let version, let known):
            "\(path): schema version \(version) is newer than this program knows (\(known)); use a newer release"
        }
    }
}

extension SQLiteConnection {
    /// The schema version recorded in the database (`PRAGMA user_version`; 0 for a new database).
    public var schemaVersion: Int64 {
        get throws(SQLiteError) { try integer("PRAGMA user_version") ?? 0 }
    }

    /// Brings the schema up to date: every step of `migrations` above the database's schema version runs, in
    /// order, each in its own transaction that also records its number. Returns the versions applied (empty
    /// when the database was current).
    @discardableResult
    public func migrate(_ migrations: [SQLiteMigration]) throws -> [Int64] {
        for (index, migration) in migrations.enumerated() where migration.version != Int64(index + 1) {
            throw SQLiteMigrationError.misnumbered(expected: Int64(index + 1), found: migration.version)
        }
        let current = try schemaVersion
        let known = Int64(migrations.count)
        guard current <= known else {
            throw SQLiteMigrationError.newerDatabase(path: path, version: current, known: known)
        }
        var applied: [Int64] = []
        for migration in migrations where migration.version > current {
            try transaction {
                try execute(migration.sql)
                try execute("PRAGMA user_version = \(migration.version)")
            }
            applied.append(migration.version)
        }
        return applied
    }
}
