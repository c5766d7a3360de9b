import Foundation
import GRDB

/// `SyncStore` on SQLite through GRDB: one writer, WAL, `synchronous=FULL` so an answered write survives
/// a crash of the server and a power cut.
///
/// A batch is one transaction, so its commit (one `fdatasync` of the WAL) is paid once per batch, not per
/// op; the per-op work reuses prepared statements (`SQLiteSyncStore+Write.swift`). Checkpoints wait for
/// 10 000 WAL pages (~40 MB) instead of SQLite's 1 000: a 500-op batch of new records writes ~1 800 pages
/// (random keys: the record and its dedup row each land on their own leaf), so the default checkpointed
/// after every batch, in the batch's commit. Durability does not depend on checkpoints.
public final class SQLiteSyncStore: SyncStore {
    public let databaseID: String
    let writer: any DatabaseWriter
    let clock: @Sendable () -> Int64

    /// Opens (or creates) the database file at `path`.
    ///
    /// - Parameters:
    ///   - path: a file path, or nil for a private in-memory database.
    ///   - clock: server time in milliseconds since the epoch.
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or migrated.
    public init(path: String?, clock: @escaping @Sendable () -> Int64 = SQLiteSyncStore.systemMilliseconds) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
        }
        if let path {
            writer = try DatabasePool(path: path, configuration: configuration)
        } else {
            writer = try DatabaseQueue(configuration: configuration)
        }
        // Not in prepareDatabase: a DatabasePool switches its writer to WAL after that, and sets
        // synchronous=NORMAL as it does (a commit is then not synced, and a power cut can lose answered
        // writes). The pool keeps one writer connection, so setting it here holds for every write.
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
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

    static var migrator: DatabaseMigrator {
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
        migrator.registerMigration("v2: one index on seq") { db in
            // v1 kept seq twice: a UNIQUE constraint (an index of its own) and records_by_seq, the one
            // every query uses. Each write paid for both. seq is unique by construction (one counter,
            // advanced in the write transaction); records_by_seq, now UNIQUE, still checks it.
            try db.execute(sql: """
                CREATE TABLE records_v2 (
                    collection TEXT NOT NULL,
                    record_id TEXT NOT NULL,
                    data TEXT,
                    version INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    hlc TEXT,
                    client_id TEXT,
                    op_id TEXT,
                    created INTEGER NOT NULL,
                    PRIMARY KEY (collection, record_id)
                ) WITHOUT ROWID;
                INSERT INTO records_v2 (\(RecordRow.columns)) SELECT \(RecordRow.columns) FROM records;
                DROP TABLE records;
                ALTER TABLE records_v2 RENAME TO records;
                CREATE UNIQUE INDEX records_by_seq ON records (collection, seq);
                CREATE INDEX records_by_time ON records (collection, updated_at);
                """)
        }
        return migrator
    }

    static func meta(_ db: Database, _ key: String) throws -> Int64 {
        let statement = try db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?")
        let text = try String.fetchOne(statement, arguments: [key])
        return text.flatMap { Int64($0) } ?? 0
    }

    static func setMeta(_ db: Database, _ key: String, _ value: Int64) throws {
        let statement = try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = ?")
        try statement.execute(arguments: [String(value), key])
    }

    // MARK: Reads

    public func changes(in collection: String, after seq: Int64, limit: Int) async throws -> ChangePage {
        let records = try await writer.read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT \(RecordRow.columns) FROM records WHERE collection = ? AND seq > ? ORDER BY seq LIMIT ?")
            return try Row.fetchAll(statement, arguments: [collection, seq, limit + 1]).map(RecordRow.decode)
        }
        return ChangePage(records: Array(records.prefix(limit)), hasMore: records.count > limit)
    }

    /// Writes each record's object straight from its row: the stored document text is the server's own
    /// canonical encoding, so it goes into the answer as it is, not parsed and encoded again.
    public func encodedChanges(in collection: String, after seq: Int64, limit: Int) async throws -> EncodedChangePage {
        try await writer.read { db in
            let statement = try db.cachedStatement(sql: """
                SELECT client_id, collection, data, hlc, record_id, seq, updated_at, version
                FROM records WHERE collection = ? AND seq > ? ORDER BY seq LIMIT ?
                """)
            let rows = try Row.fetchCursor(statement, arguments: [collection, seq, limit + 1])
            var output: [UInt8] = [UInt8(ascii: "[")]
            var count = 0, lastSeq: Int64?, hasMore = false
            func member(_ prefix: StaticString, _ value: JSONValue) { JSONValue.writeMember(prefix, value, into: &output) }
            while let row = try rows.next() {
                guard count < limit else {
                    hasMore = true
                    break
                }
                if count > 0 { output.append(UInt8(ascii: ",")) }
                count += 1
                let data: String? = row[2]
                let rowSeq: Int64 = row[5]
                lastSeq = rowSeq
                // Members in key order, as JSONValue.encoded writes StoredRecord.v2JSON.
                member(#"{"clientId":"#, (row[0] as String?).map(JSONValue.string) ?? .null)
                member(#","collection":"#, .string(row[1]))
                output.append(contentsOf: #","data":"#.utf8)
                output.append(contentsOf: (data ?? "null").utf8)
                member(#","deleted":"#, .bool(data == nil))
                member(#","hlc":"#, (row[3] as String?).map(JSONValue.string) ?? .null)
                member(#","recordId":"#, .string(row[4]))
                member(#","seq":"#, .int(rowSeq))
                member(#","updatedAt":"#, .string(Timestamp.format(milliseconds: row[6])))
                member(#","version":"#, .int(row[7]))
                output.append(UInt8(ascii: "}"))
            }
            output.append(UInt8(ascii: "]"))
            return EncodedChangePage(changes: output, lastSeq: lastSeq, hasMore: hasMore)
        }
    }

    public func latestSeq() async throws -> Int64 {
        try await writer.read { db in try Self.meta(db, "last_seq") }
    }

    public func liveRecords(_ query: LegacyQuery) async throws -> [StoredRecord] {
        var sql = "SELECT \(RecordRow.columns) FROM records WHERE collection = ? AND data IS NOT NULL"
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
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(RecordRow.decode)
        }
    }

    public func liveCount(in collection: String) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM records WHERE collection = ? AND data IS NOT NULL", arguments: [collection]) ?? 0
        }
    }

    public func record(in collection: String, id: String) async throws -> StoredRecord? {
        try await writer.read { db in
            let statement = try db.cachedStatement(sql: "SELECT \(RecordRow.columns) FROM records WHERE collection = ? AND record_id = ?")
            return try Row.fetchOne(statement, arguments: [collection, id]).map(RecordRow.decode)
        }
    }
}

/// The `records` columns every query selects, in the order `decode` reads them by index.
enum RecordRow {
    static let columns = "collection, record_id, data, version, seq, updated_at, hlc, client_id, op_id, created"

    static func decode(_ row: Row) throws -> StoredRecord {
        var data: [String: JSONValue]?
        if let text: String = row[2] {
            guard let object = try JSONParser.parse(text.utf8, maxDepth: 512).objectValue else {
                throw StoreCorruption(message: "stored document is not an object")
            }
            data = object
        }
        return StoredRecord(
            collection: row[0], recordID: row[1], data: data, version: row[3], seq: row[4], updatedAt: row[5],
            hlc: row[6], clientID: row[7], opID: row[8], createdByLastChange: row[9])
    }
}

/// A stored row that cannot be decoded.
struct StoreCorruption: Error {
    var message: String
}
