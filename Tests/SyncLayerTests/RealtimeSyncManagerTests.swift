import Foundation
import SyncLayerTesting
import Testing
@testable import SyncLayer

/// A realtime server in memory, seen through the WebSocket transport: it records what the
/// client sends, answers through `answer`, and sends messages when a test says so.
final class FakeRealtimeServer: WebSocketTransport, Sendable {
    typealias Answer = @Sendable (_ message: JSONValue, _ server: FakeRealtimeServer) -> Void

    private struct State {
        var deliver: (@Sendable (WebSocketTransportEvent) -> Void)?
        var received: [JSONValue] = []
        var waiters: [Int: (match: @Sendable ([JSONValue]) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var nextWaiter = 0
    }

    private let state = Locked(State())
    /// Held while an event is delivered: the transport's events arrive one at a time.
    private let delivery = Locked(())
    private let answer: Answer

    /// By default a subscription is confirmed and nothing else is answered.
    init(answer: @escaping Answer = { message, server in server.confirm(message) }) {
        self.answer = answer
    }

    /// What the client sent, oldest first (heartbeats included).
    var received: [JSONValue] { state.withLock { $0.received } }

    /// The client's messages of one type.
    func received(_ type: String) -> [JSONValue] { received.filter { $0["type"]?.stringValue == type } }

    /// Waits until what the client sent satisfies `match`; false when it did not within `seconds`.
    func waitUntilReceived(within seconds: Double = 10, _ match: @escaping @Sendable ([JSONValue]) -> Bool) async -> Bool {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if match(state.received) { return true }
                state.waiters[id] = (match, continuation)
                return false
            }
            if ready {
                continuation.resume(returning: true)
                return
            }
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(seconds))
                self?.state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
            }
        }
    }

    /// Sends a message to the client.
    func send(_ message: JSONValue) {
        let deliver = state.withLock { $0.deliver }
        delivery.withLock { _ in deliver?(.text(JSONText.encode(message))) }
    }

    /// Answers a `subscribe` with `subscribed`.
    func confirm(_ message: JSONValue, seq: Int = 0) {
        guard message["type"] == "subscribe", let collection = message["collection"] else { return }
        send(["type": "subscribed", "collection": collection, "metadata": ["recordCount": 0, "cursor": "0", "seq": .int(seq)]])
    }

    func open(_ request: WebSocketRequest, events: @escaping @Sendable (WebSocketTransportEvent) -> Void) -> any WebSocketConnection {
        state.withLock { $0.deliver = events }
        delivery.withLock { _ in events(.opened) }
        return Connection(server: self)
    }

    fileprivate func receive(_ text: String) {
        guard let message = try? JSONText.parse(text) else { return }
        let ready = state.withLock { state in
            state.received.append(message)
            let received = state.received
            let ready = state.waiters.filter { $0.value.match(received) }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: true) }
        answer(message, self)
    }

    fileprivate func close(_ code: WebSocketCloseCode) {
        guard let deliver = state.withLock({ state in defer { state.deliver = nil }; return state.deliver }) else { return }
        delivery.withLock { _ in deliver(.closed(WebSocketClosure(code: code, wasOpen: true))) }
    }

    private final class Connection: WebSocketConnection, Sendable {
        let server: FakeRealtimeServer
        init(server: FakeRealtimeServer) { self.server = server }
        func send(text: String) async throws { server.receive(text) }
        func sendPing() async throws { server.state.withLock { $0.deliver }?(.pong) }
        func close(_ code: WebSocketCloseCode, reason: String) async { server.close(code) }
        func abort() async { server.close(.abnormal) }
    }
}

/// An in-memory backend that counts what reaches it over HTTP, speaking the protocol version given.
final class CountingBackend: SyncBackend {
    let inner = InMemoryBackend()
    let protocolVersion: Int
    /// The op ids pushed over HTTP, in order.
    let pushed = Locked<[String]>([])
    let pulls = Locked(0)

    init(protocolVersion: Int = 2) { self.protocolVersion = protocolVersion }

    func capabilities() async throws -> BackendCapabilities {
        var capabilities = try await inner.capabilities()
        capabilities.protocolVersion = protocolVersion
        return capabilities
    }

    func push(_ batch: PushBatch) async throws -> [PushResult] {
        pushed.withLock { $0 += batch.operations.map(\.opID) }
        return try await inner.push(batch)
    }

    func pull(_ request: PullRequest) async throws -> PullPage {
        pulls.withLock { $0 += 1 }
        return try await inner.pull(request)
    }
}

/// A SyncLayer (automatic sync off) whose realtime manager talks to a ``FakeRealtimeServer``.
struct RealtimeFixture {
    let backend: CountingBackend
    let server: FakeRealtimeServer
    let sync: SyncLayer
    let manager: RealtimeSyncManager

    init(protocolVersion: Int = 2, answer: FakeRealtimeServer.Answer? = nil) async throws {
        backend = CountingBackend(protocolVersion: protocolVersion)
        server = answer.map(FakeRealtimeServer.init(answer:)) ?? FakeRealtimeServer()
        sync = try SyncLayer(config: SyncConfig(collections: ["todos"], enableAutoSync: false, storage: .inMemory,
                                                customBackend: backend), wallClock: .system)
        let socket = try WebSocketService(url: URL(string: "ws://realtime.invalid/ws")!, tokens: TokenStore(token: "t", provider: nil),
                                          transport: server)
        manager = RealtimeSyncManager(socket: socket, store: sync.store, engine: sync.engine!, config: sync.config,
                                      ackTimeout: .milliseconds(300), subscribeTimeout: .seconds(30))
        await manager.start()
    }

    var todos: CollectionReference { sync.collection("todos") }

    /// Live, and the pull that follows going live is done.
    func caughtUp() async throws {
        await manager.waitUntilLive()
        try await sync.syncNow()
    }

    /// The change messages the server received, as op ids.
    var changesOverTheSocket: [String] {
        server.received.filter { ["insert", "update", "delete"].contains($0["type"]?.stringValue) }
            .compactMap { $0["metadata"]?["opId"]?.stringValue }
    }

    func close() async {
        await manager.stop()
        await sync.close()
    }
}

/// A server change message.
func change(_ type: String, _ id: String, data: JSONValue? = nil, version: Int, seq: Int, prevSeq: Int? = nil,
            clientID: String = "other-client") -> JSONValue {
    var metadata: [String: JSONValue] = ["version": .int(version), "seq": .int(seq), "clientId": .string(clientID), "delta": false]
    if let prevSeq { metadata["prevSeq"] = .int(prevSeq) }
    var message: [String: JSONValue] = ["type": .string(type), "collection": "todos", "recordId": .string(id),
                                        "timestamp": "2026-01-01T00:00:00.000Z", "metadata": .object(metadata)]
    if let data { message["data"] = data }
    return .object(message)
}

/// The next event satisfying `condition`, or nil after `seconds`.
func nextEvent(_ events: AsyncStream<SyncEvent>, within seconds: Double = 10,
               where condition: @escaping @Sendable (SyncEvent) -> Bool) async -> SyncEvent? {
    await withTaskGroup(of: SyncEvent?.self) { group in
        group.addTask {
            for await event in events where condition(event) { return event }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
    }
}

@Suite struct RealtimeSyncManagerTests {
    @Test func opsAServerNeverAcknowledgesGoOverHTTPOnceEach() async throws {
        let fixture = try await RealtimeFixture()  // confirms subscriptions, never acks
        try await fixture.caughtUp()
        for i in 0..<3 { try await fixture.todos.save(["n": .int(i)], id: "d\(i)") }
        try await fixture.sync.syncNow()
        // One op probed the socket; without an ack, the whole batch went over HTTP in the same sync.
        #expect(fixture.changesOverTheSocket.count == 1)
        let pushed = fixture.backend.pushed.withLock { $0 }
        #expect(pushed.count == 3 && Set(pushed).count == 3)
        #expect(try await fixture.sync.pendingOperationCount() == 0)
        #expect(await fixture.backend.inner.documents("todos").count == 3)

        // The connection is known not to acknowledge: later ops go straight to HTTP.
        for i in 3..<5 { try await fixture.todos.save(["n": .int(i)], id: "d\(i)") }
        try await fixture.sync.syncNow()
        #expect(fixture.changesOverTheSocket.count == 1)
        let all = fixture.backend.pushed.withLock { $0 }
        #expect(all.count == 5 && Set(all).count == 5)
        await fixture.close()
    }

    @Test func aV1BackendNeverGetsChangesOverTheSocket() async throws {
        let fixture = try await RealtimeFixture(protocolVersion: 1)
        try await fixture.caughtUp()
        try await fixture.todos.save(["n": 1], id: "d1")
        try await fixture.sync.syncNow()
        #expect(fixture.changesOverTheSocket.isEmpty)
        #expect(fixture.backend.pushed.withLock { $0.count } == 1)
        await fixture.close()
    }

    @Test func acknowledgedOpsLeaveTheOutboxWithoutHTTP() async throws {
        let fixture = try await RealtimeFixture { message, server in
            server.confirm(message)
            guard let opID = message["metadata"]?["opId"], ["insert", "update", "delete"].contains(message["type"]?.stringValue)
            else { return }
            server.send(["type": "ack", "collection": "todos", "recordId": message["recordId"] ?? .null,
                         "data": ["opId": opID, "status": "applied", "version": 1, "updatedAt": "2026-01-01T00:00:00.000Z"]])
        }
        try await fixture.caughtUp()
        for i in 0..<3 { try await fixture.todos.save(["n": .int(i)], id: "d\(i)") }
        try await fixture.sync.syncNow()
        #expect(fixture.changesOverTheSocket.count == 3 && Set(fixture.changesOverTheSocket).count == 3)
        #expect(fixture.backend.pushed.withLock { $0.isEmpty })
        #expect(try await fixture.sync.pendingOperationCount() == 0)
        #expect(try await fixture.todos.get("d2")?.serverVersion == 1)
        await fixture.close()
    }

    @Test func remoteChangesAreAppliedWithRealtimeEventsAndOwnEchoesAreNot() async throws {
        let fixture = try await RealtimeFixture()
        try await fixture.caughtUp()
        let events = fixture.sync.events
        let realtime: Set<SyncEvent.EventType> = [.realtimeInsert, .realtimeUpdate, .realtimeDelete]
        fixture.server.send(change("insert", "r1", data: ["a": 1], version: 1, seq: 1, prevSeq: 0))
        fixture.server.send(change("update", "r1", data: ["a": 2], version: 2, seq: 2, prevSeq: 1))
        fixture.server.send(change("delete", "r1", version: 3, seq: 3, prevSeq: 2))
        var seen: [SyncEvent] = []
        for _ in 0..<3 {
            seen += await nextEvent(events) { realtime.contains($0.type) }.map { [$0] } ?? []
        }
        #expect(seen.map(\.type) == [.realtimeInsert, .realtimeUpdate, .realtimeDelete])
        #expect(seen.map { $0.metadata["version"] } == [1, 2, 3] && seen.allSatisfy { $0.recordID == "r1" })
        #expect(try await fixture.todos.get("r1") == nil)

        // The echo of this client's own write, while a newer local edit is pending: only the
        // server version moves; no event, the local edit stays.
        try await fixture.todos.save(["text": "mine"], id: "own")
        try await fixture.sync.syncNow()
        try await fixture.todos.update("own", ["text": "newer"])
        fixture.server.send(change("update", "own", data: ["text": "mine"], version: 1, seq: 5, prevSeq: 3,
                                   clientID: fixture.sync.clientID))
        fixture.server.send(change("insert", "marker", data: [:], version: 1, seq: 6, prevSeq: 5))
        let next = await nextEvent(events) { realtime.contains($0.type) }
        #expect(next?.recordID == "marker")  // the echo before it emitted nothing
        #expect(try await fixture.todos.get("own")?.data == ["text": "newer"])
        await fixture.close()
    }

    @Test func aSyncMessageIsAppliedLikeAPulledPage() async throws {
        let fixture = try await RealtimeFixture()
        try await fixture.caughtUp()
        let events = fixture.sync.events
        fixture.server.send(["type": "sync", "collection": "todos", "data": ["records": [
            ["id": "s1", "data": ["n": 1], "version": 3, "updatedAt": "2026-01-01T00:00:00.000Z"],
            ["id": "s2", "data": ["n": 2], "version": 1, "updatedAt": "2026-01-01T00:00:01.000Z"],
        ]], "metadata": ["cursor": "9", "hasMore": false]])
        let event = await nextEvent(events) { $0.type == .realtimeSync }
        #expect(event?.collection == "todos" && event?.metadata["recordCount"] == 2)
        #expect(try await fixture.todos.get("s1")?.data == ["n": 1])
        #expect(try await fixture.todos.get("s1")?.serverVersion == 3)
        #expect(try await fixture.todos.getAll().map(\.id).sorted() == ["s1", "s2"])
        await fixture.close()
    }

    @Test func aServerErrorBecomesAnErrorEvent() async throws {
        let fixture = try await RealtimeFixture()
        try await fixture.caughtUp()
        let events = fixture.sync.events
        fixture.server.send(["type": "error", "error": "slow down", "code": "RATE_LIMIT_EXCEEDED", "collection": "todos"])
        let event = await nextEvent(events) { $0.type == .error }
        #expect(event?.metadata["code"] == "RATE_LIMIT_EXCEEDED" && event?.metadata["messageType"] == "error")
        #expect(event?.collection == "todos" && event?.error == "slow down")
        await fixture.close()
    }

    @Test func aLostChangeMessageTriggersACatchUpPull() async throws {
        let fixture = try await RealtimeFixture { message, server in server.confirm(message, seq: 10) }
        try await fixture.caughtUp()
        let events = fixture.sync.events
        // The server has r1 (seq 11) and r2 (seq 12); the message of r1 is lost.
        await fixture.backend.inner.write("todos", "r1", data: ["n": 1])
        await fixture.backend.inner.write("todos", "r2", data: ["n": 2])
        fixture.server.send(change("insert", "r2", data: ["n": 2], version: 1, seq: 12, prevSeq: 11))
        #expect(await nextEvent(events) { $0.type == .syncCompleted } != nil)
        #expect(try await fixture.todos.get("r1")?.data == ["n": 1])
        await fixture.close()
    }

    @Test func aSubscriptionRefusedForItsCursorIsMadeAgainAfterAPull() async throws {
        let fixture = try await RealtimeFixture { message, server in
            guard message["type"] == "subscribe" else { return }
            if server.received("subscribe").count == 1 {
                server.send(["type": "error", "error": "cursor belongs to another database", "code": "CURSOR_EXPIRED",
                             "collection": "todos"])
            }  // the second one is answered by the test
        }
        await fixture.backend.inner.write("todos", "r1", data: ["n": 1])
        try #require(await fixture.server.waitUntilReceived { $0.filter { $0["type"] == "subscribe" }.count == 2 })
        // Not live before the new subscription is confirmed; the pull came first and stored
        // the cursor the new subscription resumes from.
        #expect(!fixture.manager.isLive)
        #expect(fixture.backend.pulls.withLock { $0 } >= 1)
        #expect(try await fixture.todos.get("r1")?.data == ["n": 1])
        let again = fixture.server.received("subscribe")[1]
        #expect(again["metadata"]?["cursor"] == "1")
        fixture.server.confirm(again)
        await fixture.manager.waitUntilLive()
        await fixture.close()
    }
}
