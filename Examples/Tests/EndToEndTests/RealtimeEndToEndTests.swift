import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SyncLayer
import enum SyncLayer.JSONValue
import SyncServer
import Testing

extension Server {
    /// A client with realtime sync on and automatic HTTP sync off, so anything it learns
    /// without an explicit syncNow() came over the WebSocket.
    func realtimeClient(_ name: String, strategy: ConflictStrategy = .lastWriteWins, autoSync: Bool = false) async throws -> SyncLayer {
        try await SyncLayer(config: SyncConfig(
            baseURL: baseURL, collections: ["todos"], authToken: Server.token, enableAutoSync: autoSync,
            conflictStrategy: strategy, enableRealtimeSync: true, websocketURL: URL(string: process.webSocketURL),
            websocketReconnectDelay: .milliseconds(50), storage: .file(directory.path("\(name).sqlite"))))
    }
}

extension Server {
    /// Two realtime clients, "a" and "b", both caught up.
    func connectedPair(strategy: ConflictStrategy = .lastWriteWins) async throws -> (a: SyncLayer, b: SyncLayer) {
        let a = try await realtimeClient("a", strategy: strategy)
        let b = try await realtimeClient("b", strategy: strategy)
        try await caughtUp(a)
        try await caughtUp(b)
        return (a, b)
    }
}

/// Waits until the client's realtime connection is up and subscribed.
func connected(_ client: SyncLayer) async {
    await client.realtime?.waitUntilLive()
}

/// Waits until the client is live and the pull that follows going live is done (a sync asked for
/// now runs after it), so that from now on what it learns comes over the socket.
func caughtUp(_ client: SyncLayer) async throws {
    await connected(client)
    try await client.syncNow()
}

/// The first element of `sequence` that satisfies `condition`; nil when none came within `seconds`.
func first<S: AsyncSequence & Sendable>(of sequence: S, within seconds: Double = 10,
                                          where condition: @escaping @Sendable (S.Element) -> Bool) async throws -> S.Element?
where S.Element: Sendable {
    try await withThrowingTaskGroup(of: S.Element?.self) { group in
        group.addTask {
            for try await element in sequence where condition(element) { return element }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

@Suite struct RealtimeEndToEndTests {
    @Test func changesReachTheOtherClientsWatchWithoutAnyPull() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let (a, b) = try await server.connectedPair()
        let (aSyncs, bSyncs) = (a.metrics.syncAttempts, b.metrics.syncAttempts)
        let aEvents = a.events
        let watch = b.collection("todos").watch()

        let id = try await a.collection("todos").save(["text": "Buy milk", "done": false, "note": "keep me"])
        let inserted = try await first(of: watch) { $0.count == 1 }
        #expect(inserted?.first?.data == ["text": "Buy milk", "done": false, "note": "keep me"])

        try await a.collection("todos").update(id, ["done": true])  // a delta must not wipe "note"
        let updated = try await first(of: watch) { $0.first?["done"] == true }
        #expect(updated?.first?.data == ["text": "Buy milk", "done": true, "note": "keep me"])

        try await a.collection("todos").delete(id)
        #expect(try await first(of: watch) { $0.isEmpty } != nil)
        #expect(b.metrics.syncAttempts == bSyncs)  // no HTTP sync ran on b
        // The delete was acknowledged over the socket: a ran no HTTP sync either.
        let synced = try await first(of: aEvents) { $0.type == .operationSynced && $0.metadata["operationType"] == "delete" }
        #expect(synced != nil && a.metrics.syncAttempts == aSyncs)
        #expect(try await a.pendingOperationCount() == 0)
        await a.close()
        await b.close()
    }

    @Test func concurrentUpdatesConvergeByTheStrategy() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let (a, b) = try await server.connectedPair()
        try await a.collection("todos").save(["n": 0], id: "x")
        try await a.waitForPendingWrites()
        try await b.syncNow()
        for i in 1...20 {
            async let one: Void = a.collection("todos").update("x", ["n": .int(i), "by": "a"])
            async let two: Void = b.collection("todos").update("x", ["n": .int(100 + i), "by": "b"])
            _ = try await (one, two)
        }
        try await a.waitForPendingWrites()
        try await b.waitForPendingWrites()
        try await a.syncNow()
        try await b.syncNow()
        try await a.syncNow()
        let onServer = try await Inspect.pull(server)["x"]
        #expect(try await a.collection("todos").get("x")?.data == onServer)
        #expect(try await b.collection("todos").get("x")?.data == onServer)
        await a.close()
        await b.close()
    }

    /// b syncs only when the realtime manager asks: the repair of a lost message is the pull its
    /// `prevSeq` check asks for (seen when the next message arrives: the last write).
    @Test(arguments: [FaultInjector.WebSocketFault.drop, .duplicate, .reorder])
    func disturbedMessagesStillConvergeToTheServersState(_ fault: FaultInjector.WebSocketFault) async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let (a, b) = try await server.connectedPair()
        let bSyncs = b.metrics.syncAttempts
        server.faults.disturbNextWebSocketMessages(5, with: fault)
        for i in 0..<15 { try await a.collection("todos").save(["n": .int(i)], id: "d\(i % 5)") }
        try await a.waitForPendingWrites()
        server.faults.reset()
        try await a.collection("todos").save(["n": 15], id: "last")
        try await a.waitForPendingWrites()
        let onServer = try await Inspect.pull(server)
        let onB = try await first(of: b.collection("todos").watch()) { Self.byID($0) == onServer }.map(Self.byID)
        if fault == .drop { #expect(b.metrics.syncAttempts > bSyncs) }  // a lost message made b pull
        #expect(onB == onServer, "\(fault)")
        await a.close()
        await b.close()
    }

    @Test func theFirstConnectionCatchesUpOnWhatChangedBeforeItsSubscription() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let writer = try await server.client("writer")
        try await writer.collection("todos").save(["n": 1], id: "early")
        try await writer.syncNow()
        // No cursor yet, automatic sync off, never asked to sync: the subscription starts now, and
        // only the pull that follows it brings what came before.
        let b = try await server.realtimeClient("b")
        let seen = try await first(of: b.collection("todos").watch()) { $0.map(\.id) == ["early"] }
        #expect(seen?.first?.data == ["n": 1])
        await writer.close()
        await b.close()
    }

    @Test func aSubscriptionRefusedForACursorOfAnotherDatabaseIsMadeAgainAfterAPull() async throws {
        let original = try await Server()
        let b = try await original.realtimeClient("b")
        try await caughtUp(b)  // stores a cursor of this database
        let bEvents = b.events
        await original.process.stop()

        // Another database on the same port: b's cursor means nothing there.
        let second = try await InProcessServer.start(configuration: ServerConfiguration(
            port: original.process.port, databasePath: original.directory.path("replaced.sqlite"), tokens: [Server.token]))
        defer { Task { await second.stop() } }
        let a = try await original.realtimeClient("a")
        try await a.collection("todos").save(["n": 1], id: "before")
        try await a.waitForPendingWrites()
        let refused = try await first(of: bEvents) { $0.type == .error && $0.metadata["code"] == "CURSOR_EXPIRED" }
        #expect(refused?.collection == "todos")
        try await caughtUp(b)
        #expect(try await b.collection("todos").get("before")?.data == ["n": 1])  // the pull started over

        // Subscribed again: a's next write arrives over the socket.
        try await caughtUp(a)
        try await a.collection("todos").save(["n": 2], id: "after")
        let arrived = try await first(of: bEvents) { $0.type == .realtimeInsert && $0.recordID == "after" }
        #expect(arrived != nil)
        await a.close()
        await b.close()
    }

    @Test func aServerRestartWhileAClientWritesLosesAndDoublesNothing() async throws {
        let original = try await Server()
        let port = original.process.port
        let path = original.directory.path("server.sqlite")
        let a = try await original.realtimeClient("a", autoSync: true)
        let b = try await original.realtimeClient("b")  // learns by the socket and the pulls the manager asks for
        try await caughtUp(a)
        try await caughtUp(b)
        let bEvents = b.events, bConnections = b.events
        let applied = Task {
            var counts: [String: Int] = [:]
            for await event in bEvents where event.type == .realtimeInsert || event.type == .realtimeUpdate {
                counts[event.recordID ?? "", default: 0] += 1
            }
            return counts
        }
        let ids = (0..<30).map { "w\($0)" }
        for id in ids[0..<10] { try await a.collection("todos").save(["id": .string(id)], id: id) }
        await original.process.stop()  // while a's changes are on their way
        let down = try await first(of: b.realtime!.states) { $0 != .connected }
        #expect(down != nil)
        for id in ids[10..<20] { try await a.collection("todos").save(["id": .string(id)], id: id) }

        // The same database on the same port: the clients reconnect by themselves.
        let second = try await InProcessServer.start(configuration: ServerConfiguration(
            port: port, databasePath: path, tokens: [Server.token]))
        defer { Task { await second.stop() } }
        for id in ids[20..<30] { try await a.collection("todos").save(["id": .string(id)], id: id) }
        #expect(try await first(of: bConnections) { $0.type == .realtimeConnected } != nil)  // b is live again
        try await a.waitForPendingWrites()
        let all = try await first(of: b.collection("todos").watch(), within: 20) { $0.count == 30 }
        #expect(all.map { $0.map(\.id).sorted() } == ids.sorted())
        // Each record was written once: version 1 everywhere, and b reported each at most once.
        #expect(all?.allSatisfy { $0.serverVersion == 1 } == true)
        #expect(try await Inspect.pull(original).count == 30)
        await a.close()
        await b.close()
        let counts = await applied.value
        #expect(counts.values.allSatisfy { $0 == 1 }, "\(counts.filter { $0.value > 1 })")
    }

    static func byID(_ documents: [Document]) -> [String: [String: JSONValue]] {
        Dictionary(uniqueKeysWithValues: documents.map { ($0.id, $0.data) })
    }
}
