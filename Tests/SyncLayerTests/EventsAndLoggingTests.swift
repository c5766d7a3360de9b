import Testing
@testable import SyncLayer

@Suite struct EventsAndLoggingTests {
    @Test func localWritesEmitOperationQueuedAfterCommit() async throws {
        let f = try await Fixture()
        var events = f.sync.events.makeAsyncIterator()
        try await f.todos.save(["text": "a"], id: "a")
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }
        try await f.todos.update("a", ["done": true, "text": "b"])
        try await f.todos.delete("a")

        let queued = await events.next()
        #expect(queued?.type == .operationQueued && queued?.collection == "todos" && queued?.recordID == "a")
        #expect(queued?.metadata["operationType"] == "insert")
        let patch = await events.next()
        #expect(patch?.metadata["operationType"] == "patch" && patch?.metadata["fieldsChanged"] == 2)
        let delete = await events.next()
        #expect(delete?.metadata["operationType"] == "delete" && delete?.metadata["folded"] == true)
    }

    @Test func eventsReportTheOperationActuallyQueuedAndNothingForADroppedOne() async throws {
        let f = try await Fixture()
        var events = f.sync.events.makeAsyncIterator()
        try await f.todos.save(["text": "draft"], id: "d")
        try await f.todos.update("d", ["text": "still a draft"])   // folded into the unsent insert
        try await f.todos.delete("d")                               // the server never saw it: dropped
        try await f.todos.save(["text": "marker"], id: "m")
        var seen: [(String?, JSONValue?)] = []
        while let event = await events.next() {
            seen.append((event.recordID, event.metadata["operationType"]))
            if event.recordID == "m" { break }
        }
        #expect(seen.map(\.0) == ["d", "d", "m"])
        #expect(seen.map(\.1) == ["insert", "insert", "insert"])
    }

    @Test func aFailedWriteEmitsNothing() async throws {
        let f = try await Fixture()
        let events = f.sync.events
        f.store.injectFaults { _ in throw InjectedFault() }
        await #expect(throws: InjectedFault.self) { try await f.todos.save(["a": 1]) }
        f.store.injectFaults(nil)
        try await f.todos.save(["b": 2], id: "b")
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next()?.recordID == "b")
    }

    @Test func everySubscriberGetsEveryEventAndStreamsEndOnClose() async throws {
        let f = try await Fixture()
        let one = f.sync.events
        let two = f.sync.events
        try await f.todos.save(["a": 1], id: "x")
        await f.sync.close()
        var firstIDs: [String?] = []
        for await event in one { firstIDs.append(event.recordID) }
        var secondIDs: [String?] = []
        for await event in two { secondIDs.append(event.recordID) }
        #expect(firstIDs == ["x"] && secondIDs == ["x"])
    }

    @Test func theLoggerGetsRecordsAtOrAboveItsLevelAndNoDocumentValues() async throws {
        let records = Locked<[LogRecord]>([])
        let directory = TemporaryDirectory()
        let logger = SyncLogger(minimumLevel: .trace) { record in records.withLock { $0.append(record) } }
        let sync = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(directory.path("db.sqlite")),
                                                          logger: logger))
        try await sync.collection("todos").save(["secret": "canary-value-4711"])
        let logged = records.withLock { $0 }
        #expect(!logged.isEmpty)
        #expect(!logged.contains { $0.message.contains("canary-value-4711") || $0.metadata.values.contains("canary-value-4711") })

        let quiet = Locked<Int>(0)
        let errorsOnly = SyncLogger(minimumLevel: .error) { _ in quiet.withLock { $0 += 1 } }
        errorsOnly.log(.info, "not delivered", source: "test")
        errorsOnly.log(.error, "delivered", source: "test")
        #expect(quiet.withLock { $0 } == 1)
    }
}
