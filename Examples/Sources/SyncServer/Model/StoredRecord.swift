/// The server's current state of one record: a live document or a tombstone.
public struct StoredRecord: Sendable, Equatable {
    public var collection: String
    public var recordID: String
    /// The document; nil for a tombstone.
    public var data: [String: JSONValue]?
    /// Incremented by every applied change, starting at 1.
    public var version: Int64
    /// The change sequence of the last change.
    public var seq: Int64
    /// Server time of the last change, milliseconds since the epoch.
    public var updatedAt: Int64
    /// The hybrid-logical-clock stamp the writer sent, if any.
    public var hlc: String?
    /// The client id of the last writer (nil for v1 writers).
    public var clientID: String?
    /// The op id of the last change (client-given for v2, server-made for v1 WebSocket writes).
    public var opID: String?
    /// Whether the last change created (or revived) the record.
    public var createdByLastChange: Bool

    public var isDeleted: Bool { data == nil }

    /// The v2 record object of PROTOCOL.md §4.1.
    public var v2JSON: JSONValue {
        [
            "collection": .string(collection),
            "recordId": .string(recordID),
            "version": .int(version),
            "seq": .int(seq),
            "updatedAt": .string(Timestamp.format(milliseconds: updatedAt)),
            "deleted": .bool(isDeleted),
            "data": data.map(JSONValue.object) ?? .null,
            "hlc": hlc.map(JSONValue.string) ?? .null,
            "clientId": clientID.map(JSONValue.string) ?? .null,
        ]
    }
}

/// One page of changes after a cursor.
public struct ChangePage: Sendable {
    public var records: [StoredRecord]
    public var hasMore: Bool
}

/// One page of changes as the v2 pull answer carries it: `changes` already encoded (a JSON array of
/// ``StoredRecord/v2JSON`` objects in canonical form).
public struct EncodedChangePage: Sendable {
    public var changes: [UInt8]
    public var lastSeq: Int64?
    public var hasMore: Bool
}

/// A v1 pull query (`GET /sync/{collection}`).
public struct LegacyQuery: Sendable {
    public var collection: String
    public var since: Int64?
    public var limit: Int
    public var offset: Int
    /// Top-level field → value compared as Dart's `toString()`.
    public var equals: [(field: String, value: String)]

    public init(collection: String, since: Int64? = nil, limit: Int = 100, offset: Int = 0, equals: [(field: String, value: String)] = []) {
        self.collection = collection
        self.since = since
        self.limit = limit
        self.offset = offset
        self.equals = equals
    }
}
