import Foundation
import SyncLayer
import SyncLayerTesting

/// One client's connection to the shared in-memory server, with seeded faults: offline (nothing
/// arrives), a failure before the server sees the request, an answer lost after the server
/// committed, and a push delivered twice (at-least-once delivery).
actor FaultyLink: SyncBackend {
    struct Faults: Sendable {
        var failBefore = 0.0
        var dropAnswer = 0.0
        var deliverTwice = 0.0
        /// Checker self-test: the second delivery carries new op ids, so the server applies it again
        /// (a server without deduplication). The checker must report duplicates.
        var breakDeduplication = false
        static let none = Faults()
    }

    let server: InMemoryBackend
    private var random: SeededRandom
    private(set) var online = true
    var faults: Faults
    private(set) var droppedAnswers = 0
    private(set) var failedRequests = 0
    private(set) var doubleDeliveries = 0
    /// Documents ("collection/id") an insert with a null base revived: applied onto a tombstone.
    private(set) var revived: Set<String> = []

    init(server: InMemoryBackend, seed: UInt64, faults: Faults) {
        self.server = server
        self.random = SeededRandom(seed: seed)
        self.faults = faults
    }

    func setOnline(_ value: Bool) { online = value }
    func setFaults(_ value: Faults) { faults = value }

    private func network(_ message: String) -> SyncError {
        SyncError(kind: .network, message: message, isRetryable: true)
    }

    func capabilities() async throws -> BackendCapabilities {
        guard online else { throw network("offline (injected)") }
        return try await server.capabilities()
    }

    /// `SYNC_TORTURE_TRACE=1`: every push and its answers on standard error, to replay a seed.
    static let tracing = ProcessInfo.processInfo.environment["SYNC_TORTURE_TRACE"] != nil

    func push(_ batch: PushBatch) async throws -> [PushResult] {
        guard online else { throw network("offline (injected)") }
        if random.chance(faults.failBefore) { failedRequests += 1; throw network("failed before the server (injected)") }
        var results = try await server.push(batch)
        for (op, result) in zip(batch.operations, results) {
            if op.kind == .insert, op.baseVersion == nil, case .applied(_, let version?, _, false, _) = result, version > 1 {
                revived.insert(op.collection + "/" + op.recordID)
            }
        }
        if Self.tracing {
            for (op, result) in zip(batch.operations, results) {
                FileHandle.standardError.write(Data("push \(batch.clientID.prefix(8)) \(op.kind) \(op.collection)/\(op.recordID) base=\(op.baseVersion.map(String.init) ?? "nil") hlc=\(op.hlc) payload=\(op.payload.map { Canonical.text(.object($0)) } ?? "nil") -> \(result)\n".utf8))
            }
        }
        if random.chance(faults.deliverTwice) {
            doubleDeliveries += 1
            if faults.breakDeduplication {
                // Applies the batch again as a server without an op-id table would.
                for op in batch.operations {
                    var data = op.payload
                    if op.kind == .patch, let current = await server.record(op.collection, op.recordID)?.data {
                        data = current.merging(op.payload ?? [:]) { $1 }
                    }
                    await server.write(op.collection, op.recordID, data: op.kind == .delete ? nil : data,
                                       clientID: batch.clientID, hlc: op.hlc)
                }
            } else {
                results = try await server.push(batch)
            }
        }
        if random.chance(faults.dropAnswer) { droppedAnswers += 1; throw network("answer lost after commit (injected)") }
        return results
    }

    func pull(_ request: PullRequest) async throws -> PullPage {
        guard online else { throw network("offline (injected)") }
        if random.chance(faults.failBefore) { failedRequests += 1; throw network("failed before the server (injected)") }
        let page = try await server.pull(request)
        if random.chance(faults.dropAnswer) { droppedAnswers += 1; throw network("answer lost (injected)") }
        return page
    }
}
