import GRDB
import GRDBSQLite

/// A statement of GRDB's cache, bound and stepped through the SQLite C API.
///
/// `Statement.execute(arguments:)` builds a `StatementArguments` (an array of `DatabaseValue`s made from
/// existentials) for every call. In the batch write path that binding cost about a fifth of the server's CPU
/// per op (a perf profile of sync-bench P5). Used only for the batch's two INSERTs, inside GRDB's write
/// transaction: GRDB's per-statement bookkeeping (observation, region tracking) is for observers, which
/// this server has none of.
struct BoundStatement {
    private let statement: Statement
    private var raw: SQLiteStatement { statement.sqliteStatement }

    init(_ statement: Statement) {
        self.statement = statement
    }

    func bind(_ index: Int32, _ value: String?) {
        guard var text = value else {
            sqlite3_bind_null(raw, index)
            return
        }
        text.withUTF8 { bytes in
            _ = sqlite3_bind_text(raw, index, bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                                  Int32(bytes.count), sqliteTransient)
        }
    }

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(raw, index, value)
    }

    func bind(_ index: Int32, _ value: Bool) {
        sqlite3_bind_int64(raw, index, value ? 1 : 0)
    }

    /// Steps the bound statement to its end, then resets it for the next op.
    func run(in db: Database) throws {
        let code = sqlite3_step(raw)
        sqlite3_reset(raw)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                message: db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) },
                                sql: statement.sql)
        }
    }
}

/// SQLITE_TRANSIENT (SQLite copies the bytes), a cast macro Swift cannot import.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
