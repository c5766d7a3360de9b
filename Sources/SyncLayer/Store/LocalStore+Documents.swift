import CSQLite
import Foundation

/// A document row as read from SQLite, before its JSON is parsed (parsing happens outside the
/// store's lock).
struct DocumentRow: Sendable, Equatable {
    static let columns = "id, data, local_version, server_version, updated_at, sync_state"

    let id: String
    let data: String
    let version: Int64
    let serverVersion: Int64?
    let updatedAt: Int64
    let syncState: Int64

    /// Reads the row at the statement's cursor; columns in the order of ``columns``.
    init(_ statement: Statement, offset: Int32 = 0) {
        id = statement.text(offset) ?? ""
        data = statement.text(offset + 1) ?? "{}"
        version = statement.int(offset + 2)
        serverVersion = statement.isNull(offset + 3) ? nil : statement.int(offset + 3)
        updatedAt = statement.int(offset + 4)
        syncState = statement.int(offset + 5)
    }

    /// The document, its JSON checked now and parsed when its fields are first read.
    func document() throws -> Document {
        do {
            try JSONText.validateObject(data)
        } catch {
            throw StoreError(resultCode: SQLITE_CORRUPT, message: "document \(Identifiers.describe(id)) holds invalid JSON: \(error)")
        }
        return Document(id: id, fields: .stored(Document.StoredFields(text: data)),
                        syncState: SyncState(rawValue: Int(syncState)) ?? .pending,
                        version: Int(version), serverVersion: serverVersion.map(Int.init),
                        updatedAt: Date(timeIntervalSince1970: Double(updatedAt) / 1000))
    }
}

/// What a local write did.
struct WriteOutcome: Sendable, Equatable {
    let id: String
    /// The op queued or folded, `nil` when nothing was queued.
    let operation: OperationType?
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Sets a value at a path of keys, creating (or replacing non-object) intermediate objects.
    mutating func set(_ value: JSONValue, at path: ArraySlice<String>) {
        guard let first = path.first else { return }
        if path.count == 1 {
            self[first] = value
            return
        }
        var child = self[first]?.objectValue ?? [:]
        child.set(value, at: path.dropFirst())
        self[first] = .object(child)
    }
}

extension LocalStore {
    // MARK: Reads

    func document(_ collection: String, id: String) throws -> Document? {
        let row = try read { db -> DocumentRow? in
            let statement = try db.statement(
                "SELECT \(DocumentRow.columns) FROM sl_documents WHERE collection = ? AND id = ? AND deleted = 0")
            try statement.bind([.text(collection), .text(id)])
            return try statement.step() ? DocumentRow(statement) : nil
        }
        return try row?.document()
    }

    /// Runs a SELECT whose columns are ``DocumentRow/columns``; the rows are parsed by the
    /// caller, outside the store's lock.
    func documentRows(sql: String, bindings: [SQLValue]) throws -> [DocumentRow] {
        try read { db -> [DocumentRow] in
            let statement = try db.statement(sql, dynamic: true)
            try statement.bind(bindings)
            var rows: [DocumentRow] = []
            while try statement.step() { rows.append(DocumentRow(statement)) }
            return rows
        }
    }

    func scalar(sql: String, bindings: [SQLValue]) throws -> Int {
        try read { db in
            let statement = try db.statement(sql, dynamic: true)
            try statement.bind(bindings)
            return try statement.step() ? Int(statement.int(0)) : 0
        }
    }

    // MARK: Writes

    /// Inserts or replaces a document and queues the change, in one transaction.
    func save(_ collection: String, id: String?, data: [String: JSONValue]) throws -> WriteOutcome {
        let id = try LocalStore.documentID(id, data: data)
        let text = try LocalStore.encodeDocument(data, id: id)
        return try write { context in try context.saveDocument(collection, id: id, text: text) }
    }

    /// Saves many documents in one transaction; returns their ids in order.
    func saveAll(_ collection: String, _ documents: [(id: String?, data: [String: JSONValue])]) throws -> [String] {
        let prepared = try documents.map { document -> (String, String) in
            let id = try LocalStore.documentID(document.id, data: document.data)
            return (id, try LocalStore.encodeDocument(document.data, id: id))
        }
        return try write { context in
            try prepared.map { id, text in try context.saveDocument(collection, id: id, text: text).id }
        }
    }

    /// Sets fields of an existing document (a dotted key sets a nested field) and queues a patch.
    func update(_ collection: String, id: String, changes: [String: JSONValue]) throws -> WriteOutcome {
        try Identifiers.validateDocumentID(id)
        if let changedID = changes["id"], changedID != .string(id) {
            throw SyncLayerError(.invalidDocument, "update cannot change the id field of \(Identifiers.describe(id))")
        }
        // `id.x` would turn the id field into an object; `save` refuses a non-string `id` too.
        if let key = changes.keys.first(where: { $0.hasPrefix("id.") }) {
            throw SyncLayerError(.invalidDocument,
                                 "update cannot change the id field of \(Identifiers.describe(id)) (key \(Identifiers.describe(key)))")
        }
        try LocalStore.validateValues(changes, id: id)
        return try write { context in try context.patchDocument(collection, id: id, changes: changes) }
    }

    /// Deletes a document (a tombstone plus a queued delete). False when there was none.
    func delete(_ collection: String, id: String) throws -> Bool {
        try Identifiers.validateDocumentID(id)
        return try write { context in try context.deleteDocument(collection, id: id) }
    }

    /// Deletes many documents in one transaction; returns how many existed.
    func deleteAll(_ collection: String, ids: [String]) throws -> Int {
        for id in ids { try Identifiers.validateDocumentID(id) }
        return try write { context in
            try ids.reduce(0) { count, id in count + (try context.deleteDocument(collection, id: id) ? 1 : 0) }
        }
    }

    // MARK: Validation

    /// The id to store under: the explicit one, else the data's `id` string, else a new UUID.
    static func documentID(_ explicit: String?, data: [String: JSONValue]) throws -> String {
        let embedded = data["id"]
        let id: String
        switch (explicit, embedded) {
        case (let explicit?, nil):
            id = explicit
        case (let explicit?, .string(let inData)?):
            guard explicit == inData else {
                throw SyncLayerError(.invalidDocument,
                                     "the data's id field \(Identifiers.describe(inData)) differs from the id \(Identifiers.describe(explicit))")
            }
            id = explicit
        case (nil, .string(let inData)?):
            id = inData
        case (nil, nil):
            id = Identifiers.newID()
        case (_, _?):
            throw SyncLayerError(.invalidDocument, "the data's id field must be a string")
        }
        try Identifiers.validateDocumentID(id)
        return id
    }

    static func encodeDocument(_ data: [String: JSONValue], id: String) throws -> String {
        try validateValues(data, id: id)
        return JSONText.encode(data)
    }

    static func validateValues(_ data: [String: JSONValue], id: String) throws {
        let value = JSONValue.object(data)
        if let path = JSONText.firstNonFinitePath(in: value) {
            throw SyncLayerError(.invalidDocument, "field \(path) of \(Identifiers.describe(id)) is not a finite number")
        }
        guard JSONText.depth(of: value) <= JSONText.maximumDepth else {
            throw SyncLayerError(.invalidDocument, "\(Identifiers.describe(id)) nests deeper than \(JSONText.maximumDepth) levels")
        }
    }
}

// MARK: - The writes themselves, inside one transaction

extension WriteContext {
    private struct ExistingRow {
        let deleted: Bool
        let serverVersion: Int64?
        let data: String
    }

    private func existingRow(_ collection: String, id: String) throws -> ExistingRow? {
        let statement = try db.statement("SELECT deleted, server_version, data FROM sl_documents WHERE collection = ? AND id = ?")
        try statement.bind([.text(collection), .text(id)])
        guard try statement.step() else { return nil }
        return ExistingRow(deleted: statement.int(0) != 0,
                           serverVersion: statement.isNull(1) ? nil : statement.int(1),
                           data: statement.text(2) ?? "{}")
    }

    func saveDocument(_ collection: String, id: String, text: String) throws -> WriteOutcome {
        let existing = try existingRow(collection, id: id)
        let hlc = stamp()
        if existing == nil {
            try db.run("""
                INSERT INTO sl_documents (collection, id, data, local_version, server_version, updated_at, hlc, deleted, sync_state)
                VALUES (?, ?, ?, 1, NULL, ?, ?, 0, 1)
                """, [.text(collection), .text(id), .text(text), .int(now), .text(hlc.description)])
        } else {
            try updateRow(collection, id: id, data: text, deleted: false, hlc: hlc)
        }
        try fault(.betweenDocumentAndOutbox)
        let type: OperationType = existing?.serverVersion == nil ? .insert : .update
        return try enqueue(collection, id: id, type: type, payload: text, document: text,
                           baseVersion: existing?.serverVersion, hlc: hlc)
    }

    func patchDocument(_ collection: String, id: String, changes: [String: JSONValue]) throws -> WriteOutcome {
        guard let existing = try existingRow(collection, id: id), !existing.deleted else {
            throw SyncLayerError(.documentNotFound, "no document \(Identifiers.describe(id)) in \(collection)")
        }
        guard !changes.isEmpty else { return WriteOutcome(id: id, operation: nil) }
        var merged = try JSONText.parseObject(existing.data)
        var delta: [String: JSONValue] = [:]
        for (key, value) in changes.sorted(by: { $0.key < $1.key }) {
            let path = key.contains(".") ? try Identifiers.pathSegments(key).map(String.init) : [key]
            merged.set(value, at: path[...])
            delta[path[0]] = merged[path[0]]
        }
        let text = JSONText.encode(merged)
        let hlc = stamp()
        try updateRow(collection, id: id, data: text, deleted: false, hlc: hlc)
        try fault(.betweenDocumentAndOutbox)
        return try enqueue(collection, id: id, type: .patch, payload: JSONText.encode(delta), document: text,
                           baseVersion: existing.serverVersion, hlc: hlc, fieldsChanged: changes.count)
    }

    func deleteDocument(_ collection: String, id: String) throws -> Bool {
        guard let existing = try existingRow(collection, id: id), !existing.deleted else { return false }
        let hlc = stamp()
        try updateRow(collection, id: id, data: existing.data, deleted: true, hlc: hlc)
        try fault(.betweenDocumentAndOutbox)
        let outcome = try enqueue(collection, id: id, type: .delete, payload: nil, document: existing.data,
                                  baseVersion: existing.serverVersion, hlc: hlc)
        if outcome.operation == nil, existing.serverVersion == nil {
            // The server never had it and no op is left: nothing to keep.
            try db.run("DELETE FROM sl_documents WHERE collection = ? AND id = ?", [.text(collection), .text(id)])
        }
        return true
    }

    private func updateRow(_ collection: String, id: String, data: String, deleted: Bool, hlc: HLCTimestamp) throws {
        try db.run("""
            UPDATE sl_documents
            SET data = ?, local_version = local_version + 1, updated_at = ?, hlc = ?, deleted = ?, sync_state = 1
            WHERE collection = ? AND id = ?
            """, [.text(data), .int(now), .text(hlc.description), .int(deleted ? 1 : 0), .text(collection), .text(id)])
    }

    /// Queues a change, folding it into the document's newest op when that op was never sent
    /// (see ``OutboxFold``).
    ///
    /// Behind a parked op of the document the change is parked too, so it cannot reach the server
    /// before that op (see `WriteContext.localChangeCount`); it is still folded into a parked op
    /// that was never sent.
    private func enqueue(_ collection: String, id: String, type: OperationType, payload: String?, document: String,
                         baseVersion: Int64?, hlc: HLCTimestamp, fieldsChanged: Int? = nil) throws -> WriteOutcome {
        let latest = try db.statement("""
            SELECT seq, type, payload, attempts, state,
                   EXISTS (SELECT 1 FROM sl_outbox WHERE collection = ?1 AND record_id = ?2 AND +state = 3)
            FROM sl_outbox WHERE collection = ?1 AND record_id = ?2 ORDER BY seq DESC LIMIT 1
            """)
        try latest.bind([.text(collection), .text(id)])
        var queued: (seq: Int64, type: OperationType, payload: String?)?
        var hasQueuedOps = false
        var parked = false
        if try latest.step() {
            hasQueuedOps = true
            parked = latest.int(5) != 0
            let state = latest.int(4)
            if latest.int(3) == 0, state == (parked ? OperationState.failed : OperationState.pending).rawValue,
               let queuedType = OperationType(rawValue: latest.text(1) ?? "") {
                queued = (latest.int(0), queuedType, latest.isNull(2) ? nil : latest.text(2))
            }
        }
        // A document the server may already have (an earlier op is on its way) is updated, not inserted.
        let newType = (type == .insert && hasQueuedOps) ? .update : type

        var metadata: [String: JSONValue] = [:]
        if let fieldsChanged { metadata["fieldsChanged"] = .int(fieldsChanged) }
        let result: WriteOutcome
        if let queued {
            switch try OutboxFold.fold(queued: (queued.type, queued.payload), new: (newType, payload), document: document) {
            case .drop:
                try db.run("DELETE FROM sl_outbox WHERE seq = ?", [.int(queued.seq)])
                result = WriteOutcome(id: id, operation: nil)
            case .replace(let foldedType, let foldedPayload):
                try db.run("UPDATE sl_outbox SET type = ?, payload = ?, hlc = ? WHERE seq = ?",
                           [.text(foldedType.rawValue), foldedPayload.map(SQLValue.text) ?? .null, .text(hlc.description),
                            .int(queued.seq)])
                result = WriteOutcome(id: id, operation: foldedType)
            }
            metadata["folded"] = true
        } else {
            try db.run("""
                INSERT INTO sl_outbox (op_id, collection, record_id, type, payload, base_version, hlc, created_at, state, last_error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(Identifiers.newID()), .text(collection), .text(id), .text(newType.rawValue),
                      payload.map(SQLValue.text) ?? .null, baseVersion.map(SQLValue.int) ?? .null,
                      .text(hlc.description), .int(now),
                      .int((parked ? OperationState.failed : OperationState.pending).rawValue),
                      parked ? .text("follows a parked operation") : .null])
            result = WriteOutcome(id: id, operation: newType)
        }
        changed(collection)
        queuedOperations = !parked
        if let queuedType = result.operation {
            if parked { metadata["parked"] = true }
            metadata["operationType"] = .string(queuedType.rawValue)
            emit(SyncEvent(.operationQueued, collection: collection, recordID: id, metadata: metadata))
        }
        return result
    }
}
