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

    /// The highest seq committed so far (0 when empty).
    func latestSeq() async throws -> Int64

    /// Live records for a v1 pull, ordered by `updatedAt`.
    func liveRecords(_ query: LegacyQuery) async throws -> [StoredRecord]

    /// Live records in a collection, for `subscribed.metadata.recordCount`.
    func liveCount(in collection: String) async throws -> Int

    /// One record (live or tombstone), or nil.
    func record(in collection: String, id: String) async throws -> StoredRecord?
}
