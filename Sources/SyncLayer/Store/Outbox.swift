/// The kind of a queued change.
enum OperationType: String, Sendable, Hashable {
    /// A document the server has never had (full document).
    case insert
    /// A full-document replacement.
    case update
    /// Top-level fields to set (a delta).
    case patch
    /// A delete.
    case delete
}

/// The state of an outbox row.
enum OperationState: Int64, Sendable {
    /// Waiting to be sent (or re-sent).
    case pending = 0
    /// The server rejected it for good; kept for the app to inspect.
    case rejected = 2
    /// Parked after `maxRetries` answered failures, or queued behind a parked op of its document;
    /// `retryFailedOperations()` re-queues it.
    case failed = 3
}

/// Folding a new change into the newest queued op of the same document.
///
/// The invariant that makes folding safe: only an op that has **never been sent**
/// (`attempts == 0`, state pending) is folded into. An op that may have reached the server
/// keeps its op id and payload, because a retry must be byte-for-byte the same operation
/// (the server dedups by op id and answers a duplicate with the first answer).
///
/// | queued \ new | save (full)        | update (patch)              | delete              |
/// |--------------|--------------------|-----------------------------|---------------------|
/// | insert       | insert(new doc)    | insert(merged doc)          | drop both (*)       |
/// | update       | update(new doc)    | update(merged doc)          | delete              |
/// | patch        | update(new doc)    | patch(old delta + new delta)| delete              |
/// | delete       | update(new doc)    | —                           | —                   |
///
/// (*) the server never saw the document, so nothing is sent and the local row is removed.
/// The folded op keeps the queued op's id, position and base version.
enum OutboxFold {
    enum Result: Equatable {
        case replace(type: OperationType, payload: String?)
        case drop
    }

    /// - Parameters:
    ///   - queued: type and payload of the queued op.
    ///   - new: type and payload of the new change.
    ///   - document: the document's full data after the new change (JSON text).
    static func fold(queued: (type: OperationType, payload: String?),
                     new: (type: OperationType, payload: String?),
                     document: String) throws -> Result {
        switch (queued.type, new.type) {
        case (.insert, .delete):
            return .drop
        case (.insert, _):
            return .replace(type: .insert, payload: document)
        case (.patch, .patch):
            var delta = try JSONText.parseObject(queued.payload ?? "{}")
            for (key, value) in try JSONText.parseObject(new.payload ?? "{}") { delta[key] = value }
            return .replace(type: .patch, payload: JSONText.encode(delta))
        case (_, .delete):
            return .replace(type: .delete, payload: nil)
        case (_, .insert), (_, .update), (.update, .patch), (.delete, .patch):
            return .replace(type: .update, payload: document)
        }
    }
}
