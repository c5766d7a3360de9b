import Foundation
import GRDBSQLite

/// The baseline: the SQLite C API with prepared statements, nothing in between.
final class RawSQLite {
    let handle: OpaquePointer

    /// Opens `path` as the SDK does: WAL, synchronous=NORMAL.
    init(path: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
              let db else { throw BenchFailure("cannot open \(path)") }
        handle = db
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
    }

    deinit { sqlite3_close_v2(handle) }

    static var version: String { String(cString: sqlite3_libversion()) }

    func execute(_ sql: String) throws {
        guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else {
            throw BenchFailure("\(sql): \(String(cString: sqlite3_errmsg(handle)))")
        }
    }

    func prepare(_ sql: String) throws -> RawStatement {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK,
              let statement else { throw BenchFailure("\(sql): \(String(cString: sqlite3_errmsg(handle)))") }
        return RawStatement(statement, db: handle)
    }
}

/// SQLITE_TRANSIENT is a cast macro Swift cannot import.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

final class RawStatement {
    let raw: OpaquePointer
    let db: OpaquePointer

    init(_ raw: OpaquePointer, db: OpaquePointer) {
        self.raw = raw
        self.db = db
    }

    deinit { sqlite3_finalize(raw) }

    func bind(_ index: Int32, _ text: String) {
        _ = text.withCString { sqlite3_bind_text(raw, index, $0, -1, transient) }
    }

    func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(raw, index, value) }

    /// Steps to the end (an INSERT), then resets.
    func run() throws {
        let rc = sqlite3_step(raw)
        sqlite3_reset(raw)
        guard rc == SQLITE_DONE else { throw BenchFailure("step: \(String(cString: sqlite3_errmsg(db)))") }
    }

    func step() -> Bool { sqlite3_step(raw) == SQLITE_ROW }
    func reset() { sqlite3_reset(raw) }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(raw, column) else { return "" }
        let count = Int(sqlite3_column_bytes(raw, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }
}

/// The SDK's two tables (documents and outbox, with their indexes), for the baselines to write
/// the same rows into.
enum BaselineSchema {
    static let sql = """
        CREATE TABLE IF NOT EXISTS sl_documents (
            collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, local_version INTEGER NOT NULL,
            server_version INTEGER, updated_at INTEGER NOT NULL, hlc TEXT NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0, sync_state INTEGER NOT NULL DEFAULT 1, base TEXT,
            UNIQUE (collection, id));
        CREATE TABLE IF NOT EXISTS sl_outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, op_id TEXT NOT NULL UNIQUE, collection TEXT NOT NULL,
            record_id TEXT NOT NULL, type TEXT NOT NULL, payload TEXT, base_version INTEGER, hlc TEXT NOT NULL,
            created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT, state INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS sl_outbox_record ON sl_outbox (collection, record_id, seq);
        CREATE INDEX IF NOT EXISTS sl_outbox_state ON sl_outbox (state, next_attempt_at, seq);
        """

    static let insertDocument = """
        INSERT INTO sl_documents (collection, id, data, local_version, server_version, updated_at, hlc, deleted, sync_state)
        VALUES (?, ?, ?, 1, NULL, ?, ?, 0, 1)
        """
    static let insertOperation = """
        INSERT INTO sl_outbox (op_id, collection, record_id, type, payload, base_version, hlc, created_at)
        VALUES (?, ?, ?, 'insert', ?, NULL, ?, ?)
        """
}

/// The raw baseline of P1 and P2: a document row and an outbox row per document.
final class RawWriter {
    let db: RawSQLite
    private let document: RawStatement
    private let operation: RawStatement
    private var counter: Int64 = 0

    init(path: String) throws {
        db = try RawSQLite(path: path)
        try db.execute(BaselineSchema.sql)
        document = try db.prepare(BaselineSchema.insertDocument)
        operation = try db.prepare(BaselineSchema.insertOperation)
    }

    /// Inserts one document (the JSON the SDK would store) and its outbox row.
    func insert(_ index: Int, collection: String) throws {
        let id = UUID().uuidString.lowercased()
        let json = Workload.json(index, id: id)
        counter += 1
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let hlc = "\(now):\(counter):bench"
        document.bind(1, collection)
        document.bind(2, id)
        document.bind(3, json)
        document.bind(4, now)
        document.bind(5, hlc)
        try document.run()
        operation.bind(1, UUID().uuidString.lowercased())
        operation.bind(2, collection)
        operation.bind(3, id)
        operation.bind(4, json)
        operation.bind(5, hlc)
        operation.bind(6, now)
        try operation.run()
    }

    func transaction(_ body: () throws -> Void) throws {
        try db.execute("BEGIN IMMEDIATE")
        try body()
        try db.execute("COMMIT")
    }
}
