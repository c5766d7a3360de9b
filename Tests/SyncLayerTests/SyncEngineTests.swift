import Foundation
import SyncLayerTesting
import Testing
@testable import SyncLayer

/// A client of an in-memory server, syncing only when asked.
func client(_ server: any SyncBackend, strategy: ConflictStrategy = .lastWriteWins, maxRetries: Int = 10,
            custom: CustomConflictResolver? = nil, wallClock: WallClock = .system,
            collections: [String] = ["todos"], filters: [String: SyncFilter] = [:]) throws -> SyncLayer {
    try SyncLayer(config: SyncConfig(collections: collections, maxRetries: maxRetries, enableAutoSync: false,
                                     conflictStrategy: strategy, customConflictResolver: custom, syncFilters: filters,
                                     storage: .inMemory, customBackend: server), wallClock: wallClock)
}

@Suite struct SyncEngineTests {
    @Test func offlineWritesReachTheServerOnceItAnswers() async throws {
        let server = InMemoryBackend()
        let phone = try client(server)
        await server.failNextPushes(with: [.network("offline"), .network("offline")])
        let id = try await phone.collection("todos").save(["text": "Buy milk"])
        try await phone.collection("todos").update(id, ["done": true])
        await #expect(throws: SyncError.self) { try await phone.syncNow() }
        await #expect(throws: SyncError.self) { try await phone.syncNow() }
        #expect(try await phone.pendingOperationCount() == 1)  // folded into one insert
        try await phone.syncNow()
        #expect(try await phone.pendingOperationCount() == 0)
        #expect(await server.documents("todos")[id] == ["text": "Buy milk", "done": true])
        let doc = try #require(try await phone.collection("todos").get(id))
        #expect(doc.syncState == .synced && doc.serverVersion == 1)
        #expect(phone.status.phase == .idle && phone.status.lastSyncedAt != nil)
        let metrics = phone.metrics
        #expect(metrics.syncAttempts == 3 && metrics.syncFailures == 2 && metrics.syncSuccesses == 1)
        #expect(metrics.operationsSynced == 1 && metrics.bytesPushed > 0 && metrics.lastSyncDuration != nil)
    }

    @Test func twoClientsConvergeOnInsertUpdatePatchAndDelete() async throws {
        let server = InMemoryBackend()
        let laptop = try client(server), phone = try client(server)
        let a = try await laptop.collection("todos").save(["text": "a", "done": false])
        try await laptop.syncNow()
        try await phone.syncNow()
        #expect(try await phone.collection("todos").get(a)?.data == ["text": "a", "done": false])

        try await phone.collection("todos").update(a, ["done": true])
        try await phone.collection("todos").save(["text": "b"], id: "b")
        try await phone.syncNow()
        try await laptop.syncNow()
        #expect(try await laptop.collection("todos").get(a)?.data == ["text": "a", "done": true])
        #expect(try await laptop.collection("todos").get("b")?["text"] == "b")

        try await laptop.collection("todos").delete(a)
        try await laptop.syncNow()
        try await phone.syncNow()
        #expect(try await phone.collection("todos").get(a) == nil)
        #expect(try await phone.collection("todos").getAll().map(\.id) == ["b"])
        #expect(try await laptop.collection("todos").getAll().map(\.id) == ["b"])
        #expect(await server.record("todos", a)?.data == nil)  // a tombstone on the server
    }

    @Test func aLostAnswerAfterCommitDuplicatesNothing() async throws {
        let server = InMemoryBackend()
        let phone = try client(server)
        let todos = phone.collection("todos")
        for i in 0..<3 { try await todos.save(["n": .int(i)], id: "d\(i)") }
        await server.dropNextAnswers(1)
        await #expect(throws: SyncError.self) { try await phone.syncNow() }
        // Edits made while the answer was lost are new ops; the sent ones are not changed.
        try await todos.update("d0", ["n": 10])
        try await phone.syncNow()
        #expect(await server.appliedCount == 4)  // 3 inserts once each + the patch
        #expect(await server.documents("todos")["d0"] == ["n": 10])
        #expect(try await phone.pendingOperationCount() == 0)
        #expect(try await todos.get("d0")?.serverVersion == 2)
    }

    @Test func aRejectedOpDoesNotBlockTheOthers() async throws {
        let server = InMemoryBackend()
        await server.reject { op in
            op.recordID == "bad" ? SyncError(kind: .http, status: 422, code: "DOCUMENT_TOO_LARGE", message: "too big", isRetryable: false) : nil
        }
        let phone = try client(server)
        var events = phone.events.makeAsyncIterator()
        let todos = phone.collection("todos")
        try await todos.save(["n": 1], id: "good1")
        try await todos.save(["n": 2], id: "bad")
        try await todos.save(["n": 3], id: "good2")
        try await phone.syncNow()
        #expect(await Set(server.documents("todos").keys) == ["good1", "good2"])
        #expect(try await phone.outboxCounts() == OutboxCounts(pending: 0, rejected: 1, failed: 0))
        // The server never had "bad": it goes back to the server's truth, which is nothing.
        #expect(try await todos.get("bad") == nil)
        #expect(try await todos.getAll().map(\.id) == ["good1", "good2"])
        let listed = try await phone.rejectedOperations()
        #expect(listed.map(\.recordID) == ["bad"] && listed.first?.reason.contains("DOCUMENT_TOO_LARGE") == true)
        #expect(listed.first?.payload == ["n": 2])
        #expect(try await phone.discardRejectedOperations() == 1)
        #expect(try await phone.outboxCounts() == OutboxCounts())
        var rejected: SyncEvent?
        while let event = await events.next() {
            if event.type == .operationRejected { rejected = event; break }
        }
        #expect(rejected?.recordID == "bad" && rejected?.metadata["code"] == "DOCUMENT_TOO_LARGE")
    }

    @Test func aRejectedUpdateRestoresTheServerCopy() async throws {
        let server = InMemoryBackend()
        let phone = try client(server)
        let todos = phone.collection("todos")
        try await todos.save(["text": "v1"], id: "x")
        try await phone.syncNow()
        await server.reject { _ in SyncError(kind: .http, status: 403, code: "FORBIDDEN", message: "no", isRetryable: false) }
        try await todos.update("x", ["text": "v2"])
        try await todos.update("x", ["more": true])
        try await phone.syncNow()
        let doc = try #require(try await todos.get("x"))
        #expect(doc.data == ["text": "v1"] && doc.syncState == .rejected)
        #expect(await server.documents("todos")["x"] == ["text": "v1"])
    }

    @Test func retryableFailuresParkAnOpAfterMaxRetriesAndTheAppCanRetryIt() async throws {
        let server = InMemoryBackend()
        let phone = try client(server, maxRetries: 3)
        let unavailable = SyncError(kind: .http, status: 503, code: "SERVICE_UNAVAILABLE", message: "busy", isRetryable: true)
        await server.failNextPushes(with: [unavailable, unavailable, unavailable])
        try await phone.collection("todos").save(["n": 1], id: "x")
        for _ in 0..<3 { await #expect(throws: SyncError.self) { try await phone.syncNow() } }
        #expect(try await phone.outboxCounts() == OutboxCounts(pending: 0, rejected: 0, failed: 1))
        try await phone.syncNow()  // parked: nothing is sent
        #expect(await server.documents("todos").isEmpty)
        #expect(try await phone.retryFailedOperations() == 1)
        try await phone.syncNow()
        #expect(await server.documents("todos")["x"] == ["n": 1])
    }

    @Test func networkFailuresNeverParkAnOp() async throws {
        let server = InMemoryBackend()
        let phone = try client(server, maxRetries: 2)
        await server.failNextPushes(with: Array(repeating: .network("offline"), count: 5))
        try await phone.collection("todos").save(["n": 1], id: "x")
        for _ in 0..<5 { await #expect(throws: SyncError.self) { try await phone.syncNow() } }
        #expect(try await phone.outboxCounts() == OutboxCounts(pending: 1))
        #expect(phone.status.phase == .offline)
        try await phone.syncNow()
        #expect(await server.documents("todos")["x"] == ["n": 1])
    }

    @Test func pullPagesThroughEveryChangeAndStoresTheCursor() async throws {
        let server = InMemoryBackend(maxPullLimit: 3)
        for i in 0..<10 { await server.write("todos", "r\(i)", data: ["n": .int(i)]) }
        await server.write("todos", "r3", data: nil)
        let phone = try client(server)
        try await phone.syncNow()
        let ids = try await phone.collection("todos").getAll().map(\.id)
        #expect(Set(ids) == Set((0..<10).filter { $0 != 3 }.map { "r\($0)" }))
        let pulls = await server.pullCalls
        try await phone.syncNow()  // nothing new: one empty page
        #expect(await server.pullCalls == pulls + 1)
        #expect(try phone.store.pullCursor("todos", protocolVersion: 2) == "11")
    }

    @Test func remoteChangesReplaceSyncedDocumentsAndTombstonesDeleteThem() async throws {
        let server = InMemoryBackend()
        let phone = try client(server)
        try await phone.collection("todos").save(["text": "mine"], id: "x")
        try await phone.syncNow()
        await server.write("todos", "x", data: ["text": "theirs"], clientID: "other")
        try await phone.syncNow()
        #expect(try await phone.collection("todos").get("x")?.data == ["text": "theirs"])
        #expect(try await phone.collection("todos").get("x")?.serverVersion == 2)
        await server.write("todos", "x", data: nil, clientID: "other")
        try await phone.syncNow()
        #expect(try await phone.collection("todos").get("x") == nil)
        #expect(try phone.store.scalar(sql: "SELECT count(*) FROM sl_documents", bindings: []) == 0)
    }

    @Test func aSyncFilterNarrowsPullsAndEvictsRecordsThatLeaveIt() async throws {
        let server = InMemoryBackend()
        await server.write("todos", "a", data: ["owner": "me", "text": "a", "secret": "s"])
        await server.write("todos", "b", data: ["owner": "you", "text": "b"])
        let phone = try client(server, filters: ["todos": SyncFilter(where: ["owner": "me"], excludeFields: ["secret"])])
        try await phone.syncNow()
        #expect(try await phone.collection("todos").getAll().map(\.data) == [["owner": "me", "text": "a"]])
        await server.write("todos", "a", data: ["owner": "you", "text": "a"])
        try await phone.syncNow()
        #expect(try await phone.collection("todos").getAll().isEmpty)
    }

    /// The cursor is kept with the filter it was pulled under: a widened filter pulls from the
    /// start and brings the older records that now match; the same filter goes on from the cursor.
    @Test func changingAFilterPullsTheCollectionAgainFromTheStart() async throws {
        let server = InMemoryBackend(maxPullLimit: 1)
        await server.write("todos", "a", data: ["owner": "me"])
        await server.write("todos", "b", data: ["owner": "you"])
        let directory = TemporaryDirectory()
        func open(_ filter: SyncFilter?) async throws -> SyncLayer {
            try await SyncLayer(config: SyncConfig(collections: ["todos"], enableAutoSync: false,
                                                   syncFilters: filter.map { ["todos": $0] } ?? [:],
                                                   storage: .file(directory.path("db.sqlite")), customBackend: server))
        }
        let narrow = try await open(SyncFilter(where: ["owner": "me"]))
        try await narrow.syncNow()
        #expect(try await narrow.collection("todos").getAll().map(\.id) == ["a"])
        await narrow.close()

        let same = try await open(SyncFilter(where: ["owner": "me"], limit: 50))  // the page size is not the filter
        var calls = await server.pullCalls
        try await same.syncNow()
        #expect(await server.pullCalls == calls + 1)  // one empty page from the stored cursor
        await same.close()

        let wide = try await open(nil)
        calls = await server.pullCalls
        try await wide.syncNow()
        #expect(await server.pullCalls == calls + 2)  // both records again, a page each
        #expect(try await wide.collection("todos").getAll().map(\.id) == ["a", "b"])
        await wide.close()
    }

    @Test func aFiltersFingerprintCoversWhatIsPulledOnly() {
        let since = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(SyncFilter().fingerprint == "" && SyncFilter(limit: 10).fingerprint == "")
        #expect(SyncFilter(fields: ["a", "b"]).fingerprint == SyncFilter(limit: 3, fields: ["b", "a"]).fingerprint)
        let distinct = [SyncFilter(where: ["a": 1]), SyncFilter(where: ["a": 2]), SyncFilter(since: since),
                        SyncFilter(since: since + 0.001), SyncFilter(fields: ["a"]), SyncFilter(excludeFields: ["a"])]
        #expect(Set(distinct.map(\.fingerprint)).count == distinct.count)
    }

    /// Every committed pull page is an event with its count; the metrics count each page once.
    @Test func eachPulledPageIsAnEventAndCountsOnce() async throws {
        let server = InMemoryBackend(maxPullLimit: 2)
        for i in 0..<3 { await server.write("todos", "r\(i)", data: ["n": .int(i)]) }
        let phone = try client(server)
        let events = phone.events
        try await phone.syncNow()
        await phone.close()
        var seen: [(SyncEvent.EventType, String?, JSONValue?)] = []
        for await event in events where [.pagePulled, .syncCompleted].contains(event.type) {
            seen.append((event.type, event.collection, event.metadata["count"]))
        }
        #expect(seen.map(\.0) == [.pagePulled, .pagePulled, .syncCompleted])
        #expect(seen.prefix(2).map(\.1) == ["todos", "todos"] && seen.prefix(2).map(\.2) == [2, 1])
        #expect(phone.metrics.remoteChangesApplied == 3)

        // A sync that fails after its first page still counts that page.
        let flaky = try client(FlakyPulls(server, failAt: 2))
        await #expect(throws: SyncError.self) { try await flaky.syncNow() }
        #expect(flaky.metrics.remoteChangesApplied == 2 && flaky.metrics.syncFailures == 1)
        await flaky.close()
    }

    @Test func syncNowWithoutABackendIsATypedError() async throws {
        let offline = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .inMemory))
        #expect(offline.status.phase == .disabled)
        await #expect { try await offline.syncNow() } throws: { ($0 as? SyncError)?.kind == .notConfigured }
    }

    @Test func autoSyncPushesShortlyAfterALocalWrite() async throws {
        let server = InMemoryBackend()
        let phone = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .inMemory, customBackend: server))
        var statuses = phone.statusUpdates.makeAsyncIterator()
        try await phone.collection("todos").save(["n": 1], id: "x")
        // Wait for an idle status after a sync that carried the write (bounded by the stream).
        while let status = await statuses.next() {
            if status.phase == .idle, await server.documents("todos")["x"] != nil { break }
        }
        #expect(await server.documents("todos")["x"] == ["n": 1])
        try await phone.waitForPendingWrites()
        await phone.close()
    }
}

@Suite struct SyncNowCancellationTests {
    @Test func cancellingTheCallerStopsTheWaitNotTheSync() async throws {
        let server = InMemoryBackend()
        await server.failNextPushes(with: [.network("offline")])
        // Auto-sync on and backing off: a waiter for the next run would wait for the backoff.
        let phone = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .inMemory, customBackend: server))
        try await phone.collection("todos").save(["n": 1], id: "x")
        let waiting = Task { try await phone.syncNow() }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        try await phone.waitForPendingWrites()
        #expect(await server.documents("todos")["x"] == ["n": 1])
        await phone.close()
    }

    @Test func theLastSyncTimeSurvivesARestart() async throws {
        let server = InMemoryBackend()
        let directory = TemporaryDirectory()
        let config = SyncConfig(collections: ["todos"], enableAutoSync: false, storage: .file(directory.path("db.sqlite")),
                                customBackend: server)
        let first = try await SyncLayer(config: config)
        try await first.syncNow()
        let synced = try #require(first.status.lastSyncedAt)
        await first.close()
        let second = try await SyncLayer(config: config)
        #expect(abs((second.status.lastSyncedAt ?? .distantPast).timeIntervalSince(synced)) < 0.002)
        await second.close()
    }
}

/// A backend whose pulls fail from the `failingPull`-th call on, once.
private actor FlakyPulls: SyncBackend {
    let inner: InMemoryBackend
    var calls = 0
    var failAt: Int?
    init(_ inner: InMemoryBackend, failAt: Int) { self.inner = inner; self.failAt = failAt }
    func capabilities() async throws -> BackendCapabilities { try await inner.capabilities() }
    func push(_ batch: PushBatch) async throws -> [PushResult] { try await inner.push(batch) }
    func pull(_ request: PullRequest) async throws -> PullPage {
        calls += 1
        if calls == failAt {
            failAt = nil
            throw SyncError.network("dropped")
        }
        return try await inner.pull(request)
    }
}

@Suite struct PrefetchedPullTests {
    /// Pages are fetched one ahead of the page being applied: a failed fetch keeps every page
    /// applied before it (with its cursor), and the next sync resumes there, skipping nothing.
    @Test func aFailedPrefetchKeepsTheAppliedPagesAndTheNextSyncResumes() async throws {
        let server = InMemoryBackend()
        let writer = try client(server)
        let ids = try await writer.collection("todos").saveAll((0..<2_500).map { ["n": .int($0)] })
        try await writer.syncNow()
        let flaky = FlakyPulls(server, failAt: 3)  // pages of 1 000: the third fetch fails
        let reader = try client(flaky)
        await #expect(throws: SyncError.self) { try await reader.syncNow() }
        let afterFailure = try await reader.collection("todos").count()
        #expect(afterFailure == 2_000)  // the two pages fetched before the failure, applied
        let pullsBefore = await server.pullCalls
        try await reader.syncNow()
        #expect(await server.pullCalls - pullsBefore == 1)  // resumed from the stored cursor
        let docs = try await reader.collection("todos").getAll()
        #expect(Set(docs.map(\.id)) == Set(ids) && docs.count == 2_500)
        await writer.close()
        await reader.close()
    }
}
