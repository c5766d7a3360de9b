import Foundation
import SyncLayerTesting
import Testing
@testable import SyncLayer

@Suite struct ConflictTests {
    /// Both clients start from `{"text": "base", "done": false, "n": 1}` at version 1; then the
    /// laptop changes `text` and syncs first; then the phone, offline, changes `done` (and `text`
    /// when `bothChangeText`) and syncs. Returns the server's and both clients' documents.
    /// The phone's clock runs a second ahead, so its edit is the later write even when both edits
    /// fall in the same millisecond of real time (a tie would go to the larger client id).
    func run(_ strategy: ConflictStrategy, bothChangeText: Bool = true, custom: CustomConflictResolver? = nil,
             phoneClock: WallClock = WallClock { WallClock.nowMilliseconds() + 1_000 }) async throws
        -> (server: [String: JSONValue]?, laptop: [String: JSONValue]?, phone: [String: JSONValue]?, phoneEvents: [SyncEvent]) {
        let server = InMemoryBackend()
        let laptop = try client(server, strategy: strategy, custom: custom)
        let phone = try client(server, strategy: strategy, custom: custom, wallClock: phoneClock)
        try await laptop.collection("todos").save(["text": "base", "done": false, "n": 1], id: "x")
        try await laptop.syncNow()
        try await phone.syncNow()

        try await laptop.collection("todos").update("x", ["text": "laptop"])
        try await laptop.syncNow()
        let events = phone.events
        var changes: [String: JSONValue] = ["done": true]
        if bothChangeText { changes["text"] = "phone" }
        try await phone.collection("todos").update("x", changes)
        try await phone.syncNow()
        try await laptop.syncNow()
        await phone.close()
        var seen: [SyncEvent] = []
        for await event in events { seen.append(event) }
        let laptopDoc = try await laptop.collection("todos").get("x")?.data
        return (await server.documents("todos")["x"], laptopDoc, nil, seen)
    }

    @Test func serverWinsKeepsTheServerCopyEverywhere() async throws {
        let result = try await run(.serverWins)
        #expect(result.server == ["text": "laptop", "done": false, "n": 1])
        #expect(result.laptop == result.server)
        #expect(result.phoneEvents.contains { $0.type == .conflictResolved && $0.metadata["winner"] == "remote" })
    }

    @Test func clientWinsPushesTheResolvedDocument() async throws {
        let result = try await run(.clientWins)
        // SyncLayer Dart kept the winner locally only; here it reaches the server and the laptop.
        #expect(result.server == ["text": "phone", "done": true, "n": 1])
        #expect(result.laptop == result.server)
    }

    @Test func lastWriteWinsTakesTheLaterChange() async throws {
        let result = try await run(.lastWriteWins)
        #expect(result.server == ["text": "phone", "done": true, "n": 1])  // the phone wrote last
        #expect(result.laptop == result.server)
        #expect(result.phoneEvents.contains { $0.type == .conflictDetected })
    }

    @Test func mergeKeepsChangesToDifferentFieldsFromBothSides() async throws {
        let result = try await run(.merge, bothChangeText: false)
        #expect(result.server == ["text": "laptop", "done": true, "n": 1])
        #expect(result.laptop == result.server)
        let both = try await run(.merge, bothChangeText: true)
        #expect(both.server == ["text": "phone", "done": true, "n": 1])  // same field: the later write
    }

    @Test func customResolverSeesLocalRemoteAndBase() async throws {
        let seen = Locked<ConflictContext?>(nil)
        let result = try await run(.custom, custom: { context in
            seen.withLock { $0 = context }
            var merged = context.remote ?? [:]
            merged["resolvedBy"] = "custom"
            return merged
        })
        #expect(result.server == ["text": "laptop", "done": false, "n": 1, "resolvedBy": "custom"])
        let context = try #require(seen.withLock { $0 })
        #expect(context.base == ["text": "base", "done": false, "n": 1])
        #expect(context.local == ["text": "phone", "done": true, "n": 1])
        #expect(context.remote == ["text": "laptop", "done": false, "n": 1])
    }

    @Test func aClockADayAheadDoesNotWinForever() async throws {
        let server = InMemoryBackend()
        let day: Int64 = 86_400_000
        let fast = try client(server, wallClock: WallClock { WallClock.nowMilliseconds() + day })
        let normal = try client(server)
        try await fast.collection("todos").save(["text": "fast"], id: "x")
        try await fast.syncNow()
        try await normal.syncNow()
        let fastStamp = try #require(await server.record("todos", "x")?.hlc.flatMap(HLCTimestamp.init))

        // Having seen the fast device's write, the normal device's next write is stamped after
        // it, although its wall clock is a day behind.
        try await normal.collection("todos").update("x", ["text": "normal, after seeing fast"])
        let normalStamp = try #require(try normal.store.read { db in try db.scalarText("SELECT hlc FROM sl_documents") }
            .flatMap(HLCTimestamp.init))
        #expect(normalStamp > fastStamp)
        #expect(normalStamp.milliseconds == fastStamp.milliseconds)  // not the normal wall clock

        // A concurrent copy of the fast device's write (same stamp) meets the normal device's
        // pending edit: last write wins by stamps, so the causally later edit wins.
        await server.write("todos", "x", data: ["text": "fast, replayed"], clientID: "replica", hlc: fastStamp.description)
        try await normal.syncNow()
        #expect(await server.documents("todos")["x"] == ["text": "normal, after seeing fast"])
        try await fast.syncNow()
        #expect(try await fast.collection("todos").get("x")?["text"] == "normal, after seeing fast")
    }

    @Test func deleteAgainstEditFollowsTheStrategy() async throws {
        for (strategy, expectDeleted) in [(ConflictStrategy.serverWins, false), (.clientWins, true), (.lastWriteWins, true)] {
            let server = InMemoryBackend()
            // The phone's clock runs a second ahead, so its delete is the later write even when
            // both happen within one millisecond of real time.
            let laptop = try client(server, strategy: strategy)
            let phone = try client(server, strategy: strategy, wallClock: WallClock { WallClock.nowMilliseconds() + 1_000 })
            try await laptop.collection("todos").save(["text": "a"], id: "x")
            try await laptop.syncNow()
            try await phone.syncNow()
            try await laptop.collection("todos").update("x", ["text": "edited"])
            try await laptop.syncNow()
            try await phone.collection("todos").delete("x")  // later than the edit
            try await phone.syncNow()
            try await laptop.syncNow()
            let serverDoc = await server.documents("todos")["x"]
            #expect((serverDoc == nil) == expectDeleted, "\(strategy)")
            #expect(try await phone.collection("todos").get("x")?.data == serverDoc, "\(strategy)")
            #expect(try await laptop.collection("todos").get("x")?.data == serverDoc, "\(strategy)")
        }
    }

    @Test func readyMadeResolvers() {
        func context(_ local: [String: JSONValue], _ remote: [String: JSONValue], _ base: [String: JSONValue]) -> ConflictContext {
            ConflictContext(collection: "c", documentID: "d", local: local, remote: remote, base: base,
                            localUpdatedAt: Date(timeIntervalSince1970: 2), remoteUpdatedAt: Date(timeIntervalSince1970: 1))
        }
        #expect(ConflictResolvers.sumNumbers(["n"])(context(["n": 13], ["n": 15], ["n": 10])) == ["n": 18])
        #expect(ConflictResolvers.mergeArrays(["t"])(context(["t": ["a", "b"]], ["t": ["b", "c"]], [:])) == ["t": ["a", "b", "c"]])
        #expect(ConflictResolvers.maxValue(["n"])(context(["n": 3], ["n": 2.5], [:])) == ["n": 3])
        #expect(ConflictResolvers.mergeFields(["x"])(context(["x": 1, "y": 1], ["x": 2, "y": 2], [:])) == ["x": 1, "y": 2])
        #expect(ConflictResolvers.deepMerge()(context(["o": ["a": 1, "b": 1]], ["o": ["b": 2]], [:])) == ["o": ["a": 1, "b": 2]])
        #expect(ConflictResolvers.threeWayMerge()(context(["a": 2, "b": 1], ["a": 1, "b": 3], ["a": 1, "b": 1])) == ["a": 2, "b": 3])
    }

    /// `collectionConflictStrategies` overrides `conflictStrategy` for its collections only: the
    /// same conflict goes to the server in "todos" and to the client in "notes".
    @Test func aCollectionsOwnStrategyOverridesTheConfigurations() async throws {
        let server = InMemoryBackend()
        func device() async throws -> SyncLayer {
            try await SyncLayer(config: SyncConfig(
                collections: ["todos", "notes"], enableAutoSync: false, conflictStrategy: .serverWins,
                collectionConflictStrategies: ["notes": .clientWins], storage: .inMemory, customBackend: server))
        }
        let laptop = try await device(), phone = try await device()
        for name in ["todos", "notes"] { try await laptop.collection(name).save(["text": "base"], id: "x") }
        try await laptop.syncNow()
        try await phone.syncNow()
        for name in ["todos", "notes"] { try await laptop.collection(name).update("x", ["text": "laptop"]) }
        try await laptop.syncNow()
        for name in ["todos", "notes"] { try await phone.collection(name).update("x", ["text": "phone"]) }
        try await phone.syncNow()
        try await laptop.syncNow()
        #expect(await server.documents("todos")["x"] == ["text": "laptop"])
        #expect(await server.documents("notes")["x"] == ["text": "phone"])
        for device in [laptop, phone] {
            #expect(try await device.collection("todos").get("x")?["text"] == "laptop")
            #expect(try await device.collection("notes").get("x")?["text"] == "phone")
        }
    }

    /// Per field, the later `<field>_updatedAt` wins with its stamp; unstamped fields go to the
    /// later write by clock stamp (here local, `localIsLater`), not by the two devices' dates.
    @Test func fieldLevelLastWriteWinsComparesEachFieldsStamp() {
        let resolve = ConflictResolvers.fieldLevelLastWriteWins()
        func context(_ local: [String: JSONValue], _ remote: [String: JSONValue], base: [String: JSONValue] = [:],
                     localIsLater: Bool) -> ConflictContext {
            // The dates say the opposite of localIsLater: the resolver must not use them.
            ConflictContext(collection: "c", documentID: "d", local: local, remote: remote, base: base,
                            localUpdatedAt: Date(timeIntervalSince1970: localIsLater ? 1 : 2),
                            remoteUpdatedAt: Date(timeIntervalSince1970: localIsLater ? 2 : 1), localIsLater: localIsLater)
        }
        let early = JSONValue.string("2026-01-01T10:00:00.000Z"), late = JSONValue.string("2026-01-01T10:00:01.000Z")
        let local: [String: JSONValue] = ["title": "local", "title_updatedAt": late, "done": true, "done_updatedAt": early,
                                          "note": "local note", "onlyLocal": 1]
        let remote: [String: JSONValue] = ["title": "remote", "title_updatedAt": early, "done": false, "done_updatedAt": late,
                                           "note": "remote note", "onlyRemote": 2]
        #expect(resolve(context(local, remote, localIsLater: true)) == [
            "title": "local", "title_updatedAt": late, "done": false, "done_updatedAt": late,
            "note": "local note", "onlyLocal": 1, "onlyRemote": 2,
        ])
        #expect(resolve(context(local, remote, localIsLater: false))?["note"] == "remote note")
        // A field removed on one side since the base: the later write decides.
        let base: [String: JSONValue] = ["gone": "x"]
        #expect(resolve(context(["a": 1], ["a": 1, "gone": "x"], base: base, localIsLater: true)) == ["a": 1])
        #expect(resolve(context(["a": 1], ["a": 1, "gone": "x"], base: base, localIsLater: false)) == ["a": 1, "gone": "x"])
        // A deleted side: the remote side is kept, as for every ready-made resolver.
        #expect(ConflictResolvers.fieldLevelLastWriteWins()(ConflictContext(
            collection: "c", documentID: "d", local: nil, remote: ["a": 1], base: nil,
            localUpdatedAt: Date(), remoteUpdatedAt: Date())) == ["a": 1])
    }

    /// Last write wins by stamp across three devices (sync-torture seeds 880 and 445). A syncs
    /// first; B and C wrote before that reached them, and sync later, B first. The write that
    /// wins a conflict keeps its own stamp on the server, so a write stamped after it but synced
    /// later still wins (880); and it reaches the server even when its data equals the
    /// server's (445).
    @Test(arguments: [("b", "c", "c"), ("same", "c", "same")])
    func theLatestStampWinsWhateverOrderTheDevicesSyncIn(_ bWrites: String, _ cWrites: String, _ winner: String) async throws {
        let server = InMemoryBackend()
        let time = Locked<Int64>(1_800_000_000_000)
        let clock = WallClock { time.withLock { $0 } }
        func advance() { time.withLock { $0 += 1_000 } }
        let a = try client(server, wallClock: clock), b = try client(server, wallClock: clock)
        let c = try client(server, wallClock: clock)
        try await a.collection("todos").save(["v": "start"], id: "x")
        for device in [a, b, c] { try await device.syncNow() }

        advance()
        try await a.collection("todos").save(["v": "same"], id: "x")
        try await a.syncNow()
        // The later of B's and C's writes is the winner's.
        let (first, second) = winner == cWrites ? ((b, bWrites), (c, cWrites)) : ((c, cWrites), (b, bWrites))
        advance()
        try await first.0.collection("todos").save(["v": .string(first.1)], id: "x")
        advance()
        try await second.0.collection("todos").save(["v": .string(second.1)], id: "x")
        advance()
        advance()
        try await b.syncNow()  // conflict with A's write: B's is later and wins
        try await c.syncNow()  // conflict with what B left on the server
        for device in [a, b, c] { try await device.syncNow() }

        #expect(await server.documents("todos")["x"] == ["v": .string(winner)])
        for device in [a, b, c] {
            #expect(try await device.collection("todos").get("x")?.data == ["v": .string(winner)])
            await device.close()
        }
    }

    /// Sync-torture seed 910: a delete answered "applied, no change" by a tombstone carries the
    /// tombstone's stamp; recording the answer moves this client's clock past it, so a write made
    /// after the answer (and before any pull) is stamped after the delete it learned of.
    @Test func aDeleteAnsweredByATombstoneMovesTheClockPastIt() async throws {
        let f = try await Fixture()
        let resolver = ConflictResolver(config: f.sync.config, collection: "todos")
        func answer(version: Int, hlc: String?) throws {
            let batch = try f.store.takeBatch(limit: 10, maxBytes: 1 << 20)
            #expect(batch.count == 1)
            _ = try f.store.recordPush(batch, results: batch.map {
                .applied(opID: $0.operation.opID, version: version, updatedAt: Date(), duplicate: false, hlc: hlc)
            }, failure: nil, maxRetries: 10) { _ in resolver }
        }
        try await f.todos.save(["v": 1], id: "x")
        try answer(version: 1, hlc: nil)
        try await f.todos.delete("x")
        let tombstone = HLCTimestamp(milliseconds: WallClock.nowMilliseconds() + 60_000, counter: 3, node: "other")
        try answer(version: 2, hlc: tombstone.description)
        try await f.todos.save(["v": 2], id: "x")
        let stamp = try #require(try f.store.read { db in
            try db.scalarText("SELECT hlc FROM sl_documents WHERE collection = 'todos' AND id = 'x'")
        }.flatMap(HLCTimestamp.init))
        #expect(stamp > tombstone)
    }

    /// Seed 910, the rest: a write queued behind such a delete is not re-based onto the other
    /// client's tombstone (it would then apply over a newer delete unjudged); an ordinary
    /// acknowledgement still re-bases what follows.
    @Test(arguments: [true, false])
    func onlyOwnVersionsRebaseTheOpsQueuedBehind(answeredByATombstone: Bool) async throws {
        let f = try await Fixture()
        let resolver = ConflictResolver(config: f.sync.config, collection: "todos")
        func answer(_ batch: [OutboxEntry], version: Int, hlc: String?) throws {
            _ = try f.store.recordPush(batch, results: batch.map {
                .applied(opID: $0.operation.opID, version: version, updatedAt: Date(), duplicate: false, hlc: hlc)
            }, failure: nil, maxRetries: 10) { _ in resolver }
        }
        try await f.todos.save(["v": 1], id: "x")
        try answer(try f.store.takeBatch(limit: 10, maxBytes: 1 << 20), version: 1, hlc: nil)
        try await f.todos.delete("x")
        let delete = try f.store.takeBatch(limit: 10, maxBytes: 1 << 20)  // sent: nothing folds into it
        try await f.todos.save(["v": 2], id: "x")  // queued behind the delete, built on version 1
        try answer(delete, version: 4, hlc: answeredByATombstone ? "1800000000000-0000-other" : nil)
        let base = try f.store.read { db in try db.scalarInt("SELECT base_version FROM sl_outbox WHERE collection = 'todos'") }
        #expect(base == (answeredByATombstone ? 1 : 4))
    }
}
