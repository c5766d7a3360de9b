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

    /// A value to bind.
    enum Value {
        case text(String?)
        case int(Int64)
        case bool(Bool)
    }

    /// Binds `values` to parameters 1, 2, … and steps the statement to its end, then resets it for the
    /// next op. Every bind is checked: a failed one would leave the previous op's value bound, and the
    /// row would be written with it.
    func run(_ values: [Value], in db: Database) throws {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32 = switch value {
            case .text(nil): sqlite3_bind_null(raw, index)
            case .text(var text?):
                text.withUTF8 { bytes in
                    sqlite3_bind_text(raw, index, bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                                      Int32(bytes.count), sqliteTransient)
                }
            case .int(let number): sqlite3_bind_int64(raw, index, number)
            case .bool(let flag): sqlite3_bind_int64(raw, index, flag ? 1 : 0)
            }
            try check(code, in: db)
        }
        let code = sqlite3_step(raw)
        sqlite3_reset(raw)
        guard code == SQLITE_DONE else { throw error(code, in: db) }
    }

    private func check(_ code: Int32, in db: Database) throws {
        guard code == SQLITE_OK else { throw error(code, in: db) }
    }

    private func error(_ code: Int32, in db: Database) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) },
                      sql: statement.sql)
    }
}

/// SQLITE_TRANSIENT (SQLite copies the bytes), a cast macro Swift cannot import.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
