import Foundation
import SyncLayer

/// A sync backend in memory, with the semantics of the SyncLayer v2 protocol
/// (`doc/PROTOCOL.md` §4): ops applied at most once by op id, server versions, a change
/// sequence, tombstones, and conflicts on a stale base version. Share one between several
/// `SyncLayer` instances to test convergence without a server; switch faults on to test
/// retries.
///
/// ```swift
/// let server = InMemoryBackend()
/// let phone = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .inMemory,
///                                                    customBackend: server))
/// ```
public actor InMemoryBackend: SyncBackend {
    public struct StoredRecord: Sendable, Hashable {
        public var data: [String: JSONValue]?
        public var version: Int
        public var seq: Int
        public var updatedAt: Date
        public var hlc: String?
        public var clientID: String?
    }

    private struct Key: Hashable { let collection: String; let id: String }

    private var records: [Key: StoredRecord] = [:]
    private var seq = 0
    private var answers: [String: PushResult] = [:]
    private var failures: [SyncError] = []
    private var answersToDrop = 0
    private var rejection: (@Sendable (PushOperation) -> SyncError?)?

    /// How many operations were applied (duplicates not counted).
    public private(set) var appliedCount = 0
    /// How many push calls arrived.
    public private(set) var pushCalls = 0
    /// How many pull calls arrived.
    public private(set) var pullCalls = 0
    public let capabilitiesValue: BackendCapabilities

    public init(maxOpsPerBatch: Int = 500, maxPullLimit: Int = 1000) {
        capabilitiesValue = BackendCapabilities(protocolVersion: 2, maxOpsPerBatch: maxOpsPerBatch, maxBodyBytes: 4 << 20,
                                                maxPullLimit: maxPullLimit, reportsDeletes: true)
    }

    // MARK: Fault switches

    /// The next pushes throw these errors, one each, without applying anything.
    public func failNextPushes(with errors: [SyncError]) { failures += errors }

    /// The next `count` pushes are applied, then answered with a network error, as when the
    /// connection drops after the server committed.
    public func dropNextAnswers(_ count: Int) { answersToDrop += count }

    /// Rejects, for good, every op for which `rule` returns an error.
    public func reject(when rule: (@Sendable (PushOperation) -> SyncError?)?) { rejection = rule }

    // MARK: Inspection and server-side writes

    public func record(_ collection: String, _ id: String) -> StoredRecord? { records[Key(collection: collection, id: id)] }

    /// The live documents of a collection, by id.
    public func documents(_ collection: String) -> [String: [String: JSONValue]] {
        var result: [String: [String: JSONValue]] = [:]
        for (key, record) in records where key.collection == collection {
            if let data = record.data { result[key.id] = data }
        }
        return result
    }

    /// A write made directly on the server (another writer, an admin tool).
    public func write(_ collection: String, _ id: String, data: [String: JSONValue]?, clientID: String? = nil,
                      hlc: String? = nil) {
        let key = Key(collection: collection, id: id)
        seq += 1
        records[key] = StoredRecord(data: data, version: (records[key]?.version ?? 0) + 1, seq: seq, updatedAt: Date(),
                                    hlc: hlc, clientID: clientID)
    }

    // MARK: SyncBackend

    public func capabilities() async throws -> BackendCapabilities { capabilitiesValue }

    public func push(_ batch: PushBatch) async throws -> [PushResult] {
        pushCalls += 1
        if !failures.isEmpty { throw failures.removeFirst() }
        let results = batch.operations.map { apply($0, clientID: batch.clientID) }
        if answersToDrop > 0 {
            answersToDrop -= 1
            throw SyncError(kind: .network, message: "connection dropped after commit (injected)", isRetryable: true)
        }
        return results
    }

    public func pull(_ request: PullRequest) async throws -> PullPage {
        pullCalls += 1
        let after = request.cursor.flatMap(Int.init) ?? 0
        let changed = records.filter { $0.key.collection == request.collection && $0.value.seq > after }
            .sorted { $0.value.seq < $1.value.seq }
        let page = changed.prefix(request.limit)
        let remote = page.map { key, record in
            RemoteRecord(collection: key.collection, recordID: key.id, data: record.data, version: record.version,
                         seq: record.seq, updatedAt: record.updatedAt, hlc: record.hlc, clientID: record.clientID)
        }
        return PullPage(records: remote, cursor: String(page.last?.value.seq ?? after), hasMore: changed.count > page.count)
    }

    private func apply(_ op: PushOperation, clientID: String) -> PushResult {
        if let earlier = answers[op.opID] {
            if case .applied(let id, let version, let updatedAt, _, let hlc) = earlier {
                return .applied(opID: id, version: version, updatedAt: updatedAt, duplicate: true, hlc: hlc)
            }
            return earlier
        }
        if let error = rejection?(op) { return .rejected(opID: op.opID, error: error) }
        let key = Key(collection: op.collection, id: op.recordID)
        let current = records[key]
        let baseMatches: Bool = {
            guard let current else { return op.baseVersion == nil }
            if op.baseVersion == current.version { return true }
            return current.clientID == clientID && (op.baseVersion ?? -1) < current.version
        }()
        let live = current?.data != nil
        let data: [String: JSONValue]?
        switch op.kind {
        case .insert, .update:
            guard baseMatches || (current != nil && !live && op.baseVersion == nil) else { return conflict(op, current) }
            data = op.payload ?? [:]
        case .patch:
            guard live, baseMatches, var merged = current?.data else { return conflict(op, current) }
            for (field, value) in op.payload ?? [:] { merged[field] = value }
            data = merged
        case .delete:
            if let current, !live {
                return .applied(opID: op.opID, version: current.version, updatedAt: current.updatedAt, duplicate: false,
                                hlc: current.hlc)
            }
            guard baseMatches else { return conflict(op, current) }
            data = nil
        }
        seq += 1
        let record = StoredRecord(data: data, version: (current?.version ?? 0) + 1, seq: seq, updatedAt: Date(),
                                  hlc: op.hlc, clientID: clientID)
        records[key] = record
        appliedCount += 1
        let result = PushResult.applied(opID: op.opID, version: record.version, updatedAt: record.updatedAt, duplicate: false)
        answers[op.opID] = result
        return result
    }

    private func conflict(_ op: PushOperation, _ current: StoredRecord?) -> PushResult {
        .conflict(opID: op.opID, current: current.map {
            RemoteRecord(collection: op.collection, recordID: op.recordID, data: $0.data, version: $0.version, seq: $0.seq,
                         updatedAt: $0.updatedAt, hlc: $0.hlc, clientID: $0.clientID)
        })
    }
}
