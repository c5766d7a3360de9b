import Foundation
import GRDB

/// The GRDB baseline of P1: a Codable record and an outbox record, one write transaction each.
final class GRDBWriter {
    struct DocumentRecord: Codable, PersistableRecord {
        static let databaseTableName = "sl_documents"
        static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
        var collection: String
        var id: String
        var data: String
        var localVersion: Int64 = 1
        var serverVersion: Int64?
        var updatedAt: Int64
        var hlc: String
        var deleted: Int64 = 0
        var syncState: Int64 = 1
    }

    struct OperationRecord: Codable, PersistableRecord {
        static let databaseTableName = "sl_outbox"
        static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
        var opId: String
        var collection: String
        var recordId: String
        var type: String
        var payload: String?
        var baseVersion: Int64?
        var hlc: String
        var createdAt: Int64
    }

    let queue: DatabaseQueue
    private var counter: Int64 = 0

    /// WAL and synchronous=NORMAL, like the SDK (Debian's SQLite defaults to FULL in WAL).
    init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode=WAL")
            try db.execute(sql: "PRAGMA synchronous=NORMAL")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.write { db in try db.execute(sql: BaselineSchema.sql) }
    }

    func insert(_ index: Int, collection: String) throws {
        let id = UUID().uuidString.lowercased()
        let json = Workload.json(index, id: id)
        counter += 1
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let hlc = "\(now):\(counter):bench"
        try queue.write { db in
            try DocumentRecord(collection: collection, id: id, data: json, updatedAt: now, hlc: hlc).insert(db)
            try OperationRecord(opId: UUID().uuidString.lowercased(), collection: collection, recordId: id, type: "insert",
                                payload: json, hlc: hlc, createdAt: now).insert(db)
        }
    }

    static var sqliteVersion: String {
        let version = try? DatabaseQueue().read { try String.fetchOne($0, sql: "SELECT sqlite_version()") }
        return (version ?? nil) ?? "?"
    }
}
