import Foundation

/// A sync backend: where queued changes go and remote changes come from.
///
/// The SDK ships ``RESTBackend`` (the SyncLayer protocol, v1 and v2). Plug your own through
/// ``SyncConfig/customBackend`` (SyncLayer Dart's `customBackendAdapter`).
///
/// Contract:
/// - ``push(_:)`` returns one result per operation, in order, for a prefix of the batch (the
///   operations it did not get to have no result and are sent again later). It throws when it
///   cannot tell what happened to any of them; the engine then sends the same operations (same
///   op ids) again, so a backend must apply an op id at most once, or accept that a retried
///   non-idempotent write may repeat.
/// - ``pull(_:)`` returns the changes after a cursor, oldest first, with deletes as tombstones
///   where the backend knows them, and the cursor to continue from.
public protocol SyncBackend: Sendable {
    /// What the backend supports; called once before the first sync.
    func capabilities() async throws -> BackendCapabilities
    /// Sends a batch of operations.
    func push(_ batch: PushBatch) async throws -> [PushResult]
    /// Fetches one page of changes.
    func pull(_ request: PullRequest) async throws -> PullPage
}

/// What a backend supports.
public struct BackendCapabilities: Sendable, Hashable {
    /// The protocol version in use (1: one request per operation, time-based pull; 2: batches,
    /// op ids, cursors, tombstones).
    public var protocolVersion: Int
    /// Most operations in one push.
    public var maxOpsPerBatch: Int
    /// Most bytes in one request body.
    public var maxBodyBytes: Int
    /// Largest page a pull may ask for.
    public var maxPullLimit: Int
    /// Whether pull reports deletes (tombstones).
    public var reportsDeletes: Bool

    public init(protocolVersion: Int, maxOpsPerBatch: Int = 500, maxBodyBytes: Int = 4 << 20, maxPullLimit: Int = 1000,
                reportsDeletes: Bool) {
        self.protocolVersion = protocolVersion
        self.maxOpsPerBatch = maxOpsPerBatch
        self.maxBodyBytes = maxBodyBytes
        self.maxPullLimit = maxPullLimit
        self.reportsDeletes = reportsDeletes
    }
}

/// One queued change on its way to the server.
public struct PushOperation: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// A new document (full data).
        case insert
        /// A full replacement.
        case update
        /// Top-level fields to set.
        case patch
        /// A delete.
        case delete
    }

    /// Unique per operation and stable across retries.
    public let opID: String
    public let collection: String
    public let recordID: String
    public let kind: Kind
    /// Full document (insert, update), the delta (patch), nil (delete).
    public let payload: [String: JSONValue]?
    /// The server version this change was built on; nil when the client never saw the record
    /// on the server.
    public let baseVersion: Int?
    /// The hybrid-logical-clock stamp of the change.
    public let hlc: String
    /// When the change was made (device clock).
    public let createdAt: Date
    /// `payload` as the outbox stores it (canonical JSON), when the op came from the outbox.
    var payloadText: String?

    /// `payload` as canonical JSON text: the stored text when there is one, else encoded now.
    var payloadJSON: String? { payloadText ?? payload.map(JSONText.encode) }

    public init(opID: String, collection: String, recordID: String, kind: Kind, payload: [String: JSONValue]?,
                baseVersion: Int?, hlc: String, createdAt: Date) {
        self.opID = opID
        self.collection = collection
        self.recordID = recordID
        self.kind = kind
        self.payload = payload
        self.baseVersion = baseVersion
        self.hlc = hlc
        self.createdAt = createdAt
    }

    /// Equal when the public fields are: `payloadText` is only a cached encoding of `payload`.
    public static func == (lhs: PushOperation, rhs: PushOperation) -> Bool {
        lhs.opID == rhs.opID && lhs.collection == rhs.collection && lhs.recordID == rhs.recordID && lhs.kind == rhs.kind
            && lhs.payload == rhs.payload && lhs.baseVersion == rhs.baseVersion && lhs.hlc == rhs.hlc
            && lhs.createdAt == rhs.createdAt
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(opID)
        hasher.combine(collection)
        hasher.combine(recordID)
        hasher.combine(kind)
        hasher.combine(payload)
        hasher.combine(baseVersion)
        hasher.combine(hlc)
        hasher.combine(createdAt)
    }
}

/// Operations pushed together.
public struct PushBatch: Sendable, Hashable {
    public let clientID: String
    public let operations: [PushOperation]
}

/// A record as the server has it.
public struct RemoteRecord: Sendable, Hashable {
    public let collection: String
    public let recordID: String
    /// The document; nil for a tombstone.
    public let data: [String: JSONValue]?
    public var isDeleted: Bool { data == nil }
    /// Server version, incremented by every change.
    public let version: Int
    /// The server's change sequence (v2).
    public let seq: Int?
    /// Server time of the last change.
    public let updatedAt: Date
    /// Hybrid-logical-clock stamp of the last change, when the writer sent one.
    public let hlc: String?
    /// Client id of the last writer, when known.
    public let clientID: String?

    public init(collection: String, recordID: String, data: [String: JSONValue]?, version: Int, seq: Int? = nil,
                updatedAt: Date, hlc: String? = nil, clientID: String? = nil) {
        self.collection = collection
        self.recordID = recordID
        self.data = data
        self.version = version
        self.seq = seq
        self.updatedAt = updatedAt
        self.hlc = hlc
        self.clientID = clientID
    }
}

/// What the server did with one operation.
public enum PushResult: Sendable, Hashable {
    /// Applied now (or, `duplicate: true`, earlier: the op id was seen before). `hlc` is the
    /// record's stamp when the op changed nothing because the record already was what the op
    /// asked for (a delete of a tombstone): a later write of this client must be stamped after it.
    case applied(opID: String, version: Int?, updatedAt: Date?, duplicate: Bool, hlc: String? = nil)
    /// Not applied: the record changed on the server since `baseVersion`. `current` is the
    /// server's record (nil: it does not exist).
    case conflict(opID: String, current: RemoteRecord?)
    /// Not applied, for good (invalid, too large, forbidden, …).
    case rejected(opID: String, error: SyncError)
    /// Not applied this time; try again later.
    case retry(opID: String, error: SyncError)

    public var opID: String {
        switch self {
        case .applied(let id, _, _, _, _), .conflict(let id, _), .rejected(let id, _), .retry(let id, _): id
        }
    }
}

/// A request for one page of changes.
public struct PullRequest: Sendable, Hashable {
    public let collection: String
    /// Where the previous page ended; nil: from the beginning.
    public let cursor: String?
    /// Most records in the page.
    public let limit: Int
    /// The collection's filter, if any.
    public let filter: SyncFilter?
}

/// One page of changes.
public struct PullPage: Sendable, Hashable {
    /// Changed records, oldest change first; tombstones for deletes.
    public let records: [RemoteRecord]
    /// The cursor to continue from (store it with the page).
    public let cursor: String?
    /// Whether more changes wait.
    public let hasMore: Bool

    public init(records: [RemoteRecord], cursor: String?, hasMore: Bool) {
        self.records = records
        self.cursor = cursor
        self.hasMore = hasMore
    }
}
