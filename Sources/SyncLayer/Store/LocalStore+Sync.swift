import Foundation

/// A document: its collection and id.
struct DocumentKey: Hashable, Sendable {
    let collection: String
    let recordID: String
}

/// A queued operation as the sync engine sees it.
struct OutboxEntry: Sendable {
    let seq: Int64
    let operation: PushOperation
    let attempts: Int
    let failures: Int
    let payloadBytes: Int

    var document: DocumentKey { DocumentKey(collection: operation.collection, recordID: operation.recordID) }
}

/// The store's side of sync: taking batches from the outbox, recording the server's answers,
/// and applying pulled changes. Each method is one transaction.
extension LocalStore {
    // MARK: Push

    /// The oldest pending operations, at most `limit` of them and about `maxBytes` of payload
    /// (always at least one), counted as sent in the same transaction: from here on they are
    /// never folded into or changed, so a retry is byte-for-byte the same operation.
    ///
    /// With `after`, the batch starts behind that seq and stops before the first operation of a
    /// document in `inFlight`: the batch before it has been answered but not yet recorded, and
    /// recording it may still re-base, reject or re-queue later operations of its own documents.
    func takeBatch(limit: Int, maxBytes: Int, after: Int64 = 0, inFlight: Set<DocumentKey> = []) throws -> [OutboxEntry] {
        try write { context in
            // `+state`: walk the outbox in seq (rowid) order and stop at `limit`; through the
            // state index SQLite would sort every pending row for each batch.
            let statement = try context.db.statement("""
                SELECT seq, op_id, collection, record_id, type, payload, base_version, hlc, created_at, attempts, failures
                FROM sl_outbox WHERE seq > ? AND +state = 0 ORDER BY seq LIMIT ?
                """)
            try statement.bind([.int(after), .int(Int64(limit))])
            var entries: [OutboxEntry] = []
            var bytes = 0
            while try statement.step() {
                let document = DocumentKey(collection: statement.text(2) ?? "", recordID: statement.text(3) ?? "")
                if inFlight.contains(document) { break }
                let payloadText = statement.isNull(5) ? nil : statement.text(5)
                let size = (payloadText?.utf8.count ?? 0) + 200
                if !entries.isEmpty && bytes + size > maxBytes { break }
                bytes += size
                let payload = try payloadText.map { text -> [String: JSONValue] in try JSONText.parseObject(text) }
                let kind = PushOperation.Kind(rawValue: statement.text(4) ?? "") ?? .update
                var operation = PushOperation(
                    opID: statement.text(1) ?? "", collection: document.collection, recordID: document.recordID,
                    kind: kind, payload: payload, baseVersion: statement.isNull(6) ? nil : Int(statement.int(6)),
                    hlc: statement.text(7) ?? "", createdAt: Date(timeIntervalSince1970: Double(statement.int(8)) / 1000))
                operation.payloadText = payloadText
                entries.append(OutboxEntry(seq: statement.int(0), operation: operation, attempts: Int(statement.int(9)),
                                           failures: Int(statement.int(10)), payloadBytes: size))
            }
            context.db.finishStatements()
            // The entries are every pending row from the first seq to the last (read in seq order).
            if let first = entries.first?.seq, let last = entries.last?.seq {
                try context.db.run("UPDATE sl_outbox SET attempts = attempts + 1 WHERE seq BETWEEN ? AND ? AND +state = 0",
                                   [.int(first), .int(last)])
            }
            return entries
        }
    }

    /// Gives back a batch that was taken but never sent: each op counts one send fewer, so an op
    /// never sent can again be folded into and re-based.
    func untake(_ entries: [OutboxEntry]) throws {
        try write { context in
            for entry in entries {
                try context.db.run("UPDATE sl_outbox SET attempts = attempts - 1 WHERE seq = ? AND attempts > 0", [.int(entry.seq)])
            }
        }
    }

    /// What recording a batch's answers did, for events and metrics.
    struct PushOutcome {
        var synced = 0
        /// Payload bytes of the acknowledged operations.
        var syncedBytes = 0
        var rejected = 0
        var conflicts = 0
        var parked = 0
        /// The first retryable failure, when the batch stopped on one.
        var retryError: SyncError?
    }

    /// Records the server's answers to a batch in one transaction. Operations without an answer
    /// (after a retryable failure) stay queued; `failure` is applied to them when the whole
    /// batch failed.
    func recordPush(_ entries: [OutboxEntry], results: [PushResult], failure: SyncError?, maxRetries: Int,
                    resolver: (String) -> ConflictResolver) throws -> PushOutcome {
        try write { context in
            var outcome = PushOutcome()
            var resolvedDocuments = Set<DocumentKey>()
            let bySeq = Dictionary(uniqueKeysWithValues: entries.map { ($0.operation.opID, $0) })
            for result in results {
                guard let entry = bySeq[result.opID] else { continue }
                let op = entry.operation
                switch result {
                case .applied(_, let version, _, _, let hlc):
                    if let stamp = hlc.flatMap(HLCTimestamp.init) { context.clock.receive(stamp, now: context.now) }
                    // With a stamp the op changed nothing: the version is another client's write.
                    try context.acknowledge(entry, version: version, rebasesLaterOps: hlc == nil)
                    outcome.synced += 1
                    outcome.syncedBytes += entry.payloadBytes
                case .conflict(_, let current):
                    if resolvedDocuments.insert(entry.document).inserted {
                        try context.resolveConflict(collection: op.collection, id: op.recordID, remote: current,
                                                    resolver: resolver(op.collection), clientID: clientID)
                        outcome.conflicts += 1
                    }
                case .rejected(_, let error):
                    try context.reject(entry, error: error)
                    outcome.rejected += 1
                case .retry(_, let error):
                    outcome.retryError = outcome.retryError ?? error
                    if try context.countFailure(entry, error: error, maxRetries: maxRetries) { outcome.parked += 1 }
                }
            }
            if let failure {
                outcome.retryError = failure
                let answered = Set(results.map(\.opID))
                for entry in entries where !answered.contains(entry.operation.opID) {
                    if try context.countFailure(entry, error: failure, maxRetries: maxRetries) { outcome.parked += 1 }
                }
            }
            TestingHooks.reached(.acknowledgements)
            return outcome
        }
    }

    /// Parked (failed) operations go back to the queue.
    @discardableResult
    func retryFailedOperations() throws -> Int {
        try write { context in
            let count = try context.db.run("UPDATE sl_outbox SET state = 0, failures = 0, last_error = NULL WHERE state = 3")
            context.queuedOperations = count > 0
            return count
        }
    }

    // MARK: Pull

    /// The stored pull cursor of a collection for a protocol version.
    func pullCursor(_ collection: String, protocolVersion: Int) throws -> String? {
        try read { db in try db.scalarText("SELECT value FROM sl_meta WHERE key = ?",
                                           [.text("cursor:v\(protocolVersion):\(collection)")]) }
    }

    /// The stored pull cursor, when it was stored under this filter (see ``SyncFilter/fingerprint``);
    /// `nil` after the filter changed, so a widened filter brings the older records that now match.
    /// The first page applied stores the new filter with its cursor.
    func pullCursor(_ collection: String, protocolVersion: Int, filter: SyncFilter?) throws -> String? {
        try read { db in
            let stored = try db.scalarText("SELECT value FROM sl_meta WHERE key = ?",
                                           [.text("cursor-filter:v\(protocolVersion):\(collection)")])
            guard (stored ?? "") == (filter?.fingerprint ?? "") else { return nil }
            return try db.scalarText("SELECT value FROM sl_meta WHERE key = ?", [.text("cursor:v\(protocolVersion):\(collection)")])
        }
    }

    /// Forgets a collection's cursor (the server no longer knows it): the next pull starts over.
    func resetPullCursor(_ collection: String, protocolVersion: Int) throws {
        try write { context in
            try context.db.run("DELETE FROM sl_meta WHERE key = ?", [.text("cursor:v\(protocolVersion):\(collection)")])
        }
    }

    /// Applies records that arrived over the realtime connection (no cursor moves: the pull
    /// cursor only advances through pulls, so nothing a dropped message missed is skipped).
    /// Patches (`delta`) merge into the local server copy; they never replace the document.
    func applyRealtime(_ records: [RemoteRecord], deltas: Set<String>, filter: (String) -> SyncFilter?,
                       resolver: (String) -> ConflictResolver) throws
        -> [(record: RemoteRecord, outcome: WriteContext.RemoteOutcome)] {
        try write { context in
            try records.map { record in
                var record = record
                if deltas.contains(record.recordID), let delta = record.data {
                    guard let row = try context.syncedRow(record.collection, id: record.recordID), !row.deleted else {
                        return (record, .skipped)  // a patch of something we do not have: the pull brings it
                    }
                    var merged = try JSONText.parseObject(row.base ?? row.data)
                    for (key, value) in delta { merged[key] = value }
                    record = RemoteRecord(collection: record.collection, recordID: record.recordID, data: merged,
                                          version: record.version, seq: record.seq, updatedAt: record.updatedAt,
                                          hlc: record.hlc, clientID: record.clientID)
                }
                let outcome = try context.applyRemote(record, filter: filter(record.collection), resolver: resolver(record.collection),
                                                      clientID: clientID)
                return (record, outcome)
            }
        }
    }

    /// Applies one pulled page and stores its cursor with the filter it was pulled under, in one
    /// transaction. A `pagePulled` event follows the commit.
    func applyPage(_ page: PullPage, collection: String, protocolVersion: Int, filter: SyncFilter?,
                   resolver: ConflictResolver) throws -> (applied: Int, conflicts: Int) {
        try write { context in
            var applied = 0, conflicts = 0
            for record in page.records where record.collection == collection {
                switch try context.applyRemote(record, filter: filter, resolver: resolver, clientID: clientID) {
                case .applied: applied += 1
                case .conflict: conflicts += 1
                case .skipped: break
                }
            }
            TestingHooks.reached(.beforeCursor)
            if let cursor = page.cursor {
                let upsert = "INSERT INTO sl_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                try context.db.run(upsert, [.text("cursor:v\(protocolVersion):\(collection)"), .text(cursor)])
                try context.db.run(upsert, [.text("cursor-filter:v\(protocolVersion):\(collection)"), .text(filter?.fingerprint ?? "")])
            }
            context.emit(SyncEvent(.pagePulled, collection: collection, metadata: ["count": .int(applied)]))
            return (applied, conflicts)
        }
    }
}

// MARK: - Inside the transaction

extension WriteContext {
    struct SyncedRow {
        let deleted: Bool
        let serverVersion: Int64?
        let data: String
        let base: String?
        let hlc: String
        let updatedAt: Int64
        let localVersion: Int64
    }

    func syncedRow(_ collection: String, id: String) throws -> SyncedRow? {
        let statement = try db.statement("""
            SELECT deleted, server_version, data, base, hlc, updated_at, local_version FROM sl_documents
            WHERE collection = ? AND id = ?
            """)
        try statement.bind([.text(collection), .text(id)])
        guard try statement.step() else { return nil }
        return SyncedRow(deleted: statement.int(0) != 0, serverVersion: statement.isNull(1) ? nil : statement.int(1),
                         data: statement.text(2) ?? "{}", base: statement.isNull(3) ? nil : statement.text(3),
                         hlc: statement.text(4) ?? "", updatedAt: statement.int(5), localVersion: statement.int(6))
    }

    /// The document's local changes the server has not taken: queued ops and parked ones.
    ///
    /// A parked op (`maxRetries` answered failures) is still a local change, so its document
    /// stays `.pending`, a remote change to it goes through conflict resolution instead of
    /// replacing it, and no later op of it overtakes the parked one: ops queued behind a parked
    /// op are parked too (`countFailure`, `enqueue`) and `retryFailedOperations()` re-queues
    /// them all in their order.
    ///
    /// `+state` keeps SQLite on the (collection, record_id) index: through the state index it
    /// counted every pending row, once per acknowledged op (a drain of n ops took O(n²)).
    func localChangeCount(_ collection: String, id: String) throws -> Int64 {
        try db.scalarInt("SELECT count(*) FROM sl_outbox WHERE collection = ? AND record_id = ? AND +state IN (0, 3)",
                         [.text(collection), .text(id)]) ?? 0
    }

    /// The server applied an operation: it leaves the outbox and the document records the new
    /// server version, in this same transaction.
    ///
    /// Later unsent ops of the document are re-based onto the new version when `rebasesLaterOps`;
    /// not when the version is another client's write that this op left as it was (a delete of a
    /// tombstone): they were built on what this client knew, and the server must judge them so.
    func acknowledge(_ entry: OutboxEntry, version: Int?, rebasesLaterOps: Bool = true) throws {
        let op = entry.operation
        guard try db.run("DELETE FROM sl_outbox WHERE seq = ?", [.int(entry.seq)]) == 1 else { return }
        defer {
            changed(op.collection)
            emit(SyncEvent(.operationSynced, collection: op.collection, recordID: op.recordID,
                           metadata: ["operationType": .string(op.kind.rawValue), "version": version.map { .int($0) } ?? .null]))
        }
        if let version, op.kind == .insert || op.kind == .update {
            // The common case, in two statements and without reading the row: the server's copy is
            // the op's payload, and the document is synced unless later ops of it are queued.
            let document: [SQLValue] = [.text(op.collection), .text(op.recordID)]
            if rebasesLaterOps {
                // Later ops of this document that were never sent now build on the new version.
                try db.run("""
                    UPDATE sl_outbox SET base_version = ?
                    WHERE collection = ? AND record_id = ? AND seq > ? AND attempts = 0 AND state IN (0, 3)
                    """, [.int(Int64(version))] + document + [.int(entry.seq)])
            }
            try db.run("""
                UPDATE sl_documents SET server_version = ?, base = ?, sync_state = CASE
                    WHEN EXISTS (SELECT 1 FROM sl_outbox WHERE collection = ?3 AND record_id = ?4 AND +state IN (0, 3)) THEN sync_state
                    ELSE 0 END
                WHERE collection = ?3 AND id = ?4
                """, [.int(Int64(version)), op.payloadJSON.map(SQLValue.text) ?? .null]
                    + document)
            return
        }
        guard let row = try syncedRow(op.collection, id: op.recordID) else { return }
        let remaining = try localChangeCount(op.collection, id: op.recordID)
        let serverVersion = version.map(Int64.init) ?? row.serverVersion
        if let version, remaining > 0, rebasesLaterOps {
            // Later ops of this document that were never sent now build on the new version.
            try db.run("""
                UPDATE sl_outbox SET base_version = ?
                WHERE collection = ? AND record_id = ? AND seq > ? AND attempts = 0 AND state IN (0, 3)
                """, [.int(Int64(version)), .text(op.collection), .text(op.recordID), .int(entry.seq)])
        }
        if op.kind == .delete && remaining == 0 && row.deleted {
            try db.run("DELETE FROM sl_documents WHERE collection = ? AND id = ?", [.text(op.collection), .text(op.recordID)])
            return
        }
        // The server's copy after this op, the base of later three-way merges.
        let base: String?
        switch op.kind {
        case .insert, .update: base = op.payloadJSON
        case .delete: base = nil
        case .patch:
            if var merged = try row.base.map({ try JSONText.parseObject($0) }) {
                for (key, value) in op.payload ?? [:] { merged[key] = value }
                base = JSONText.encode(merged)
            } else {
                base = remaining == 0 && !row.deleted ? row.data : nil
            }
        }
        try db.run("""
            UPDATE sl_documents SET server_version = ?, base = ?, sync_state = CASE WHEN ? = 0 THEN 0 ELSE sync_state END
            WHERE collection = ? AND id = ?
            """, [serverVersion.map(SQLValue.int) ?? .null, base.map(SQLValue.text) ?? .null, .int(remaining),
                  .text(op.collection), .text(op.recordID)])
    }

    /// The server refused an operation for good. It stays in the outbox as rejected (for the
    /// app to inspect); later unsent changes of the same document, built on it, are rejected
    /// with it; the document goes back to the server's copy and is marked rejected.
    func reject(_ entry: OutboxEntry, error: SyncError) throws {
        let op = entry.operation
        let reason = String(([error.code, error.message].compactMap { $0 }.joined(separator: ": ")).prefix(500))
        try db.run("UPDATE sl_outbox SET state = 2, last_error = ? WHERE seq = ?", [.text(reason), .int(entry.seq)])
        try db.run("""
            UPDATE sl_outbox SET state = 2, last_error = 'follows a rejected operation'
            WHERE collection = ? AND record_id = ? AND seq > ? AND state = 0 AND attempts = 0
            """, [.text(op.collection), .text(op.recordID), .int(entry.seq)])
        if let row = try syncedRow(op.collection, id: op.recordID), try localChangeCount(op.collection, id: op.recordID) == 0 {
            if let base = row.base {
                try db.run("UPDATE sl_documents SET data = ?, deleted = 0, sync_state = 2, local_version = local_version + 1 WHERE collection = ? AND id = ?",
                           [.text(base), .text(op.collection), .text(op.recordID)])
            } else if row.serverVersion == nil || op.kind == .insert {
                // The server has no copy: the document is gone, kept as a rejected tombstone.
                try db.run("UPDATE sl_documents SET deleted = 1, sync_state = 2, local_version = local_version + 1 WHERE collection = ? AND id = ?",
                           [.text(op.collection), .text(op.recordID)])
            } else {
                try db.run("UPDATE sl_documents SET sync_state = 2 WHERE collection = ? AND id = ?",
                           [.text(op.collection), .text(op.recordID)])
            }
        }
        changed(op.collection)
        let metadata: [String: JSONValue] = ["operationType": .string(op.kind.rawValue), "code": error.code.map(JSONValue.string) ?? .null,
                                             "status": error.status.map { .int($0) } ?? .null]
        emit(SyncEvent(.operationRejected, collection: op.collection, recordID: op.recordID, metadata: metadata, error: reason))
        emit(SyncEvent(.operationFailed, collection: op.collection, recordID: op.recordID, metadata: metadata, error: reason))
    }

    /// Counts a retryable failure the server answered; parks the op after `maxRetries` of them.
    /// Network failures (no answer) never count: an offline device keeps its queue.
    /// Returns whether the op was parked.
    func countFailure(_ entry: OutboxEntry, error: SyncError, maxRetries: Int) throws -> Bool {
        guard error.kind != .network && error.kind != .unauthorized else { return false }
        let failures = entry.failures + 1
        let parked = failures >= maxRetries
        // No row when an earlier op of the document, parked just before, took this one with it.
        guard try db.run("UPDATE sl_outbox SET failures = ?, last_error = ?, state = ? WHERE seq = ? AND state = 0",
                         [.int(Int64(failures)), .text(String(error.description.prefix(500))),
                          .int(parked ? OperationState.failed.rawValue : OperationState.pending.rawValue), .int(entry.seq)]) == 1
        else { return false }
        if parked {
            // Later ops of the document were built on this one and must not reach the server
            // before it: they wait with it (sent or not), in their order.
            try db.run("""
                UPDATE sl_outbox SET state = 3, last_error = 'follows a parked operation'
                WHERE collection = ? AND record_id = ? AND seq > ? AND state = 0
                """, [.text(entry.operation.collection), .text(entry.operation.recordID), .int(entry.seq)])
            emit(SyncEvent(.operationFailed, collection: entry.operation.collection, recordID: entry.operation.recordID,
                           metadata: ["operationType": .string(entry.operation.kind.rawValue), "parked": true],
                           error: error.description))
        }
        return parked
    }

    // MARK: Remote changes

    enum RemoteOutcome { case applied, conflict, skipped }

    /// Applies one record from the server.
    ///
    /// - A document without local changes takes the server's copy (a tombstone removes it).
    /// - A record no newer than the local copy's server version is skipped (an echo or a repeat).
    /// - A document with local changes: if the record is this client's own write whose answer was
    ///   lost, only the server version and base move; otherwise the conflict is resolved.
    func applyRemote(_ record: RemoteRecord, filter: SyncFilter?, resolver: ConflictResolver, clientID: String) throws
        -> RemoteOutcome {
        if let stamp = record.hlc.flatMap(HLCTimestamp.init) { clock.receive(stamp, now: now) }
        var record = record
        var leftTheFilter = false
        if let filter, let data = record.data {
            if filter.where.contains(where: { data[$0.key] != $0.value }) {
                leftTheFilter = true
            } else {
                record = RemoteRecord(collection: record.collection, recordID: record.recordID,
                                      data: LocalStore.project(data, filter: filter), version: record.version,
                                      seq: record.seq, updatedAt: record.updatedAt, hlc: record.hlc, clientID: record.clientID)
            }
        }
        let collection = record.collection, id = record.recordID
        let row = try syncedRow(collection, id: id)
        // `since`, which v2 servers do not apply: a live record last changed at or before it is not
        // taken (the bound of v1 servers, which send only records changed strictly after it),
        // unless this device holds the document. Tombstones always apply.
        if row == nil, !record.isDeleted, let since = filter?.since, record.updatedAt <= since { return .skipped }
        if let row, let known = row.serverVersion {
            // Older than what we have, or the same version we already hold (v1 servers may not
            // count versions, so an equal version with other data is still applied).
            if Int64(record.version) < known { return .skipped }
            if Int64(record.version) == known, row.base.flatMap({ try? JSONText.parseObject($0) }) == record.data {
                return .skipped
            }
        }
        let pending = row == nil ? 0 : try localChangeCount(collection, id: id)

        if pending == 0 {
            if record.isDeleted || leftTheFilter {
                guard row != nil else { return .skipped }
                try db.run("DELETE FROM sl_documents WHERE collection = ? AND id = ?", [.text(collection), .text(id)])
                changed(collection)
                return .applied
            }
            if let row, !row.deleted, let data = record.data, try JSONText.parseObject(row.data) == data {
                // Same data (typically the echo of this client's own write): only the server's
                // version moves; nothing changes for readers, so no watch() wakes up.
                try db.run("UPDATE sl_documents SET server_version = ?, base = ?, sync_state = 0 WHERE collection = ? AND id = ?",
                           [.int(Int64(record.version)), .text(JSONText.encode(data)), .text(collection), .text(id)])
                return .skipped
            }
            try storeServerCopy(record)
            changed(collection)
            return .applied
        }
        if record.clientID == clientID {
            try db.run("UPDATE sl_documents SET server_version = ?, base = ? WHERE collection = ? AND id = ?",
                       [.int(Int64(record.version)), record.data.map { .text(JSONText.encode($0)) } ?? .null,
                        .text(collection), .text(id)])
            return .skipped
        }
        try resolveConflict(collection: collection, id: id, remote: record, resolver: resolver, clientID: clientID)
        return .conflict
    }

    /// Writes the server's copy as the synced document.
    private func storeServerCopy(_ record: RemoteRecord) throws {
        let text = JSONText.encode(record.data ?? [:])
        let hlc = record.hlc ?? HLCTimestamp(milliseconds: Int64(record.updatedAt.timeIntervalSince1970 * 1000), counter: 0,
                                             node: "server").description
        try db.run("""
            INSERT INTO sl_documents (collection, id, data, local_version, server_version, updated_at, hlc, deleted, sync_state, base)
            VALUES (?, ?, ?, 1, ?, ?, ?, 0, 0, ?)
            ON CONFLICT (collection, id) DO UPDATE SET
                data = excluded.data, local_version = local_version + 1, server_version = excluded.server_version,
                updated_at = excluded.updated_at, hlc = excluded.hlc, deleted = 0, sync_state = 0, base = excluded.base
            """, [.text(record.collection), .text(record.recordID), .text(text), .int(Int64(record.version)),
                  .int(Int64(record.updatedAt.timeIntervalSince1970 * 1000)), .text(hlc), .text(text)])
    }

    /// Resolves a conflict between the local document (with its pending changes) and the
    /// server's record (`nil`: the server has none).
    ///
    /// Every queued or parked op of the document is replaced: by nothing when the result is the
    /// server's copy, else by one full update (or delete) built on the server's version, queued
    /// (not parked), so the result reaches the server. (SyncLayer Dart kept resolutions local only.)
    func resolveConflict(collection: String, id: String, remote: RemoteRecord?, resolver: ConflictResolver,
                         clientID: String) throws {
        guard let row = try syncedRow(collection, id: id) else { return }
        let local = row.deleted ? nil : try JSONText.parseObject(row.data)
        let base = try row.base.map { try JSONText.parseObject($0) }
        let remoteStamp = remote?.hlc.flatMap(HLCTimestamp.init)
            ?? HLCTimestamp(milliseconds: Int64((remote?.updatedAt.timeIntervalSince1970 ?? 0) * 1000), counter: 0, node: "")
        if let stamp = remote?.hlc.flatMap(HLCTimestamp.init) { clock.receive(stamp, now: now) }
        let input = ConflictResolver.Input(
            collection: collection, id: id, local: local, localHLC: HLCTimestamp(row.hlc) ?? HLCTimestamp(milliseconds: row.updatedAt, counter: 0, node: clientID),
            localUpdatedAt: Date(timeIntervalSince1970: Double(row.updatedAt) / 1000), remote: remote?.data,
            remoteHLC: remoteStamp, remoteUpdatedAt: remote?.updatedAt ?? .distantPast, base: base)
        emit(SyncEvent(.conflictDetected, collection: collection, recordID: id, metadata: [
            "localVersion": .int(Int(row.localVersion)), "remoteVersion": remote.map { .int($0.version) } ?? .null,
            "strategy": .string(resolver.strategy.rawValue),
        ]))
        let (resolved, winner) = resolver.resolve(input)

        // Parked ops go too: the local side of the resolution carries their changes.
        try db.run("DELETE FROM sl_outbox WHERE collection = ? AND record_id = ? AND +state IN (0, 3)",
                   [.text(collection), .text(id)])
        let remoteVersion = remote.map { Int64($0.version) }
        let remoteText = remote?.data.map(JSONText.encode)
        // A local write that wins by its later stamp keeps that stamp, and reaches the server even
        // when its data equals the server's: the server's copy must carry the stamp that won, or
        // a write stamped between the two would later beat it (found by sync-torture, seeds 445
        // and 880 under clock skew).
        let keepsLocalStamp = winner == .local && input.localHLC > remoteStamp
        if resolved == remote?.data && !keepsLocalStamp {
            if let remote, !remote.isDeleted {
                try storeServerCopy(remote)
            } else {
                try db.run("DELETE FROM sl_documents WHERE collection = ? AND id = ?", [.text(collection), .text(id)])
            }
        } else {
            // Otherwise the result is a new local write: it gets a stamp after the remote one. Either way it is queued.
            let hlc = keepsLocalStamp ? input.localHLC : stamp()
            let text = JSONText.encode(resolved ?? local ?? [:])
            try db.run("""
                UPDATE sl_documents SET data = ?, deleted = ?, local_version = local_version + 1, server_version = ?,
                    updated_at = ?, hlc = ?, sync_state = 1, base = ?
                WHERE collection = ? AND id = ?
                """, [.text(text), .int(resolved == nil ? 1 : 0), remoteVersion.map(SQLValue.int) ?? .null, .int(now),
                      .text(hlc.description), remoteText.map(SQLValue.text) ?? .null, .text(collection), .text(id)])
            let type: OperationType = resolved == nil ? .delete : (remote == nil ? .insert : .update)
            try db.run("""
                INSERT INTO sl_outbox (op_id, collection, record_id, type, payload, base_version, hlc, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(Identifiers.newID()), .text(collection), .text(id), .text(type.rawValue),
                      resolved == nil ? .null : .text(text), remoteVersion.map(SQLValue.int) ?? .null,
                      .text(hlc.description), .int(now)])
            queuedOperations = true
        }
        changed(collection)
        emit(SyncEvent(.conflictResolved, collection: collection, recordID: id, metadata: [
            "strategy": .string(resolver.strategy.rawValue), "winner": .string(winner.rawValue),
        ]))
    }
}

extension LocalStore {
    /// A filter's `fields`/`excludeFields` applied to pulled data.
    static func project(_ data: [String: JSONValue], filter: SyncFilter) -> [String: JSONValue] {
        var result = data
        if let fields = filter.fields { result = result.filter { fields.contains($0.key) } }
        if let excluded = filter.excludeFields { for key in excluded { result.removeValue(forKey: key) } }
        return result
    }
}
