/// Where the server keeps documents, tombstones, the change sequence and the op-dedup table.
///
/// Requirements on every implementation (PROTOCOL.md §4):
/// - `write` applies a batch in one transaction and returns only after it committed durably;
/// - each applied change gets a `seq` greater than every earlier one, and a change becomes visible to
///   `changes(in:after:limit:)` only once every change with a lower `seq` is visible (a single writer,
///   or a lock around seq assignment and commit);
/// - server `updatedAt` is strictly increasing in `seq` order;
/// - an applied op id is recorded in the same transaction as its effect.
public protocol SyncStore: Sendable {
    /// Identifies this database; it changes when the database is recreated, invalidating cursors.
    var databaseID: String { get }

    /// Applies the writes in order, in one transaction, and answers each.
    func write(_ operations: [WriteOperation], limits: DocumentLimits) async throws -> [WriteOutcome]

    /// Current state of every record of `collection` changed after `seq`, ordered by seq.
    func changes(in collection: String, after seq: Int64, limit: Int) async throws -> ChangePage

    /// The same page as `changes(in:after:limit:)`, encoded for the v2 pull answer.
    func encodedChanges(in collection: String, after seq: Int64, limit: Int) async throws -> EncodedChangePage

    /// The highest seq committed so far (0 when empty).
    func latestSeq() async throws -> Int64

    /// Live records for a v1 pull, ordered by `updatedAt`.
    func liveRecords(_ query: LegacyQuery) async throws -> [StoredRecord]

    /// Live records in a collection, for `subscribed.metadata.recordCount`.
    func liveCount(in collection: String) async throws -> Int

    /// One record (live or tombstone), or nil.
    func record(in collection: String, id: String) async throws -> StoredRecord?
}

extension SyncStore {
    /// Encodes `changes(in:after:limit:)`; a store that keeps canonical document text can do it without
    /// parsing the documents (``SQLiteSyncStore`` does).
    public func encodedChanges(in collection: String, after seq: Int64, limit: Int) async throws -> EncodedChangePage {
        let page = try await changes(in: collection, after: seq, limit: limit)
        return EncodedChangePage(changes: JSONValue.array(page.records.map(\.v2JSON)).encodedBytes,
                                 lastSeq: page.records.last?.seq, hasMore: page.hasMore)
    }
}
