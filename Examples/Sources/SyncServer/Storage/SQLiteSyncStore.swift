import Foundation
import GRDB

/// `SyncStore` on SQLite through GRDB: one writer, WAL, `synchronous=FULL` so an answered write survives
/// a power cut.
public final class SQLiteSyncStore: SyncStore {
    public let databaseID: String
    private let writer: any DatabaseWriter
    private let clock: @Sendable () -> Int64

    /// Opens (or creates) the database file at `path`.
    ///
    /// - Parameters:
    ///   - path: a file path, or nil for a private in-memory database.
    ///   - clock: server time in milliseconds since the epoch.
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or migrated.
    public init(path: String?, clock: @escaping @Sendable () -> Int64 = SQLiteSyncStore.systemMilliseconds) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        if let path {
            writer = try DatabasePool(path: path, configuration: configuration)
        } else {
            writer = try DatabaseQueue(configuration: configuration)
        }
        self.clock = clock
        try Self.migrator.migrate(writer)
        databaseID = try writer.write { db in
            if let existing = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'database_id'") {
                return existing
            }
            let created = UUID().uuidString.lowercased().prefix(8).description
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('database_id', ?)", arguments: [created])
            return created
        }
    }

    public static let systemMilliseconds: @Sendable () -> Int64 = {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE records (
                    collection TEXT NOT NULL,
                    record_id TEXT NOT NULL,
                    data TEXT,
                    version INTEGER NOT NULL,
                    seq INTEGER NOT NULL UNIQUE,
                    updated_at INTEGER NOT NULL,
                    hlc TEXT,
                    client_id TEXT,
                    op_id TEXT,
                    created INTEGER NOT NULL,
                    PRIMARY KEY (collection, record_id)
                ) WITHOUT ROWID;
                CREATE INDEX records_by_seq ON records (collection, seq);
                CREATE INDEX records_by_time ON records (collection, updated_at);
                CREATE TABLE applied_ops (
                    op_id TEXT PRIMARY KEY,
                    client_id TEXT,
                    fingerprint TEXT NOT NULL,
                    collection TEXT NOT NULL,
                    record_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    deleted INTEGER NOT NULL,
                    applied_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                INSERT INTO meta (key, value) VALUES ('last_seq', '0'), ('last_updated_at', '0');
                """)
        }
        return migrator
    }

    // MARK: Writes

    public func write(_ operations: [WriteOperation], limits: DocumentLimits) async throws -> [WriteOutcome] {
        let now = clock()
        return try await writer.write { db in
            var lastSeq = try Self.meta(db, "last_seq")
            var lastUpdatedAt = try Self.meta(db, "last_updated_at")
            var outcomes: [WriteOutcome] = []
            outcomes.reserveCapacity(operations.count)
            for operation in operations {
                if operation.rules == .v2, let opID = operation.opID,
                   let recorded = try Self.appliedOp(db, opID: opID)
                {
                    outcomes.append(
                        recorded.fingerprint == operation.fingerprint
                            ? .duplicate(recorded.answer)
                            : .rejected(code: "OP_ID_REUSED", message: "op id \(opID) was already used for a different operation")
                    )
                    continue
                }
                let current = try Self.fetchRecord(db, collection: operation.collection, id: operation.recordID)
                let answer: AppliedWrite
                switch WriteRule.decide(operation, current: current, limits: limits) {
                case .conflict:
                    outcomes.append(.conflict(current: current))
                    continue
                case .recordNotFound:
                    outcomes.append(.recordNotFound)
                    continue
                case .rejected(let code, let message):
                    outcomes.append(.rejected(code: code, message: message))
                    continue
                case .unchanged:
                    guard let current else { preconditionFailure("unchanged needs a current record") }
                    answer = AppliedWrite(
                        collection: current.collection, recordID: current.recordID, version: current.version,
                        seq: current.seq, updatedAt: current.updatedAt, deleted: current.isDeleted)
                case .write(let data, let created):
                    lastSeq += 1
                    lastUpdatedAt = max(now, lastUpdatedAt + 1)
                    let record = StoredRecord(
                        collection: operation.collection, recordID: operation.recordID, data: data,
                        version: (current?.version ?? 0) + 1, seq: lastSeq, updatedAt: lastUpdatedAt,
                        hlc: operation.hlc, clientID: operation.clientID, opID: operation.opID,
                        createdByLastChange: created)
                    try Self.save(db, record)
                    answer = AppliedWrite(
                        collection: record.collection, recordID: record.recordID, version: record.version,
                        seq: record.seq, updatedAt: record.updatedAt, deleted: record.isDeleted)
                }
                if operation.rules == .v2, let opID = operation.opID {
                    try db.execute(
                        sql: """
                            INSERT INTO applied_ops (op_id, client_id, fingerprint, collection, record_id, version, seq,
                                                     updated_at, deleted, applied_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            opID, operation.clientID, operation.fingerprint, answer.collection, answer.recordID,
                            answer.version, answer.seq, answer.updatedAt, answer.deleted, now,
                        ])
                }
                outcomes.append(.applied(answer))
            }
            try Self.setMeta(db, "last_seq", lastSeq)
            try Self.setMeta(db, "last_updated_at", lastUpdatedAt)
            return outcomes
        }
    }

    private static func meta(_ db: Database, _ key: String) throws -> Int64 {
        let text = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
        return text.flatMap { Int64($0) } ?? 0
    }

    private static func setMeta(_ db: Database, _ key: String, _ value: Int64) throws {
        try db.execute(sql: "UPDATE meta SET value = ? WHERE key = ?", arguments: [String(value), key])
    }

    private static func appliedOp(_ db: Database, opID: String) throws -> (fingerprint: String, answer: AppliedWrite)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM applied_ops WHERE op_id = ?", arguments: [opID]) else {
            return nil
        }
        let answer = AppliedWrite(
            collection: row["collection"], recordID: row["record_id"], version: row["version"], seq: row["seq"],
            updatedAt: row["updated_at"], deleted: row["deleted"])
        return (row["fingerprint"], answer)
    }

    private static func save(_ db: Database, _ record: StoredRecord) throws {
        try db.execute(
            sql: """
                INSERT INTO records (collection, record_id, data, version, seq, updated_at, hlc, client_id, op_id, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (collection, record_id) DO UPDATE SET
                    data = excluded.data, version = excluded.version, seq = excluded.seq,
                    updated_at = excluded.updated_at, hlc = excluded.hlc, client_id = excluded.client_id,
                    op_id = excluded.op_id, created = excluded.created
                """,
            arguments: [
                record.collection, record.recordID, record.data.map { JSONValue.object($0).encoded }, record.version,
                record.seq, record.updatedAt, record.hlc, record.clientID, record.opID, record.createdByLastChange,
            ])
    }

    // MARK: Reads

    public func changes(in collection: String, after seq: Int64, limit: Int) async throws -> ChangePage {
        let records = try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM records WHERE collection = ? AND seq > ? ORDER BY seq LIMIT ?",
                arguments: [collection, seq, limit + 1]
            ).map(Self.decode)
        }
        return ChangePage(records: Array(records.prefix(limit)), hasMore: records.count > limit)
    }

    public func latestSeq() async throws -> Int64 {
        try await writer.read { db in try Self.meta(db, "last_seq") }
    }

    public func liveRecords(_ query: LegacyQuery) async throws -> [StoredRecord] {
        var sql = "SELECT * FROM records WHERE collection = ? AND data IS NOT NULL"
        var arguments: StatementArguments = [query.collection]
        if let since = query.since {
            sql += " AND updated_at > ?"
            arguments += [since]
        }
        for (field, value) in query.equals {
            // The field is validated (no quotes) and bound as a JSON path; Dart's toString() forms.
            let path = "$.\"\(field)\""
            sql += """
                 AND (CASE json_type(data, ?)
                    WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null'
                    WHEN 'text' THEN json_extract(data, ?)
                    WHEN 'integer' THEN CAST(json_extract(data, ?) AS TEXT)
                    WHEN 'real' THEN CAST(json_extract(data, ?) AS TEXT)
                    ELSE NULL END) = ?
                """
            arguments += [path, path, path, path, value]
        }
        sql += " ORDER BY updated_at, seq LIMIT ? OFFSET ?"
        arguments += [query.limit, query.offset]
        return try await writer.read { [sql, arguments] db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.decode)
        }
    }

    public func liveCount(in collection: String) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM records WHERE collection = ? AND data IS NOT NULL", arguments: [collection]) ?? 0
        }
    }

    public func record(in collection: String, id: String) async throws -> StoredRecord? {
        try await writer.read { db in try Self.fetchRecord(db, collection: collection, id: id) }
    }

    private static func fetchRecord(_ db: Database, collection: String, id: String) throws -> StoredRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM records WHERE collection = ? AND record_id = ?", arguments: [collection, id]
        ).map(decode)
    }

    private static func decode(_ row: Row) throws -> StoredRecord {
        var data: [String: JSONValue]?
        if let text: String = row["data"] {
            guard let object = try JSONParser.parse(text.utf8, maxDepth: 512).objectValue else {
                throw StoreCorruption(message: "stored document is not an object")
            }
            data = object
        }
        return StoredRecord(
            collection: row["collection"], recordID: row["record_id"], data: data, version: row["version"],
            seq: row["seq"], updatedAt: row["updated_at"], hlc: row["hlc"], clientID: row["client_id"],
            opID: row["op_id"], createdByLastChange: row["created"])
    }
}

/// A stored row that cannot be decoded.
struct StoreCorruption: Error {
    var message: String
}
