import Testing
@testable import SyncLayer

@Suite struct WatchTests {
    @Test func yieldsTheCurrentResultFirstThenAfterEachCommit() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "a", "done": false], id: "a")
        var iterator = f.todos.where("done", isEqualTo: false).watch().makeAsyncIterator()
        #expect(try await iterator.next()?.map(\.id) == ["a"])
        try await f.todos.save(["text": "b", "done": false], id: "b")
        #expect(try await iterator.next()?.map(\.id) == ["a", "b"])
        try await f.todos.update("a", ["done": true])
        #expect(try await iterator.next()?.map(\.id) == ["b"])
        try await f.todos.delete("b")
        #expect(try await iterator.next()?.map(\.id) == [])
    }

    @Test func aCommitThatDoesNotChangeTheResultYieldsNothing() async throws {
        let f = try await Fixture()
        try await f.todos.save(["done": false], id: "open")
        let firstSeen = AsyncStream<Void>.makeStream()
        let finished = Locked(false)
        // The watcher is already waiting for its second result when the commits happen.
        let watcher = Task {
            defer { finished.withLock { $0 = true } }
            var iterator = f.todos.where("done", isEqualTo: false).watch().makeAsyncIterator()
            #expect(try await iterator.next()?.map(\.id) == ["open"])
            firstSeen.continuation.yield()
            return try await iterator.next()?.map(\.id)
        }
        for await _ in firstSeen.stream { break }
        try await f.todos.save(["done": true], id: "closed")  // not in the result
        try await f.sync.collection("notes").save(["x": 1])    // another collection
        try await f.todos.update("closed", ["text": "still done"])
        try await f.todos.delete("closed")
        // Nothing to wait for but its absence: the watcher wakes within milliseconds of a commit.
        try await Task.sleep(for: .milliseconds(300))
        #expect(!finished.withLock { $0 }, "a commit that left the result as it was yielded it")
        try await f.todos.save(["done": false], id: "open2")  // this one counts
        #expect(try await watcher.value == ["open", "open2"])
        #expect(f.store.changes.observerCount == 0)
    }

    @Test func aSlowConsumerGetsTheLatestResultNotABacklog() async throws {
        let f = try await Fixture()
        var iterator = f.todos.watch().makeAsyncIterator()
        #expect(try await iterator.next()?.count == 0)
        for i in 0..<100 { try await f.todos.save(["n": .int(i)], id: "d\(i)") }
        #expect(try await iterator.next()?.count == 100)
        try await f.todos.save(["n": 100], id: "last")
        #expect(try await iterator.next()?.count == 101)
    }

    @Test func breakingTheLoopEndsTheObservation() async throws {
        let f = try await Fixture()
        let hub = f.store.changes
        #expect(hub.observerCount == 0)
        var seen = 0
        for try await docs in f.todos.watch() {
            seen += 1
            #expect(hub.observerCount == 1)
            if docs.count == 2 { break }
            try await f.todos.save(["n": .int(docs.count)])
        }
        #expect(seen == 3)
        #expect(hub.observerCount == 0)
    }

    @Test func cancellingTheTaskEndsTheObservation() async throws {
        let f = try await Fixture()
        let started = AsyncStream<Void>.makeStream()
        let task = Task {
            var count = 0
            for try await _ in f.todos.watch() {
                count += 1
                started.continuation.yield()
            }
            return count
        }
        for await _ in started.stream { break }
        #expect(f.store.changes.observerCount == 1)
        task.cancel()
        #expect(try await task.value == 1)
        #expect(f.store.changes.observerCount == 0)
    }

    @Test func closingTheSyncLayerEndsEveryObservation() async throws {
        let f = try await Fixture()
        var iterator = f.todos.watch().makeAsyncIterator()
        _ = try await iterator.next()
        await f.sync.close()
        #expect(try await iterator.next() == nil)
        #expect(try await iterator.next() == nil)
    }

    @Test func typedWatchDecodesModels() async throws {
        struct Todo: Codable, Identifiable, Sendable, Equatable { var id: String; var text: String }
        let f = try await Fixture()
        let typed = f.sync.collection("todos", as: Todo.self)
        var iterator = typed.watch().makeAsyncIterator()
        #expect(try await iterator.next() == [])
        try await typed.save(Todo(id: "t1", text: "Call mum"))
        #expect(try await iterator.next() == [Todo(id: "t1", text: "Call mum")])
    }

    @Test func watchOnAnUnknownCollectionThrows() async throws {
        let f = try await Fixture()
        var iterator = f.sync.collection("nope").watch().makeAsyncIterator()
        await #expect { try await iterator.next() } throws: { ($0 as? SyncLayerError)?.code == .unknownCollection }
    }
}
