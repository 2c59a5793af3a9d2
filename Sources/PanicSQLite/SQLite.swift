import CSQLite

/// A failed SQLite call. It names the call, the result codes and the database path — never the values bound
/// to a statement, because records carry locations that must stay out of logs.
public struct SQLiteError: Error, Equatable, CustomStringConvertible {
    /// The SQLite C function that failed (`sqlite3_open_v2`, `sqlite3_step`, ...).
    public var call: String
    /// The primary result code (`SQLITE_FULL` is 13).
    public var code: Int32
    /// The extended result code.
    public var extendedCode: Int32
    /// SQLite's message (`sqlite3_errmsg`), which names no bound value.
    public var message: String
    /// The database file.
    public var path: String

    /// Whether the disk (or the configured page limit) is full.
    public var isFull: Bool { code == SQLITE_FULL }
    /// Whether the file is not a database or is damaged.
    public var isCorrupt: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }
    /// The WAL's shared-memory index (`-shm`) could not be created, grown or mapped: on a full file system it has no
    /// blocks. `PRAGMA locking_mode = EXCLUSIVE` before the first read keeps that index on the heap instead.
    public var isSharedMemoryFailure: Bool {
        // SQLITE_IOERR_SHMOPEN, _SHMSIZE, _SHMMAP (IOERR | 18, 19, 21 << 8: sqlite3.h's macros do not import).
        code == SQLITE_IOERR
            && [SQLITE_IOERR | 18 << 8, SQLITE_IOERR | 19 << 8, SQLITE_IOERR | 21 << 8].contains(extendedCode)
    }

    public var description: String {
        "\(path): \(call) failed: \(message) (SQLite result \(code), extended \(extendedCode))"
    }
}

/// One SQLite connection, owned: closed when released. Not thread-safe by itself: its owner (the outbox, the
/// control room) serializes access, typically behind a `Mutex`.
public final class SQLiteConnection {
    let handle: OpaquePointer
    /// The database file's path.
    public let path: String
    /// Statements compiled once and reused, keyed by their SQL text (see `statement(_:)`).
    private var cache: [String: SQLiteStatement] = [:]

    /// Opens (creating when allowed) the database at `path`; with `readOnly`, only for reading (never created).
    public init(path: String, create: Bool = true, readOnly: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags =
            readOnly
            ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let error = SQLiteError(
                call: "sqlite3_open_v2", code: rc & 0xff, extendedCode: db.map { sqlite3_extended_errcode($0) } ?? rc,
                message: db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc)),
                path: path)
            sqlite3_close_v2(db)
            throw error
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        // Finalize the cached statements first; `sqlite3_close_v2` would otherwise keep the handle open until they go.
        cache.removeAll()
        sqlite3_close_v2(handle)
        walHook?.release()
    }

    /// The retained handler of `onWALCommit` (passed to SQLite as the hook's context).
    private var walHook: Unmanaged<WALHook>?

    private final class WALHook {
        let handler: (Int) -> Bool
        init(_ handler: @escaping (Int) -> Bool) { self.handler = handler }
    }

    /// Calls `handler` after every commit in WAL mode with the number of frames now in the WAL (nil removes it);
    /// when it returns true, a `PASSIVE` checkpoint runs there and then, inside the commit (what SQLite's own
    /// auto-checkpoint does every time). It runs on the committing thread: keep it to a signal. Replaces SQLite's
    /// auto-checkpoint hook (`wal_autocheckpoint`), so whoever sets it owns checkpointing.
    /// The corresponding C function is `sqlite3_wal_hook`.
    public func onWALCommit(_ handler: ((Int) -> Bool)?) {
        let previous = walHook
        walHook = handler.map { Unmanaged.passRetained(WALHook($0)) }
        if let hook = walHook {
            sqlite3_wal_hook(
                handle,
                { context, db, name, frames in
                    guard let context else { return SQLITE_OK }
                    if Unmanaged<WALHook>.fromOpaque(context).takeUnretainedValue().handler(Int(frames)) {
                        _ = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                    }
                    return SQLITE_OK
                }, hook.toOpaque())
        } else {
            sqlite3_wal_hook(handle, nil, nil)
        }
        previous?.release()
    }

    /// Resets every statement of this connection still stepping, and returns how many there were. A statement
    /// left mid-result keeps its read transaction open: on a reader connection that would pin an old snapshot
    /// (later reads would not see newer commits) and keep every checkpoint from getting past it.
    @discardableResult
    public func resetBusyStatements() -> Int {
        var count = 0
        var statement = sqlite3_next_stmt(handle, nil)
        while let current = statement {
            if sqlite3_stmt_busy(current) != 0 {
                sqlite3_reset(current)
                count += 1
            }
            statement = sqlite3_next_stmt(handle, current)
        }
        return count
    }

    /// Runs a `PASSIVE` checkpoint on this connection (never waits for, nor blocks, a writer or a reader): copies
    /// the WAL's committed frames into the database file as far as no reader's snapshot needs them. True when it
    /// copied every frame (the next write may rewind the WAL). The checkpointers of the outbox and the control
    /// room's store run it on a connection of their own, beside the writer's hook (`onWALCommit`).
    public func checkpointPassive() throws(SQLiteError) -> Bool {
        let statement = try statement("PRAGMA wal_checkpoint(PASSIVE)")
        defer { statement.reset() }
        guard try statement.step() else { return false }
        // Columns: busy (0 when it ran to the end), frames in the WAL, frames copied.
        return statement.integer(0) == 0 && statement.integer(1) == statement.integer(2)
    }

    func error(_ call: String, _ rc: Int32) -> SQLiteError {
        SQLiteError(
            call: call, code: rc & 0xff, extendedCode: sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)), path: path)
    }

    /// Runs SQL text with no parameters (one or more statements).
    public func execute(_ sql: String) throws(SQLiteError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error("sqlite3_exec", rc) }
    }

    /// The cached compiled statement for `sql`, compiled on first use. It is shared by every caller with the same
    /// text: bind, step and reset it before anyone else uses it (the owner's lock makes that so).
    public func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = cache[sql] { return cached }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    /// Compiles a statement (not cached: for one-off queries).
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error("sqlite3_prepare_v3", rc) }
        return SQLiteStatement(statement, connection: self)
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // After some errors (SQLITE_FULL among them) SQLite has already rolled back; ignore that case.
            if sqlite3_get_autocommit(handle) == 0 { _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// The first column of the first row of `sql`, as an integer.
    public func integer(_ sql: String) throws(SQLiteError) -> Int64? {
        let statement = try prepare(sql)
        return try statement.step() ? statement.integer(0) : nil
    }

    /// The first column of the first row of `sql`, as text.
    public func text(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        return try statement.step() ? statement.text(0) : nil
    }

    /// Runs SQLite's `PRAGMA quick_check`; throws an error that `isCorrupt` when the database is damaged.
    public func quickCheck() throws(SQLiteError) {
        let check = try text("PRAGMA quick_check") ?? "no result"
        guard check == "ok" else {
            throw SQLiteError(
                call: "integrity", code: SQLITE_CORRUPT, extendedCode: SQLITE_CORRUPT, message: check, path: path)
        }
    }

    /// Virtual-machine steps the cached statements (`statement(_:)`) ran since the last call, summed, and their
    /// counters reset (`sqlite3_stmt_status`, `SQLITE_STMTSTATUS_VM_STEP`): the work a call did, independent of the
    /// machine's speed, for tests that bound it by what the call returns rather than by what the database holds.
    package func takeVMSteps() -> Int {
        cache.values.reduce(0) { $0 + Int(sqlite3_stmt_status($1.handle, SQLITE_STMTSTATUS_VM_STEP, 1)) }
    }

    /// Runs of the cached statements (`statement(_:)`) since the last call, summed (`SQLITE_STMTSTATUS_RUN`: each
    /// statement stepped to its first row or its end counts once), and their counters reset: how many statements a
    /// call ran, for tests that bound it per batch rather than per row.
    package func takeStatementRuns() -> Int {
        cache.values.reduce(0) { $0 + Int(sqlite3_stmt_status($1.handle, SQLITE_STMTSTATUS_RUN, 1)) }
    }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes(handle)) }
}

/// A compiled statement; bind with `bind`, run with `step`, read columns, `reset` to reuse.
public final class SQLiteStatement {
    let handle: OpaquePointer
    unowned let connection: SQLiteConnection

    init(_ handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    // SQLITE_TRANSIENT (a macro Swift cannot import): SQLite copies the bytes before bind returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Binds values to parameters 1...n (Int64, String, Double, nil).
    @discardableResult
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) -> SQLiteStatement {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let number): rc = sqlite3_bind_int64(handle, index, number)
            case .text(let text): rc = sqlite3_bind_text(handle, index, text, -1, SQLiteStatement.transient)
            case .real(let number): rc = sqlite3_bind_double(handle, index, number)
            case .null: rc = sqlite3_bind_null(handle, index)
            }
            guard rc == SQLITE_OK else { throw connection.error("sqlite3_bind", rc) }
        }
        return self
    }

    /// Advances: true when a row is available, false when done.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let error = connection.error("sqlite3_step", rc)
        sqlite3_reset(handle)
        throw error
    }

    /// Steps to completion, ignoring rows.
    public func run() throws(SQLiteError) {
        while try step() {}
        sqlite3_reset(handle)
    }

    /// Resets the statement for reuse (bindings are kept).
    public func reset() { sqlite3_reset(handle) }

    /// Integer value of column `index` of the current row.
    public func integer(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    /// Floating-point value of column `index` of the current row.
    public func real(_ index: Int32) -> Double { sqlite3_column_double(handle, index) }

    /// Whether column `index` is NULL.
    public func isNull(_ index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }

    /// Bytes of column `index` of the current row (a BLOB's, or a TEXT's UTF-8).
    public func blob(_ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, index))
        guard count > 0, let pointer = sqlite3_column_blob(handle, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Text value of column `index` of the current row.
    public func text(_ index: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, index) else { return "" }
        return String(cString: pointer)
    }
}

/// A value bound to a statement parameter.
public enum SQLiteValue: Sendable, Hashable {
    case integer(Int64)
    case text(String)
    case real(Double)
    case null
}
