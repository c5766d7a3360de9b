import CSQLite
import Foundation

/// A value bound to, or read from, a SQLite statement.
enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}

/// One SQLite connection and its cache of prepared statements.
///
/// Not thread-safe by itself: ``LocalStore`` is its only owner and serialises every call.
final class Database {
    let handle: OpaquePointer
    private var statements: [String: Statement] = [:]
    /// Statements of dynamic SQL (queries), least recently used first; bounded.
    private var dynamicOrder: [String] = []
    static let dynamicStatementLimit = 32
    /// Statements that returned a row and were not stepped to the end: they keep a read
    /// transaction open (blocking COMMIT and WAL checkpoints) until reset.
    private var active: [Statement] = []
    private var isOpen = true

    /// Where and how to open the file.
    struct Options {
        var path: String?            // nil: in-memory
        var readOnly = false
        var synchronousFull = false
        var busyTimeoutMilliseconds: Int32 = 5_000
    }

    init(_ options: Options) throws(StoreError) {
        let path = options.path ?? ":memory:"
        if let file = options.path, !options.readOnly { try Database.createPrivateFile(at: file) }
        var db: OpaquePointer?
        let flags = (options.readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open database"
            if let db { sqlite3_close_v2(db) }
            throw StoreError(resultCode: rc & 0xFF, extendedResultCode: rc, message: message, sql: nil)
        }
        // SQLite quietly opens a write-protected file read-only. Going on would fail only later,
        // after switching to WAL had created -wal and -shm files with the file's read-only mode:
        // they would keep the database read-only after the file's own mode is fixed.
        if !options.readOnly && sqlite3_db_readonly(db, "main") == 1 {
            sqlite3_close_v2(db)
            throw StoreError(resultCode: SQLITE_READONLY,
                             message: "\(path) opens read-only (a write-protected file or file system); SyncLayer needs to write it",
                             sql: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, options.busyTimeoutMilliseconds)
        do throws(StoreError) {
            if options.path != nil && !options.readOnly {
                // Debian builds SQLite with DEFAULT_WAL_SYNCHRONOUS=2, so NORMAL must be set on
                // every connection, after switching to WAL.
                let mode = try Database.retryingBusy(timeout: options.busyTimeoutMilliseconds) { () throws(StoreError) in
                    try scalarText("PRAGMA journal_mode=WAL")
                }
                finishStatements()
                if mode?.lowercased() != "wal" {
                    throw StoreError(resultCode: SQLITE_CANTOPEN, message: "cannot enable WAL (journal_mode=\(mode ?? "nil"))",
                                     sql: "PRAGMA journal_mode=WAL")
                }
            }
            try execute("PRAGMA synchronous=\(options.synchronousFull ? "FULL" : "NORMAL")")
            try execute("PRAGMA temp_store=MEMORY")
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Runs `body` again while SQLite answers SQLITE_BUSY without calling the busy handler
    /// (it does so to avoid deadlocks, e.g. when switching to WAL), for up to `timeout` ms.
    static func retryingBusy<T>(timeout: Int32, _ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        var waited: Int32 = 0
        while true {
            do {
                return try body()
            } catch where error.resultCode == SQLITE_BUSY && waited < timeout {
                usleep(5_000)
                waited += 5
            }
        }
    }

    /// Creates the file with mode 0600 before SQLite opens it; SQLite gives its -wal and -shm
    /// files the same mode.
    private static func createPrivateFile(at path: String) throws(StoreError) {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd >= 0 { _ = Foundation.close(fd); return }
        if errno == EEXIST { return }
        let reason = String(cString: strerror(errno))
        throw StoreError(resultCode: SQLITE_CANTOPEN, message: "cannot create \(path): \(reason)", sql: nil)
    }

    /// How many prepared statements are cached (tests and diagnostics).
    var statementCountForTesting: Int { statements.count }

    /// Resets every statement left mid-result. Called before COMMIT and after each read.
    func finishStatements() {
        for statement in active { statement.reset() }
        active.removeAll(keepingCapacity: true)
    }

    fileprivate func activate(_ statement: Statement) { active.append(statement) }

    func close() {
        guard isOpen else { return }
        active.removeAll()
        isOpen = false
        for statement in statements.values { statement.finalize() }
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    // MARK: Errors

    func error(_ rc: Int32, sql: String?) -> StoreError {
        StoreError(resultCode: rc & 0xFF, extendedResultCode: sqlite3_extended_errcode(handle),
                   message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    // MARK: Statements

    /// Runs statements that take no parameters (schema changes, pragmas).
    func execute(_ sql: String) throws(StoreError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql: sql) }
    }

    /// A prepared statement for `sql`, from the cache when it was prepared before.
    /// Its bindings are cleared and it is reset.
    ///
    /// - Parameter dynamic: the SQL is built per query (unbounded variety): it is kept in a
    ///   small LRU cache instead. Use it only where no other statement is in use.
    func statement(_ sql: String, dynamic: Bool = false) throws(StoreError) -> Statement {
        if dynamic, let index = dynamicOrder.firstIndex(of: sql) {
            dynamicOrder.remove(at: index)
            dynamicOrder.append(sql)
        }
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        if dynamic {
            if dynamicOrder.count >= Database.dynamicStatementLimit {
                let evicted = dynamicOrder.removeFirst()
                if let statement = statements.removeValue(forKey: evicted) {
                    active.removeAll { $0 === statement }
                    statement.finalize()
                }
            }
            dynamicOrder.append(sql)
        }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, sql: sql) }
        let statement = Statement(raw, sql: sql, database: self)
        statements[sql] = statement
        return statement
    }

    /// Runs one statement with its parameters and returns the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> Int {
        let statement = try statement(sql)
        try statement.bind(values)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// The first column of the first row, as text.
    func scalarText(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> String? {
        let statement = try statement(sql)
        try statement.bind(values)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    /// The first column of the first row, as an integer.
    func scalarInt(_ sql: String, _ values: [SQLValue] = []) throws(StoreError) -> Int64? {
        let statement = try statement(sql)
        try statement.bind(values)
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.int(0)
    }

    // MARK: Transactions

    var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`): all of it commits, or none.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        finishStatements()  // an open read snapshot would make BEGIN IMMEDIATE fail with BUSY_SNAPSHOT
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            finishStatements()
            try execute("COMMIT")
            return result
        } catch {
            finishStatements()
            // ROLLBACK can fail only if SQLite already rolled back (e.g. on SQLITE_FULL).
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }
}

/// A prepared statement, owned by its ``Database``.
final class Statement {
    private let raw: OpaquePointer
    let sql: String
    private unowned let database: Database

    init(_ raw: OpaquePointer, sql: String, database: Database) {
        self.raw = raw
        self.sql = sql
        self.database = database
    }

    func finalize() { sqlite3_finalize(raw) }

    private var isActive = false

    func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
        isActive = false
    }

    func bind(_ values: [SQLValue]) throws(StoreError) {
        for (offset, value) in values.enumerated() {
            try bind(value, at: Int32(offset + 1))
        }
    }

    func bind(_ value: SQLValue, at index: Int32) throws(StoreError) {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(raw, index)
        case .int(let i): rc = sqlite3_bind_int64(raw, index, i)
        case .double(let d): rc = sqlite3_bind_double(raw, index, d)
        case .text(let s):
            let count = Int32(s.utf8.count)
            rc = s.withCString { csqlite_bind_text_transient(raw, index, $0, count) }
        }
        guard rc == SQLITE_OK else { throw database.error(rc, sql: sql) }
    }

    /// Steps once: true when a row is available, false when done.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW:
            if !isActive {
                isActive = true
                database.activate(self)
            }
            return true
        case SQLITE_DONE:
            return false
        default:
            let error = database.error(rc, sql: sql)
            sqlite3_reset(raw)
            throw error
        }
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }
    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(raw, column) }

    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(raw, column) else { return nil }
        let count = Int(sqlite3_column_bytes(raw, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// The column's bytes, valid only until the next step; for parsing without a copy.
    func withBytes<R>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let pointer = sqlite3_column_text(raw, column)
        let count = Int(sqlite3_column_bytes(raw, column))
        return try body(UnsafeBufferPointer(start: pointer, count: count))
    }
}
