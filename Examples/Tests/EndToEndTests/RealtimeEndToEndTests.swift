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
    /// Two realtime clients, "a" and "b", both connected.
    func connectedPair(strategy: ConflictStrategy = .lastWriteWins) async throws -> (a: SyncLayer, b: SyncLayer) {
        let a = try await realtimeClient("a", strategy: strategy)
        let b = try await realtimeClient("b", strategy: strategy)
        await connected(a)
        await connected(b)
        return (a, b)
    }
}

/// Waits until the client's realtime connection is up and subscribed.
func connected(_ client: SyncLayer) async {
    await client.realtime?.waitUntilLive()
}

/// The next result of `iterator` that satisfies `condition` (bounded by a deadline).
func next<I: AsyncIteratorProtocol>(_ iterator: inout I, within seconds: Double = 10,
                                    where condition: (I.Element) -> Bool) async throws -> I.Element? where I.Element: Sendable {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        guard let value = try await iterator.next() else { return nil }
        if condition(value) { return value }
    }
    return nil
}

@Suite struct RealtimeEndToEndTests {
    @Test func changesReachTheOtherClientsWatchWithoutAnyPull() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let (a, b) = try await server.connectedPair()
        var aEvents = a.events.makeAsyncIterator()
        var watch = b.collection("todos").watch().makeAsyncIterator()
        #expect(try await watch.next()?.isEmpty == true)

        let id = try await a.collection("todos").save(["text": "Buy milk", "done": false, "note": "keep me"])
        let inserted = try await next(&watch) { $0.count == 1 }
        #expect(inserted?.first?.data == ["text": "Buy milk", "done": false, "note": "keep me"])

        try await a.collection("todos").update(id, ["done": true])  // a delta must not wipe "note"
        let updated = try await next(&watch) { $0.first?["done"] == true }
        #expect(updated?.first?.data == ["text": "Buy milk", "done": true, "note": "keep me"])

        try await a.collection("todos").delete(id)
        #expect(try await next(&watch) { $0.isEmpty } != nil)
        #expect(b.metrics.syncAttempts == 0)  // no HTTP sync ran on b
        // The delete was acknowledged over the socket: a ran no HTTP sync either.
        let synced = try await next(&aEvents) { $0.type == .operationSynced && $0.metadata["operationType"] == "delete" }
        #expect(synced != nil && a.metrics.syncAttempts == 0)
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

    @Test(arguments: [FaultInjector.WebSocketFault.drop, .duplicate, .reorder])
    func disturbedMessagesStillConvergeToTheServersState(_ fault: FaultInjector.WebSocketFault) async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let (a, b) = try await server.connectedPair()
        server.faults.disturbNextWebSocketMessages(5, with: fault)
        for i in 0..<15 { try await a.collection("todos").save(["n": .int(i)], id: "d\(i % 5)") }
        try await a.waitForPendingWrites()
        try await b.syncNow()  // the catch-up pull repairs whatever the socket lost or reordered
        let onServer = try await Inspect.pull(server)
        let onB = Dictionary(uniqueKeysWithValues: try await b.collection("todos").getAll().map { ($0.id, $0.data) })
        #expect(onB == onServer, "\(fault)")
        await a.close()
        await b.close()
    }

    @Test func aServerRestartMidStreamResumesWithoutGapsOrDuplicates() async throws {
        let first = try await Server()
        let port = first.process.port
        let path = first.directory.path("server.sqlite")
        let a = try await first.realtimeClient("a", autoSync: true)
        let b = try await first.realtimeClient("b", autoSync: true)
        await connected(a)
        await connected(b)
        for i in 0..<10 { try await a.collection("todos").save(["n": .int(i)], id: "before\(i)") }
        try await a.waitForPendingWrites()
        await first.process.stop()

        // The same database on the same port: the clients reconnect by themselves.
        let second = try await InProcessServer.start(configuration: ServerConfiguration(
            port: port, databasePath: path, tokens: [Server.token]))
        defer { Task { await second.stop() } }
        await connected(a)
        for i in 0..<10 { try await a.collection("todos").save(["n": .int(i)], id: "after\(i)") }
        try await a.waitForPendingWrites()
        var watch = b.collection("todos").watch().makeAsyncIterator()
        let all = try await next(&watch, within: 20) { $0.count == 20 }
        #expect(all?.count == 20)
        #expect(Set(all?.map(\.id) ?? []) == Set((0..<10).flatMap { ["before\($0)", "after\($0)"] }))
        // Each record was written once: version 1 everywhere.
        #expect(try await b.collection("todos").getAll().allSatisfy { $0.serverVersion == 1 })
        await a.close()
        await b.close()
    }
}
