import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SyncLayer
import enum SyncLayer.JSONValue
import SyncServer
import Testing

/// Real SDK clients against the real reference server on 127.0.0.1.
@Suite struct SyncEndToEndTests {
    @Test func offlineWritesSyncOnceTheServerIsBack() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        // A client pointed at a port nobody listens on is offline.
        let directory = TemporaryDirectory()
        let config = SyncConfig(baseURL: URL(string: "http://127.0.0.1:9")!, collections: ["todos"], authToken: Server.token,
                                enableAutoSync: false, storage: .file(directory.path("phone.sqlite")))
        let offline = try await SyncLayer(config: config)
        let id = try await offline.collection("todos").save(["text": "written offline"])
        try await offline.collection("todos").update(id, ["done": true])
        await #expect { try await offline.syncNow() } throws: { ($0 as? SyncError)?.kind == .network }
        #expect(offline.status.phase == .offline)
        await offline.close()

        var online = config
        online.baseURL = server.baseURL
        let phone = try await SyncLayer(config: online)
        try await phone.syncNow()
        #expect(try await Inspect.pull(server)[id] == ["text": "written offline", "done": true])
        #expect(try await phone.collection("todos").get(id)?.syncState == .synced)
        await phone.close()
    }

    @Test(arguments: [RESTBackend.ProtocolVersion.v2, .v1])
    func twoClientsConvergeOnInsertUpdatePatchAndDelete(_ version: RESTBackend.ProtocolVersion) async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let laptop = try await server.client("laptop", protocolVersion: version)
        let phone = try await server.client("phone", protocolVersion: version)
        let todos = (laptop: laptop.collection("todos"), phone: phone.collection("todos"))

        let a = try await todos.laptop.save(["text": "Buy milk", "done": false])
        try await todos.laptop.save(["text": "Call mum", "done": false], id: "b")
        try await laptop.syncNow()
        try await phone.syncNow()
        #expect(try await todos.phone.get(a)?.data == ["text": "Buy milk", "done": false])

        try await todos.phone.update(a, ["done": true])                    // patch
        try await todos.phone.save(["text": "Call mum today", "done": false], id: "b")  // full update
        try await phone.syncNow()
        try await laptop.syncNow()
        #expect(try await todos.laptop.get(a)?.data == ["text": "Buy milk", "done": true])
        #expect(try await todos.laptop.get("b")?["text"] == "Call mum today")

        try await todos.laptop.delete(a)
        try await laptop.syncNow()
        try await phone.syncNow()
        let phoneIDs = try await todos.phone.getAll().map(\.id)
        if version == .v2 {
            #expect(phoneIDs == ["b"])  // deletes propagate through pull (tombstones)
        } else {
            #expect(Set(phoneIDs) == [a, "b"])  // v1 has no tombstones: SyncLayer Dart's limit, documented
        }
        #expect(try await todos.laptop.getAll().map(\.id) == ["b"])
        await laptop.close()
        await phone.close()
    }

    @Test func aLostAnswerAfterCommitDuplicatesNothing() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let phone = try await server.client("phone")
        for i in 0..<20 { try await phone.collection("todos").save(["n": .int(i)], id: "d\(i)") }
        try await phone.collection("todos").update("d0", ["n": 100])
        server.faults.dropConnectionAfterCommit(nextWrites: 1)
        await #expect(throws: SyncError.self) { try await phone.syncNow() }
        try await phone.syncNow()
        let documents = try await Inspect.pull(server)
        #expect(documents.count == 20)
        #expect(documents["d0"] == ["n": 100])
        // Every record was written exactly once: version 1 everywhere (an insert folded with its patch).
        let versions = try await server.records().map(\.version)
        #expect(versions.allSatisfy { $0 == 1 }, "\(versions)")
        #expect(try await phone.pendingOperationCount() == 0)
        await phone.close()
    }

    @Test func noRequestBeforeRetryAfter() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        server.faults.failNextWrites(1, status: .tooManyRequests, retryAfter: 1)
        let phone = try await server.client("phone", autoSync: true)
        var events = phone.events.makeAsyncIterator()
        try await phone.collection("todos").save(["n": 1], id: "x")
        var failedAt: Date?
        var retriedAt: Date?
        while let event = await events.next() {
            if event.type == .syncFailed, failedAt == nil { failedAt = event.timestamp }
            if event.type == .syncStarted, failedAt != nil { retriedAt = event.timestamp }
            if event.type == .operationSynced { break }
        }
        let gap = try #require(retriedAt).timeIntervalSince(try #require(failedAt))
        #expect(gap >= 0.99, "retried after \(gap) s despite Retry-After: 1")
        #expect(try await Inspect.pull(server)["x"] == ["n": 1])
        await phone.close()
    }

    @Test func serverErrorsAreRetriedWithBackoffUntilTheyPass() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        server.faults.failNextWrites(3, status: .internalServerError)
        let phone = try await server.client("phone", autoSync: true)
        try await phone.collection("todos").save(["n": 1], id: "x")
        try await phone.waitForPendingWrites()
        #expect(try await Inspect.pull(server)["x"] == ["n": 1])
        #expect(phone.metrics.syncFailures >= 1)
        await phone.close()
    }

    @Test func aPermanentlyRejectedOpDoesNotBlockTheOthers() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let phone = try await server.client("phone")
        try await phone.collection("todos").save(["n": 1], id: "first")
        try await phone.collection("todos").save(["n": 2], id: "..")   // the server refuses this id
        try await phone.collection("todos").save(["big": .string(String(repeating: "x", count: 1_100_000))], id: "huge")
        try await phone.collection("todos").save(["n": 3], id: "last")
        try await phone.syncNow()
        #expect(Set(try await Inspect.pull(server).keys) == ["first", "last"])
        let rejected = try await phone.rejectedOperations()
        #expect(Set(rejected.map(\.recordID)) == ["..", "huge"])
        #expect(rejected.contains { $0.reason.contains("INVALID_IDENTIFIER") })
        #expect(rejected.contains { $0.reason.contains("DOCUMENT_TOO_LARGE") || $0.reason.contains("PAYLOAD_TOO_LARGE") })
        #expect(try await phone.collection("todos").getAll().map(\.id) == ["first", "last"])
        await phone.close()
    }

    @Test func a401IsRefreshedThroughTheProviderAndTheSyncSucceeds() async throws {
        let server = try await Server()
        defer { Task { await server.stop() } }
        let refreshes = Counter()
        let phone = try await server.client("phone", token: "expired", tokenProvider: {
            await refreshes.increment()
            return Server.token
        })
        try await phone.collection("todos").save(["n": 1], id: "x")
        try await phone.syncNow()
        #expect(await refreshes.value == 1)
        #expect(try await Inspect.pull(server)["x"] == ["n": 1])
        await phone.close()
    }

    @Test func conflictsResolveTheSameWayOnBothClientsAndTheServer() async throws {
        for strategy in [ConflictStrategy.lastWriteWins, .serverWins, .clientWins, .merge] {
            let server = try await Server()
            let laptop = try await server.client("laptop", strategy: strategy)
            let phone = try await server.client("phone", strategy: strategy)
            try await laptop.collection("todos").save(["text": "base", "done": false], id: "x")
            try await laptop.syncNow()
            try await phone.syncNow()
            try await laptop.collection("todos").update("x", ["text": "laptop"])
            try await laptop.syncNow()
            try await phone.collection("todos").update("x", ["done": true])
            try await phone.syncNow()
            try await laptop.syncNow()
            let onServer = try await Inspect.pull(server)["x"]
            let expected: [String: JSONValue] = switch strategy {
            case .serverWins: ["text": "laptop", "done": false]
            case .clientWins, .lastWriteWins: ["text": "base", "done": true]
            default: ["text": "laptop", "done": true]
            }
            #expect(onServer == expected, "\(strategy)")
            #expect(try await laptop.collection("todos").get("x")?.data == onServer, "\(strategy)")
            #expect(try await phone.collection("todos").get("x")?.data == onServer, "\(strategy)")
            await laptop.close()
            await phone.close()
            await server.stop()
        }
    }
}

actor Counter {
    private(set) var value = 0
    func increment() { value += 1 }
}

extension Server {
    /// Every record on the server with its version (through the v2 pull, tombstones included).
    func records() async throws -> [(id: String, version: Int)] {
        var request = URLRequest(url: URL(string: "\(process.baseURL)/v2/pull?collection=todos&limit=1000")!)
        request.setValue("Bearer \(Server.token)", forHTTPHeaderField: "Authorization")
        let (data, _) = try await URLSession.shared.data(for: request)
        let body = try JSONDecoder().decode(JSONValue.self, from: data)
        return (body["changes"]?.arrayValue ?? []).compactMap { change in
            guard let id = change["recordId"]?.stringValue, let version = change["version"]?.intValue else { return nil }
            return (id, version)
        }
    }
}
