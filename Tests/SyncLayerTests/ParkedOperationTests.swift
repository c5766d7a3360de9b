import Foundation
import SyncLayerTesting
import Testing
@testable import SyncLayer

/// An operation parked after `maxRetries` answered failures is still a local change: nothing of
/// its document overtakes it, a remote change goes through conflict resolution, and
/// `waitForPendingWrites()` does not report success while it waits.
@Suite struct ParkedOperationTests {
    static let unavailable = SyncError(kind: .http, status: 503, code: "SERVICE_UNAVAILABLE", message: "busy", isRetryable: true)

    @Test func anEditBehindAParkedOpWaitsForItAndBothReachTheServerInOrder() async throws {
        let server = AppliedOpsLog()
        let phone = try client(server, maxRetries: 2)
        let todos = phone.collection("todos")
        try await todos.save(["text": "first"], id: "x")
        await server.inner.failNextPushes(with: [Self.unavailable, Self.unavailable])
        for _ in 0..<2 { await #expect(throws: SyncError.self) { try await phone.syncNow() } }
        #expect(try await phone.outboxCounts() == OutboxCounts(failed: 1))

        try await todos.save(["text": "second"], id: "x")
        try await phone.syncNow()
        // The edit did not go ahead of the parked insert: it waits with it.
        #expect(await server.applied.isEmpty)
        #expect(try await phone.outboxCounts() == OutboxCounts(failed: 2))
        #expect(try await todos.get("x")?.syncState == .pending)

        #expect(try await phone.retryFailedOperations() == 2)
        try await phone.syncNow()
        #expect(await server.applied.map(\.payload) == [["text": "first"], ["text": "second"]])
        #expect(await server.inner.documents("todos")["x"] == ["text": "second"])
        let doc = try #require(try await todos.get("x"))
        #expect(doc.data == ["text": "second"] && doc.syncState == .synced && doc.serverVersion == 2)
    }

    /// An op sent in the same request as one that gets parked stays behind it, though its own
    /// failures are fewer than `maxRetries`.
    @Test func anOpSentWithAParkedOneIsParkedBehindIt() async throws {
        let server = AppliedOpsLog()
        let phone = try client(server, maxRetries: 2)
        let todos = phone.collection("todos")
        try await todos.save(["text": "v1"], id: "x")
        try await phone.syncNow()
        try await todos.update("x", ["text": "first"])
        await server.inner.failNextPushes(with: [Self.unavailable])
        await #expect(throws: SyncError.self) { try await phone.syncNow() }  // the patch: one failure
        try await todos.update("x", ["text": "second"])  // a new op: the first was sent
        await server.inner.failNextPushes(with: [Self.unavailable])
        await #expect(throws: SyncError.self) { try await phone.syncNow() }  // both: the first is parked
        try await phone.syncNow()
        #expect(await server.applied.count == 1)  // the insert only
        #expect(try await phone.outboxCounts() == OutboxCounts(failed: 2))

        try await phone.retryFailedOperations()
        try await phone.syncNow()
        #expect(await server.applied.map(\.payload) == [["text": "v1"], ["text": "first"], ["text": "second"]])
        #expect(await server.inner.documents("todos")["x"] == ["text": "second"])
        #expect(try await todos.get("x")?.syncState == .synced)
    }

    @Test func aRemoteChangeWhileAnOpIsParkedGoesThroughConflictResolution() async throws {
        let server = AppliedOpsLog()
        let phone = try client(server, maxRetries: 1)
        let todos = phone.collection("todos")
        try await todos.save(["text": "v1", "n": 1], id: "x")
        try await phone.syncNow()
        try await todos.update("x", ["text": "mine"])
        await server.inner.failNextPushes(with: [Self.unavailable])
        await #expect(throws: SyncError.self) { try await phone.syncNow() }
        #expect(try await phone.outboxCounts() == OutboxCounts(failed: 1))

        // Another writer's change, stamped before the local edit: last write wins keeps the edit.
        let earlier = HLCTimestamp(milliseconds: 1, counter: 0, node: "other").description
        await server.inner.write("todos", "x", data: ["text": "theirs", "n": 2], clientID: "other", hlc: earlier)
        try await phone.syncNow()
        #expect(phone.metrics.conflictsDetected == 1)
        let resolved = try #require(try await todos.get("x"))
        #expect(resolved.data == ["text": "mine", "n": 1] && resolved.syncState == .pending)
        // The resolution replaces the parked op and is queued: the next sync carries it.
        #expect(try await phone.outboxCounts() == OutboxCounts(pending: 1))
        try await phone.syncNow()
        #expect(await server.inner.documents("todos")["x"] == ["text": "mine", "n": 1])
        #expect(try await todos.get("x")?.syncState == .synced)
    }

    @Test func waitForPendingWritesPushesTheRestThenThrowsNamingTheParkedCount() async throws {
        let server = AppliedOpsLog()
        let phone = try client(server, maxRetries: 1)
        let todos = phone.collection("todos")
        try await todos.save(["n": 1], id: "x")
        await server.inner.failNextPushes(with: [Self.unavailable])
        await #expect(throws: SyncError.self) { try await phone.syncNow() }
        try await todos.save(["n": 2], id: "y")

        await #expect {
            try await phone.waitForPendingWrites()
        } throws: { error in
            guard let error = error as? SyncError else { return false }
            return error.kind == .operationsParked && error.message.hasPrefix("1 operation") && !error.isRetryable
        }
        #expect(await server.inner.documents("todos") == ["y": ["n": 2]])
        #expect(try await phone.outboxCounts() == OutboxCounts(failed: 1))

        try await phone.retryFailedOperations()
        try await phone.waitForPendingWrites()
        #expect(await server.inner.documents("todos")["x"] == ["n": 1])
    }
}

/// An in-memory server that logs the ops it applied, in order (duplicates not counted).
actor AppliedOpsLog: SyncBackend {
    let inner: InMemoryBackend
    private(set) var applied: [(recordID: String, payload: [String: JSONValue]?)] = []

    init(_ inner: InMemoryBackend = InMemoryBackend()) { self.inner = inner }

    func capabilities() async throws -> BackendCapabilities { try await inner.capabilities() }

    func push(_ batch: PushBatch) async throws -> [PushResult] {
        let results = try await inner.push(batch)
        for (op, result) in zip(batch.operations, results) {
            if case .applied(_, _, _, false, _) = result { applied.append((op.recordID, op.payload)) }
        }
        return results
    }

    func pull(_ request: PullRequest) async throws -> PullPage { try await inner.pull(request) }
}
