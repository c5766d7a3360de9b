import Foundation

/// How a conflict between a local change and a remote change is resolved.
public enum ConflictStrategy: String, Sendable, Hashable, CaseIterable {
    /// The change with the later hybrid-logical-clock stamp wins.
    case lastWriteWins
    /// The server's version wins.
    case serverWins
    /// The local version wins and is pushed.
    case clientWins
    /// ``SyncConfig/customConflictResolver`` decides.
    case custom
    /// Three-way merge against the last server-confirmed copy: a field changed on one side
    /// only keeps that change; a field changed on both sides goes to the later write (by
    /// hybrid-logical clock). A delete against an edit is decided by last write wins.
    case merge
}

/// What a custom resolver sees.
public struct ConflictContext: Sendable {
    /// The collection of the document.
    public let collection: String
    /// The document id.
    public let documentID: String
    /// The local document data (`nil`: deleted locally).
    public let local: [String: JSONValue]?
    /// The remote document data (`nil`: deleted on the server).
    public let remote: [String: JSONValue]?
    /// The last server-confirmed data both sides started from (`nil`: unknown).
    public let base: [String: JSONValue]?
    /// The local change time.
    public let localUpdatedAt: Date
    /// The remote change time.
    public let remoteUpdatedAt: Date
    /// Whether the local change is the later write by hybrid logical clock: the rule of
    /// ``ConflictStrategy/lastWriteWins``, which a device clock running ahead cannot bend.
    /// Prefer it to comparing ``localUpdatedAt`` with ``remoteUpdatedAt``, which come from
    /// different clocks.
    public let localIsLater: Bool

    init(collection: String, documentID: String, local: [String: JSONValue]?, remote: [String: JSONValue]?,
         base: [String: JSONValue]?, localUpdatedAt: Date, remoteUpdatedAt: Date, localIsLater: Bool? = nil) {
        self.collection = collection
        self.documentID = documentID
        self.local = local
        self.remote = remote
        self.base = base
        self.localUpdatedAt = localUpdatedAt
        self.remoteUpdatedAt = remoteUpdatedAt
        self.localIsLater = localIsLater ?? (localUpdatedAt > remoteUpdatedAt)
    }
}

/// A resolver for ``ConflictStrategy/custom``: returns the data to keep, or `nil` to delete.
public typealias CustomConflictResolver = @Sendable (ConflictContext) -> [String: JSONValue]?
