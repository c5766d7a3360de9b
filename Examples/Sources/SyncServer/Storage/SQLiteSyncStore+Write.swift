import GRDB

extension SQLiteSyncStore {
    public func write(_ operations: [WriteOperation], limits: DocumentLimits) async throws -> [WriteOutcome] {
        let now = clock()
        return try await writer.write { db in
            var batch = try WriteBatch(db, operations: operations, now: now, limits: limits)
            var outcomes: [WriteOutcome] = []
            outcomes.reserveCapacity(operations.count)
            for operation in operations { outcomes.append(try batch.apply(operation)) }
            try batch.finish()
            return outcomes
        }
    }
}

/// One write transaction: what the batch reads, fetched up front in two queries; its insert statements,
/// prepared once; the change counters, read once and stored once.
///
/// Everything happens inside the caller's transaction, so an op's record, its dedup row and the counters
/// commit together or not at all. Later ops of the batch see the effects of earlier ones through the
/// batch's own view of the rows it wrote.
struct WriteBatch {
    private struct RecordKey: Hashable {
        var collection: String
        var recordID: String
    }

    private let db: Database
    private let now: Int64
    private let limits: DocumentLimits
    private let saveRecord: BoundStatement
    private let recordAppliedOp: BoundStatement
    private let startSeq: Int64
    private let startUpdatedAt: Int64
    private var lastSeq: Int64
    private var lastUpdatedAt: Int64
    /// Applied op ids among the batch's: from the table, then those this batch applies.
    private var appliedOps: [String: (fingerprint: String, answer: AppliedWrite)] = [:]
    /// The current row of every record the batch touches (nil: no row), kept up to date as it writes.
    private var records: [RecordKey: StoredRecord?] = [:]

    init(_ db: Database, operations: [WriteOperation], now: Int64, limits: DocumentLimits) throws {
        self.db = db
        self.now = now
        self.limits = limits
        saveRecord = try BoundStatement(db.cachedStatement(sql: """
            INSERT INTO records (\(RecordRow.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (collection, record_id) DO UPDATE SET
                data = excluded.data, version = excluded.version, seq = excluded.seq,
                updated_at = excluded.updated_at, hlc = excluded.hlc, client_id = excluded.client_id,
                op_id = excluded.op_id, created = excluded.created
            """))
        recordAppliedOp = try BoundStatement(db.cachedStatement(sql: """
            INSERT INTO applied_ops (op_id, client_id, fingerprint, collection, record_id, version, seq, updated_at,
                                     deleted, applied_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """))
        startSeq = try SQLiteSyncStore.meta(db, "last_seq")
        startUpdatedAt = try SQLiteSyncStore.meta(db, "last_updated_at")
        lastSeq = startSeq
        lastUpdatedAt = startUpdatedAt
        try fetchState(of: operations)
    }

    /// Reads the dedup rows and current records of every op in two statements, each taking the keys as
    /// one JSON array, instead of two lookups per op. `CROSS JOIN` keeps the keys as the outer loop, so
    /// each key is one primary-key search whatever the planner thinks of the tables' sizes.
    private mutating func fetchState(of operations: [WriteOperation]) throws {
        let opIDs = operations.compactMap { $0.rules == .v2 ? $0.opID : nil }
        if !opIDs.isEmpty {
            let statement = try db.cachedStatement(sql: """
                SELECT op_id, fingerprint, collection, record_id, version, seq, updated_at, deleted
                FROM json_each(?) AS wanted CROSS JOIN applied_ops ON applied_ops.op_id = wanted.value
                """)
            let keys = JSONValue.array(opIDs.map(JSONValue.string)).encoded
            let rows = try Row.fetchCursor(statement, arguments: [keys])
            while let row = try rows.next() {
                let answer = AppliedWrite(
                    collection: row[2], recordID: row[3], version: row[4], seq: row[5], updatedAt: row[6], deleted: row[7])
                appliedOps[row[0]] = (row[1], answer)
            }
        }
        for operation in operations {
            records[RecordKey(collection: operation.collection, recordID: operation.recordID)] = .some(nil)
        }
        let statement = try db.cachedStatement(sql: """
            SELECT \(RecordRow.columns) FROM json_each(?) AS wanted CROSS JOIN records
            ON records.collection = json_extract(wanted.value, '$[0]') AND records.record_id = json_extract(wanted.value, '$[1]')
            """)
        let keys = JSONValue.array(records.keys.map { [.string($0.collection), .string($0.recordID)] }).encoded
        for record in try Row.fetchAll(statement, arguments: [keys]).map(RecordRow.decode) {
            records[RecordKey(collection: record.collection, recordID: record.recordID)] = record
        }
    }

    /// Decides and applies one op (PROTOCOL.md §4.1 for v2, §3 for v1) and answers it.
    mutating func apply(_ operation: WriteOperation) throws -> WriteOutcome {
        // The canonical payload text serves three purposes: the op's fingerprint, the size limit and,
        // for a full write, the stored document. It is encoded at most once.
        var payloadText: String??
        func encodedPayload() -> String? {
            if let payloadText { return payloadText }
            let text = operation.payload.map { JSONValue.object($0).encoded }
            payloadText = .some(text)
            return text
        }
        let deduplicatedID = operation.rules == .v2 ? operation.opID : nil
        if let opID = deduplicatedID, let recorded = appliedOps[opID] {
            return recorded.fingerprint == operation.fingerprint(payloadText: encodedPayload())
                ? .duplicate(recorded.answer)
                : .rejected(code: "OP_ID_REUSED", message: "op id \(opID) was already used for a different operation")
        }
        let key = RecordKey(collection: operation.collection, recordID: operation.recordID)
        let current = records[key] ?? nil
        let answer: AppliedWrite
        switch WriteRule.decideIgnoringLimits(operation, current: current) {
        case .conflict:
            return .conflict(current: current)
        case .recordNotFound:
            return .recordNotFound
        case .rejected(let code, let message):
            return .rejected(code: code, message: message)
        case .unchanged:
            guard let current else { preconditionFailure("unchanged needs a current record") }
            answer = AppliedWrite(
                collection: current.collection, recordID: current.recordID, version: current.version,
                seq: current.seq, updatedAt: current.updatedAt, deleted: current.isDeleted, unchangedHLC: current.hlc)
        case .write(let data, let created):
            var text: String?
            if let data {
                // Insert and update store the payload as is; a patch stores the merged document.
                let encoded = operation.kind == .patch ? JSONValue.object(data).encoded : encodedPayload() ?? "{}"
                if let violation = limits.violation(of: data, encoded: encoded) {
                    return .rejected(code: violation.code, message: violation.message)
                }
                text = encoded
            }
            lastSeq += 1
            lastUpdatedAt = max(now, lastUpdatedAt + 1)
            let record = StoredRecord(
                collection: operation.collection, recordID: operation.recordID, data: data,
                version: (current?.version ?? 0) + 1, seq: lastSeq, updatedAt: lastUpdatedAt, hlc: operation.hlc,
                clientID: operation.clientID, opID: operation.opID, createdByLastChange: created)
            try saveRecord.run([
                .text(record.collection), .text(record.recordID), .text(text), .int(record.version), .int(record.seq),
                .int(record.updatedAt), .text(record.hlc), .text(record.clientID), .text(record.opID),
                .bool(record.createdByLastChange),
            ], in: db)
            records[key] = record
            answer = AppliedWrite(
                collection: record.collection, recordID: record.recordID, version: record.version, seq: record.seq,
                updatedAt: record.updatedAt, deleted: record.isDeleted)
        }
        if let opID = deduplicatedID {
            let fingerprint = operation.fingerprint(payloadText: encodedPayload())
            try recordAppliedOp.run([
                .text(opID), .text(operation.clientID), .text(fingerprint), .text(answer.collection), .text(answer.recordID),
                .int(answer.version), .int(answer.seq), .int(answer.updatedAt), .bool(answer.deleted), .int(now),
            ], in: db)
            appliedOps[opID] = (fingerprint, answer)
        }
        return .applied(answer)
    }

    /// Stores the counters the batch advanced (once per batch, not per op).
    func finish() throws {
        if lastSeq != startSeq { try SQLiteSyncStore.setMeta(db, "last_seq", lastSeq) }
        if lastUpdatedAt != startUpdatedAt { try SQLiteSyncStore.setMeta(db, "last_updated_at", lastUpdatedAt) }
    }
}
