/// Limits on stored documents (PROTOCOL.md §1).
public struct DocumentLimits: Sendable, Equatable {
    public var maxBytes: Int
    public var maxDepth: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 32) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    /// Nil when the document fits, otherwise the rejection (code, message).
    public func violation(of document: [String: JSONValue]) -> (code: String, message: String)? {
        violation(of: document, encoded: JSONValue.object(document).encoded)
    }

    /// `violation(of:)` for a document whose canonical encoding is already at hand.
    func violation(of document: [String: JSONValue], encoded: String) -> (code: String, message: String)? {
        let depth = JSONValue.object(document).depth
        if depth > maxDepth {
            // Not the depth itself: the request parser cuts what lies beyond the limit, so it can be larger.
            return ("DOCUMENT_TOO_DEEP", "document nests deeper than the limit of \(maxDepth) levels")
        }
        let size = encoded.utf8.count
        if size > maxBytes {
            return ("DOCUMENT_TOO_LARGE", "document is \(size) bytes; the limit is \(maxBytes)")
        }
        return nil
    }
}

/// The decision table of PROTOCOL.md §4.1 (v2) and §3 (v1), free of storage so it is tested as a table.
public enum WriteRule {
    public enum Decision: Sendable, Equatable {
        /// Write this state: a document, or nil for a tombstone. `created` when no live record preceded it.
        case write(data: [String: JSONValue]?, created: Bool)
        /// Applied without a change (deleting a tombstone); answer with the current row.
        case unchanged
        case conflict
        case recordNotFound
        case rejected(code: String, message: String)
    }

    public static func decide(_ op: WriteOperation, current: StoredRecord?, limits: DocumentLimits) -> Decision {
        let decision = decideIgnoringLimits(op, current: current)
        if case .write(let data?, _) = decision, let violation = limits.violation(of: data) {
            return .rejected(code: violation.code, message: violation.message)
        }
        return decision
    }

    /// The decision before the document limits are checked; the store checks them on the text it stores,
    /// so the document is encoded once.
    static func decideIgnoringLimits(_ op: WriteOperation, current: StoredRecord?) -> Decision {
        op.rules == .v1 ? decideV1(op, current: current) : decideV2(op, current: current)
    }

    private static func decideV1(_ op: WriteOperation, current: StoredRecord?) -> Decision {
        let live = current.flatMap(\.data)
        switch op.kind {
        case .insert, .update:
            return .write(data: op.payload ?? [:], created: live == nil)
        case .patch:
            guard let live else { return .recordNotFound }
            return .write(data: merge(live, op.payload ?? [:]), created: false)
        case .delete:
            if let current, current.isDeleted { return .unchanged }
            return .write(data: nil, created: false)
        }
    }

    private static func decideV2(_ op: WriteOperation, current: StoredRecord?) -> Decision {
        let matches = baseMatches(op, current: current)
        guard let current else {
            switch op.kind {
            case .insert, .update: return matches ? .write(data: op.payload ?? [:], created: true) : .conflict
            case .patch: return .conflict
            case .delete: return .write(data: nil, created: false)
            }
        }
        guard let live = current.data else {
            switch op.kind {
            case .insert, .update:
                return op.baseVersion == nil || matches ? .write(data: op.payload ?? [:], created: true) : .conflict
            case .patch: return .conflict
            case .delete: return .unchanged
            }
        }
        guard matches else { return .conflict }
        switch op.kind {
        case .insert, .update: return .write(data: op.payload ?? [:], created: false)
        case .patch: return .write(data: merge(live, op.payload ?? [:]), created: false)
        case .delete: return .write(data: nil, created: false)
        }
    }

    /// Exact base, a null base onto nothing, or own-write chaining (PROTOCOL.md §4.1).
    static func baseMatches(_ op: WriteOperation, current: StoredRecord?) -> Bool {
        let currentVersion = current?.version ?? 0
        if let base = op.baseVersion, base == currentVersion { return true }
        guard let current else { return op.baseVersion == nil }
        if let clientID = op.clientID, current.clientID == clientID {
            return op.baseVersion.map { $0 < currentVersion } ?? true
        }
        return false
    }

    /// Top-level patch: delta keys replace stored keys; `null` is stored; nested objects are replaced.
    public static func merge(_ document: [String: JSONValue], _ delta: [String: JSONValue]) -> [String: JSONValue] {
        document.merging(delta) { _, new in new }
    }
}
