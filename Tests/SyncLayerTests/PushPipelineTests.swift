import Foundation
import SyncLayerTesting
import Testing
@testable import SyncLayer

/// Push pipelining (`SyncEngine.pushAll`): when batch n's answer settles all of n, batch n+1 (no
/// document of n) is sent while n's answers are recorded; never two requests at once, and no
/// document's op ahead of its previous one.
@Suite struct PushPipelineTests {
    @Test func everyOpReachesTheServerOnceInSeqOrderWithOneRequestInFlight() async throws {
        let client = try await PipelineClient()
        for i in 0..<9 { try await client.todos.save(["n": .int(i)], id: "d\(i)") }
        try await client.sendEverythingIntoAnOutage()
        // Second ops of the d documents, newest document first and between new documents, so a
        // batch of 3 meets the documents of the batch before it: [d0 d1 d2] [d3 d4 d5] [d6 d7 d8]
        // [e0 d8-patch d7-patch e1 d6-patch … e4 d0-patch].
        for i in 0..<9 {
            if i.isMultiple(of: 2) { try await client.todos.save(["n": .int(100 + i)], id: "e\(i / 2)") }
            try await client.todos.update("d\(8 - i)", ["done": true])
        }
        let queue = try client.sync.queuedOps()
        #expect(queue.count == 23)
        let firstCall = await client.server.calls
        try await client.sync.syncNow()

        let requests = await client.server.requests(after: firstCall)
        #expect(requests.flatMap { $0 }.map(\.opID) == queue.map(\.opID))
        #expect(await client.server.maxInFlight == 1)
        #expect(await client.server.sentAhead(queue).isEmpty)
        #expect(await client.server.duplicates == 0)
        // Each patch left after its document's insert was recorded, built on the insert's version.
        let patches = requests.flatMap { $0 }.filter { $0.kind == .patch }
        #expect(patches.count == 9 && patches.allSatisfy { $0.baseVersion == 1 })
        #expect(try await client.sync.pendingOperationCount() == 0)
        let local = try await client.todos.getAll()
        #expect(local.allSatisfy { $0.syncState == .synced })
        #expect(await client.server.inner.documents("todos") == Dictionary(uniqueKeysWithValues: local.map { ($0.id, $0.data) }))
        await client.sync.close()
    }

    @Test func aDocumentsNextOpWaitsForTheBatchBeforeToBeRecordedAndIsRebased() async throws {
        let client = try await PipelineClient()
        for id in ["x1", "x2", "a"] { try await client.todos.save(["text": .string(id)], id: id) }
        try await client.sendEverythingIntoAnOutage()
        // Outbox: [x1 x2 a] [b c a-patch d e]; batches of 3.
        try await client.todos.save(["text": "b"], id: "b")
        try await client.todos.save(["text": "c"], id: "c")
        try await client.todos.update("a", ["done": true])
        try await client.todos.save(["text": "d"], id: "d")
        try await client.todos.save(["text": "e"], id: "e")
        let patch = try #require(try client.sync.queuedOps().first { $0.recordID == "a" && $0.kind == "patch" })
        let firstCall = await client.server.calls
        try await client.sync.syncNow()

        let requests = await client.server.requests(after: firstCall)
        #expect(requests.map { $0.map(\.recordID) } == [["x1", "x2", "a"], ["b", "c"], ["a", "d", "e"]])
        let withInsert = try #require(requests.firstIndex { $0.contains { $0.recordID == "a" && $0.kind == .insert } })
        try #require(requests.count > withInsert + 1)
        #expect(!requests[withInsert + 1].contains { $0.opID == patch.opID })
        let sent = requests.flatMap { $0 }.filter { $0.opID == patch.opID }
        #expect(sent.count == 1)
        let insertVersion = try #require(await client.server.appliedVersion(ofInsertOf: "a"))
        #expect(sent.first?.baseVersion == insertVersion)
        #expect(await client.server.maxInFlight == 1)
        #expect(try await client.sync.pendingOperationCount() == 0)
        #expect(try await client.todos.get("a")?.serverVersion == insertVersion + 1)
        await client.sync.close()
    }

    /// How the server leaves the first batch [a b c] unsettled.
    enum Unsettled: String, CaseIterable, Sendable {
        /// Answers a only; b and c are not applied and have no answer.
        case prefix
        /// Applies a and c and answers b `.retry` (the sync fails on it).
        case retry
    }

    @Test(arguments: Unsettled.allCases)
    func anUnsettledBatchKeepsLaterOpsOfItsDocumentsBehindTheirLeftovers(_ unsettled: Unsettled) async throws {
        let client = try await PipelineClient()
        for id in ["a", "b", "c"] { try await client.todos.save(["text": .string(id)], id: id) }
        try await client.sendEverythingIntoAnOutage()
        // Outbox: [a b c] [d e f] [b-patch g]: the b-patch must wait for b.
        for id in ["d", "e", "f"] { try await client.todos.save(["text": .string(id)], id: id) }
        try await client.todos.update("b", ["done": true])
        try await client.todos.save(["text": "g"], id: "g")
        let queue = try client.sync.queuedOps()
        #expect(queue.count == 8)
        let firstCall = await client.server.calls
        switch unsettled {
        case .prefix:
            await client.server.answerNext(.prefix(1))
            try await client.sync.syncNow()
        case .retry:
            await client.server.answerNext(.retry(recordID: "b"))
            await #expect(throws: SyncError.self) { try await client.sync.syncNow() }
            // The answer left b queued: nothing went out behind it in that sync.
            #expect(await client.server.calls == firstCall + 1)
            #expect(try client.sync.queuedOps().map(\.recordID) == ["b", "d", "e", "f", "b", "g"])
            try await client.sync.syncNow()
        }
        try await client.sync.syncNow()

        try await client.expectDeliveredOnceInOrder(queue)
        #expect(await client.server.inner.documents("todos")["b"] == ["text": "b", "done": true])
        await client.sync.close()
    }

    @Test func aFailedBatchStopsThePushKeepsItsOpsAndTheNextSyncDeliversThem() async throws {
        let client = try await PipelineClient()
        for id in ["a", "b", "c", "d", "e", "f", "g", "h", "i"] {
            try await client.todos.save(["text": .string(id)], id: id)
        }
        try await client.sendEverythingIntoAnOutage()
        try await client.todos.update("d", ["done": true])
        try await client.todos.save(["text": "j"], id: "j")
        // Outbox: [a b c] [d e f] [g h i] [d-patch j]; the second request fails as a whole.
        let queue = try client.sync.queuedOps()
        let firstCall = await client.server.calls
        await client.server.answerNext(.all, .fail(.network("connection reset")))
        await #expect(throws: SyncError.self) { try await client.sync.syncNow() }

        let failedSync = await client.server.requests(after: firstCall)
        #expect(failedSync.map { $0.map(\.recordID) } == [["a", "b", "c"], ["d", "e", "f"]])
        #expect(try client.sync.queuedOps() == Array(queue.dropFirst(3)))
        try await client.sync.syncNow()

        try await client.expectDeliveredOnceInOrder(queue)
        await client.sync.close()
    }

    /// While [d e f] is in flight, [g h i] is taken to go out next; [d e f] fails, so [g h i] is never
    /// sent and is given back: g's insert still counts as unsent, and a later update folds into it.
    @Test func aBatchTakenAheadButNeverSentIsGivenBack() async throws {
        let client = try await PipelineClient()
        for id in ["a", "b", "c", "d", "e", "f", "g", "h", "i"] {
            try await client.todos.save(["text": .string(id)], id: id)
        }
        let firstCall = await client.server.calls
        await client.server.answerNext(.all, .fail(.network("connection reset")))
        await #expect(throws: SyncError.self) { try await client.sync.syncNow() }
        #expect(await client.server.requests(after: firstCall).map { $0.map(\.recordID) } == [["a", "b", "c"], ["d", "e", "f"]])

        try await client.todos.update("g", ["done": true])
        let queued = try client.sync.queuedOps()
        #expect(queued.map(\.recordID) == ["d", "e", "f", "g", "h", "i"])
        #expect(queued.first { $0.recordID == "g" }?.kind == "insert")
        try await client.sync.syncNow()
        #expect(await client.server.inner.documents("todos")["g"] == ["text": "g", "done": true])
        #expect(await client.server.duplicates == 0)
        #expect(try await client.sync.pendingOperationCount() == 0)
        await client.sync.close()
    }

    @Test(.timeLimit(.minutes(2)))
    func closingDuringAPipelinedRequestReturnsPromptlyAndKeepsItsOpsQueued() async throws {
        let client = try await PipelineClient()
        for id in ["a", "b", "c", "d", "e", "f"] { try await client.todos.save(["text": .string(id)], id: id) }
        let queue = try client.sync.queuedOps()
        await client.server.answerNext(.all, .hangUntilCancelled)
        let syncing = Task { [sync = client.sync] in try await sync.syncNow() }
        for await call in client.server.arrivals where call == 2 { break }

        let elapsed = await ContinuousClock().measure { await client.sync.close() }
        #expect(elapsed < .seconds(10))
        let outcome = await syncing.result
        #expect(throws: (any Error).self) { try outcome.get() }
        #expect(await client.server.requests(after: 0).map { $0.map(\.recordID) } == [["a", "b", "c"], ["d", "e", "f"]])
        #expect(await client.server.cancelledRequests == 1)

        let reopened = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(client.path)))
        #expect(try reopened.queuedOps() == Array(queue.dropFirst(3)))
        #expect(try await reopened.collection("todos").get("a")?.syncState == .synced)
        #expect(try await reopened.collection("todos").get("d")?.syncState == .pending)
        await reopened.close()
    }
}

/// A client on a real database file in a fresh temporary folder, syncing only when asked,
/// against a ``ScriptedServer`` that takes `maxOpsPerBatch` ops per push.
private struct PipelineClient {
    let directory = TemporaryDirectory()
    let server: ScriptedServer
    let sync: SyncLayer
    var path: String { directory.path("db.sqlite") }
    var todos: CollectionReference { sync.collection("todos") }

    init(maxOpsPerBatch: Int = 3) async throws {
        server = ScriptedServer(maxOpsPerBatch: maxOpsPerBatch)
        sync = try await SyncLayer(config: SyncConfig(collections: ["todos"], enableAutoSync: false,
                                                      storage: .file(directory.path("db.sqlite")), customBackend: server))
    }

    /// Every op of `queue` reached the server after its document's earlier ops, was applied exactly
    /// once, one request at a time, and nothing is left queued.
    func expectDeliveredOnceInOrder(_ queue: [QueuedOp], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(await server.sentAhead(queue).isEmpty, sourceLocation: sourceLocation)
        #expect(await server.appliedOnce(queue), sourceLocation: sourceLocation)
        #expect(await server.duplicates == 0, sourceLocation: sourceLocation)
        #expect(await server.maxInFlight == 1, sourceLocation: sourceLocation)
        #expect(try await sync.pendingOperationCount() == 0, sourceLocation: sourceLocation)
    }

    /// Sends every queued op in one request that fails offline: the ops count as sent, so later
    /// writes to their documents queue as ops of their own instead of folding into them.
    func sendEverythingIntoAnOutage() async throws {
        let limit = await server.maxOpsPerBatch
        await server.setMaxOpsPerBatch(10_000)
        await server.answerNext(.fail(.network("offline")))
        await #expect(throws: SyncError.self) { try await sync.syncNow() }
        await server.setMaxOpsPerBatch(limit)
    }
}

/// A queued operation, as the outbox holds it.
private struct QueuedOp: Hashable {
    let opID: String
    let recordID: String
    let kind: String
}

extension SyncLayer {
    /// The pending operations, oldest first.
    fileprivate func queuedOps() throws -> [QueuedOp] {
        try store.read { db in
            let statement = try db.statement("SELECT op_id, record_id, type FROM sl_outbox WHERE state = 0 ORDER BY seq")
            var ops: [QueuedOp] = []
            while try statement.step() {
                ops.append(QueuedOp(opID: statement.text(0)!, recordID: statement.text(1)!, kind: statement.text(2)!))
            }
            return ops
        }
    }
}

/// A server whose pushes are answered as scripted: ops are applied by an `InMemoryBackend`
/// (an op id at most once, as a real server), every request is logged, and requests that
/// overlap in time are counted.
private actor ScriptedServer: SyncBackend {
    enum Answer: Sendable {
        /// Apply and answer every op.
        case all
        /// Apply and answer the first n ops only.
        case prefix(Int)
        /// Answer the ops of this document `.retry` without applying them; apply the others.
        case retry(recordID: String)
        /// Fail the whole request, applying nothing.
        case fail(SyncError)
        /// Apply nothing and wait until the request is cancelled (or 30 s pass: then fail).
        case hangUntilCancelled
    }

    /// Where an op was sent or applied: the request's number and the op's index in it.
    private struct Position: Comparable {
        let call: Int
        let index: Int
        static func < (lhs: Position, rhs: Position) -> Bool { (lhs.call, lhs.index) < (rhs.call, rhs.index) }
    }

    let inner = InMemoryBackend()
    private(set) var maxOpsPerBatch: Int
    private var script: [Answer] = []
    private var log: [(call: Int, operations: [PushOperation])] = []
    private var firstSent: [String: Position] = [:]
    private var applied: [String: (position: Position, version: Int?)] = [:]
    /// Ops applied again under an op id applied before (the engine re-sent an acknowledged op).
    private(set) var duplicates = 0
    private(set) var calls = 0
    private(set) var cancelledRequests = 0
    private var inFlight = 0
    private(set) var maxInFlight = 0
    /// The number of each push, as it arrives.
    nonisolated let arrivals: AsyncStream<Int>
    private let arrived: AsyncStream<Int>.Continuation

    init(maxOpsPerBatch: Int) {
        self.maxOpsPerBatch = maxOpsPerBatch
        (arrivals, arrived) = AsyncStream.makeStream(of: Int.self)
    }

    func setMaxOpsPerBatch(_ limit: Int) { maxOpsPerBatch = limit }

    /// The next pushes are answered so, one each; later ones get `.all`.
    func answerNext(_ answers: Answer...) { script += answers }

    /// The operations of each request after the `call`-th.
    func requests(after call: Int) -> [[PushOperation]] {
        log.filter { $0.call > call }.map(\.operations)
    }

    /// The version the server gave a document's insert.
    func appliedVersion(ofInsertOf recordID: String) -> Int? {
        let insert = log.flatMap(\.operations).first { $0.recordID == recordID && $0.kind == .insert }
        return insert.flatMap { applied[$0.opID]?.version }
    }

    /// Ops of `queue` sent before their document's previous op (in `queue` order) was applied,
    /// or never applied.
    func sentAhead(_ queue: [QueuedOp]) -> [String] {
        var previous: [String: String] = [:]
        var ahead: [String] = []
        for op in queue {
            defer { previous[op.recordID] = op.opID }
            guard let sent = firstSent[op.opID], applied[op.opID] != nil else { ahead.append(op.opID); continue }
            guard let earlier = previous[op.recordID] else { continue }
            if let done = applied[earlier]?.position, done < sent { continue }
            ahead.append(op.opID)
        }
        return ahead
    }

    /// Whether every op of `queue`, and nothing else, was applied (once: op ids are applied at most once).
    func appliedOnce(_ queue: [QueuedOp]) -> Bool {
        Set(applied.keys) == Set(queue.map(\.opID))
    }

    func capabilities() async throws -> BackendCapabilities {
        BackendCapabilities(protocolVersion: 2, maxOpsPerBatch: maxOpsPerBatch, reportsDeletes: true)
    }

    func push(_ batch: PushBatch) async throws -> [PushResult] {
        calls += 1
        let call = calls
        inFlight += 1
        maxInFlight = max(maxInFlight, inFlight)
        defer { inFlight -= 1 }
        log.append((call, batch.operations))
        for (index, op) in batch.operations.enumerated() where firstSent[op.opID] == nil {
            firstSent[op.opID] = Position(call: call, index: index)
        }
        arrived.yield(call)
        // Room for a second request to arrive while this one is open, were the engine to send one.
        for _ in 0..<20 { await Task.yield() }

        let answer = script.isEmpty ? .all : script.removeFirst()
        switch answer {
        case .all:
            return try await apply(batch.operations, call: call, from: 0, clientID: batch.clientID)
        case .prefix(let count):
            return try await apply(Array(batch.operations.prefix(count)), call: call, from: 0, clientID: batch.clientID)
        case .retry(let recordID):
            var results: [PushResult] = []
            for (index, op) in batch.operations.enumerated() {
                if op.recordID == recordID {
                    results.append(.retry(opID: op.opID, error: SyncError(kind: .http, status: 503, code: "SERVICE_UNAVAILABLE",
                                                                          message: "busy", isRetryable: true)))
                } else {
                    results += try await apply([op], call: call, from: index, clientID: batch.clientID)
                }
            }
            return results
        case .fail(let error):
            throw error
        case .hangUntilCancelled:
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                cancelledRequests += 1
                throw error
            }
            throw SyncError.network("never cancelled")
        }
    }

    private func apply(_ operations: [PushOperation], call: Int, from start: Int, clientID: String) async throws -> [PushResult] {
        let results = try await inner.push(PushBatch(clientID: clientID, operations: operations))
        for (offset, result) in results.enumerated() {
            guard case .applied(let opID, let version, _, let duplicate, _) = result else { continue }
            if duplicate || applied[opID] != nil {
                duplicates += 1
            } else {
                applied[opID] = (Position(call: call, index: start + offset), version)
            }
        }
        return results
    }

    func pull(_ request: PullRequest) async throws -> PullPage {
        try await inner.pull(request)
    }
}
