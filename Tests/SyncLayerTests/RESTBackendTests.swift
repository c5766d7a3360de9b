import Foundation
import Testing
@testable import SyncLayer

/// An HTTP transport answering from a closure and recording every request.
final class FakeTransport: HTTPTransport, @unchecked Sendable {
    private let handler: @Sendable (HTTPRequest) throws -> HTTPResponse
    let requests = Locked<[HTTPRequest]>([])

    init(_ handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse) { self.handler = handler }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        requests.withLock { $0.append(request) }
        return try handler(request)
    }

    var sent: [HTTPRequest] { requests.withLock { $0 } }

    static func json(_ status: Int, _ body: JSONValue, headers: [String: String] = [:]) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: Data(JSONText.encode(body).utf8))
    }
}

extension HTTPRequest {
    var json: JSONValue? { body.flatMap { try? JSONText.parse($0) } }
    var authorization: String? { headers["Authorization"] }
}

@Suite struct RESTBackendTests {
    static let base = URL(string: "http://127.0.0.1:9/api/")!

    func op(_ kind: PushOperation.Kind, id: String = "r/1", payload: [String: JSONValue]? = ["a": 1],
            base: Int? = nil) -> PushOperation {
        PushOperation(opID: "op-\(kind)", collection: "todos", recordID: id, kind: kind, payload: kind == .delete ? nil : payload,
                      baseVersion: base, hlc: "1700000000000-0000-c", createdAt: Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test func v1SendsSyncLayerDartsExactShapes() async throws {
        let transport = FakeTransport { request in
            if request.url.path.hasSuffix("well-known/synclayer") { return HTTPResponse(status: 404) }
            return FakeTransport.json(200, ["success": true, "version": 7])
        }
        let backend = RESTBackend(baseURL: Self.base, token: "t0k", transport: transport)
        let batch = PushBatch(clientID: "c", operations: [op(.insert), op(.patch, base: 3), op(.delete)])
        let results = try await backend.push(batch)
        #expect(results.count == 3)
        #expect(results[0] == .applied(opID: "op-insert", version: 7, updatedAt: nil, duplicate: false))
        let sent = transport.sent.dropFirst()  // the capabilities probe
        #expect(sent.map(\.method) == ["POST", "PATCH", "DELETE"])
        #expect(sent.map(\.url.absoluteString) == ["http://127.0.0.1:9/api/sync/todos", "http://127.0.0.1:9/api/sync/todos/r%2F1",
                                                   "http://127.0.0.1:9/api/sync/todos/r%2F1"])
        #expect(sent.allSatisfy { $0.authorization == "Bearer t0k" })
        let post = try #require(sent.first?.json)
        #expect(post == ["recordId": "r/1", "data": ["a": 1], "timestamp": "2023-11-14T22:13:20.000Z"])
        #expect(sent.dropFirst().first?.json == ["delta": ["a": 1], "baseVersion": 3, "timestamp": "2023-11-14T22:13:20.000Z"])
        #expect(sent.last?.body == nil)
    }

    @Test func v1PullSendsSinceLimitOffsetAndFiltersAndPagesByCursor() async throws {
        let transport = FakeTransport { request in
            if request.url.path.hasSuffix("well-known/synclayer") { return HTTPResponse(status: 404) }
            let offset = request.url.query?.contains("offset=2") == true
            let records: [JSONValue] = offset
                ? [["recordId": "c", "data": ["n": 3], "updatedAt": "2026-01-01T00:00:03.000Z", "version": 1]]
                : [["recordId": "a", "data": ["n": 1], "updatedAt": "2026-01-01T00:00:01.000Z"],
                   ["recordId": "b", "data": ["n": 2], "updatedAt": "2026-01-01T00:00:02.000Z", "version": 4]]
            return FakeTransport.json(200, ["records": .array(records)])
        }
        let backend = RESTBackend(baseURL: Self.base, transport: transport)
        let filter = SyncFilter(where: ["owner": "me", "rank": 2.0], fields: ["n", "owner"])
        let first = try await backend.pull(PullRequest(collection: "todos", cursor: nil, limit: 2, filter: filter))
        #expect(first.records.map(\.recordID) == ["a", "b"] && first.hasMore)
        #expect(first.records.map(\.version) == [1, 4])
        let query = try #require(transport.sent.last?.url.query)
        #expect(query == "limit=2&offset=0&where%5Bowner%5D=me&where%5Brank%5D=2.0&fields=n%2Cowner")
        let second = try await backend.pull(PullRequest(collection: "todos", cursor: first.cursor, limit: 2, filter: nil))
        #expect(second.records.map(\.recordID) == ["c"] && !second.hasMore)
        #expect(V1Cursor(second.cursor).since == RESTBackend.parseTimestamp("2026-01-01T00:00:03.000Z"))
        let third = try await backend.pull(PullRequest(collection: "todos", cursor: second.cursor, limit: 2, filter: nil))
        #expect(transport.sent.last?.url.query?.hasPrefix("since=2026-01-01T00%3A00%3A03.000Z&limit=2&offset=0") == true)
        _ = third
    }

    @Test func v1RetryableAndPermanentFailuresPerOp() async throws {
        let transport = FakeTransport { request in
            if request.url.path.hasSuffix("well-known/synclayer") { return HTTPResponse(status: 404) }
            if request.method == "PATCH" {
                return FakeTransport.json(404, ["error": ["code": "RECORD_NOT_FOUND", "message": "no such record", "retryable": false]])
            }
            if request.method == "DELETE" { return HTTPResponse(status: 503, headers: ["Retry-After": "7"], body: Data("<html>".utf8)) }
            return FakeTransport.json(200, [:])
        }
        let backend = RESTBackend(baseURL: Self.base, transport: transport)
        let results = try await backend.push(PushBatch(clientID: "c", operations: [op(.patch), op(.insert), op(.delete), op(.update)]))
        #expect(results.count == 3)  // stops at the retryable failure
        guard case .rejected(_, let rejected) = results[0], case .retry(_, let retry) = results[2] else {
            Issue.record("unexpected \(results)")
            return
        }
        #expect(rejected.status == 404 && rejected.code == "RECORD_NOT_FOUND" && !rejected.isRetryable)
        #expect(retry.status == 503 && retry.isRetryable && retry.retryAfter == .seconds(7))
    }

    @Test func v2IsNegotiatedAndParsesEveryResult() async throws {
        let record: JSONValue = ["collection": "todos", "recordId": "r/1", "version": 5, "seq": 9, "updatedAt": "2026-01-01T00:00:00.000Z",
                                 "deleted": false, "data": ["x": 1], "hlc": "1700000000000-0000-o", "clientId": "o"]
        let transport = FakeTransport { request in
            switch request.url.path {
            case "/api/.well-known/synclayer":
                return FakeTransport.json(200, ["protocol": "synclayer", "versions": [1, 2], "limits": ["maxOpsPerBatch": 2, "maxPullLimit": 50]])
            case "/api/v2/push":
                return FakeTransport.json(200, ["results": [
                    ["opId": "op-insert", "status": "applied", "version": 1, "seq": 3, "updatedAt": "2026-01-01T00:00:00.000Z"],
                    ["opId": "op-patch", "status": "conflict", "current": record],
                    ["opId": "op-delete", "status": "rejected", "code": "INVALID_IDENTIFIER", "message": "bad id"],
                ]])
            default:
                return FakeTransport.json(200, ["collection": "todos", "changes": [record, ["collection": "todos", "recordId": "gone", "version": 2, "seq": 10, "updatedAt": "2026-01-01T00:00:00Z", "deleted": true, "data": nil, "hlc": nil, "clientId": nil]], "cursor": "db:10", "hasMore": false])
            }
        }
        let backend = RESTBackend(baseURL: Self.base, token: "t", transport: transport)
        let capabilities = try await backend.capabilities()
        #expect(capabilities.protocolVersion == 2 && capabilities.maxOpsPerBatch == 2 && capabilities.maxPullLimit == 50)
        let results = try await backend.push(PushBatch(clientID: "me", operations: [op(.insert), op(.patch, base: 4), op(.delete, base: 5)]))
        #expect(results[0] == .applied(opID: "op-insert", version: 1, updatedAt: RESTBackend.parseTimestamp("2026-01-01T00:00:00.000Z"), duplicate: false))
        guard case .conflict(_, let current?) = results[1], case .rejected(_, let error) = results[2] else {
            Issue.record("unexpected \(results)")
            return
        }
        #expect(current.version == 5 && current.data == ["x": 1] && current.clientID == "o")
        #expect(error.code == "INVALID_IDENTIFIER")
        let push = try #require(transport.sent.first { $0.url.path == "/api/v2/push" }?.json)
        #expect(push["clientId"] == "me")
        #expect(push["ops"]?.arrayValue?[1] == ["opId": "op-patch", "collection": "todos", "recordId": "r/1", "type": "patch",
                                                "payload": ["a": 1], "baseVersion": 4, "hlc": "1700000000000-0000-c"])
        let page = try await backend.pull(PullRequest(collection: "todos", cursor: "db:3", limit: 50, filter: nil))
        #expect(page.records.map(\.isDeleted) == [false, true] && page.cursor == "db:10" && !page.hasMore)
        #expect(transport.sent.last?.url.query == "collection=todos&limit=50&cursor=db%3A3")
    }

    /// An op read from the outbox (with its cached payload text) equals the same op built in code.
    @Test func pushOperationEqualityIgnoresTheCachedPayloadText() {
        let built = PushOperation(opID: "o1", collection: "todos", recordID: "r1", kind: .insert, payload: ["a": 1],
                                  baseVersion: nil, hlc: "1700000000000-0000-c", createdAt: Date(timeIntervalSince1970: 5))
        var stored = built
        stored.payloadText = JSONText.encode(.object(["a": 1]))
        #expect(stored == built)
        #expect(Set([stored, built]).count == 1)
        let other = PushOperation(opID: "o1", collection: "todos", recordID: "r1", kind: .insert, payload: ["a": 2],
                                  baseVersion: nil, hlc: "1700000000000-0000-c", createdAt: Date(timeIntervalSince1970: 5))
        #expect(other != built)
    }

    /// A queued op's stored payload text goes into the v2 push body as it is.
    @Test func v2PushSendsTheStoredPayloadTextAsItIs() async throws {
        let transport = FakeTransport { request in
            request.url.path.hasSuffix("/v2/push")
                ? FakeTransport.json(200, ["results": [["opId": "o1", "status": "applied", "version": 1]]])
                : FakeTransport.json(200, ["protocol": "synclayer", "versions": [1, 2]])
        }
        let backend = RESTBackend(baseURL: Self.base, token: "t", transport: transport)
        var stored = PushOperation(opID: "o1", collection: "todos", recordID: "r\"1", kind: .insert,
                                   payload: ["a": 1, "t": "é\n"], baseVersion: nil, hlc: "1700000000000-0000-c", createdAt: Date())
        stored.payloadText = JSONText.encode(.object(stored.payload ?? [:]))
        _ = try await backend.push(PushBatch(clientID: "me\"", operations: [stored]))
        let request = try #require(transport.sent.first { $0.url.path == "/api/v2/push" })
        let text = String(decoding: request.body ?? Data(), as: UTF8.self)
        #expect(text.contains(#""payload":{"a":1,"t":"é\n"}"#))
        #expect(request.json == ["clientId": "me\"", "ops": [["opId": "o1", "collection": "todos", "recordId": "r\"1", "type": "insert",
                                                            "baseVersion": nil, "hlc": "1700000000000-0000-c", "payload": ["a": 1, "t": "é\n"]]]])
    }

    @Test func malformedAnswersAreTypedErrors() async throws {
        let bodies: [String] = ["<html>502</html>", "{\"changes\": 5, \"hasMore\": false}", "{\"changes\": [{\"recordId\": 1}], \"hasMore\": false}",
                                "[", "{\"changes\": [], \"hasMore\": \"no\"}"]
        for body in bodies {
            let transport = FakeTransport { request in
                if request.url.path.hasSuffix("synclayer") {
                    return FakeTransport.json(200, ["protocol": "synclayer", "versions": [2]])
                }
                return HTTPResponse(status: 200, body: Data(body.utf8))
            }
            let backend = RESTBackend(baseURL: Self.base, transport: transport)
            await #expect(throws: SyncError.self, "\(body)") {
                try await backend.pull(PullRequest(collection: "todos", cursor: nil, limit: 10, filter: nil))
            }
        }
    }

    @Test func a401IsRefreshedOnceForConcurrentRequests() async throws {
        let calls = Locked(0)
        let transport = FakeTransport { request in
            if request.url.path.hasSuffix("synclayer") { return HTTPResponse(status: 404) }
            return request.authorization == "Bearer fresh" ? FakeTransport.json(200, ["records": []]) : HTTPResponse(status: 401)
        }
        let backend = RESTBackend(baseURL: Self.base, token: "stale", tokenProvider: {
            calls.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(20))
            return "fresh"
        }, transport: transport)
        try await withThrowingTaskGroup(of: PullPage.self) { group in
            for _ in 0..<5 { group.addTask { try await backend.pull(PullRequest(collection: "todos", cursor: nil, limit: 10, filter: nil)) } }
            for try await _ in group {}
        }
        #expect(calls.withLock { $0 } == 1)
    }

    @Test func a401WithoutAProviderPausesSyncKeepsTheQueueAndResumesWithANewToken() async throws {
        let transport = FakeTransport { request in
            if request.url.path.hasSuffix("synclayer") { return FakeTransport.json(200, ["protocol": "synclayer", "versions": [2]]) }
            guard request.authorization == "Bearer good" else {
                return FakeTransport.json(401, ["error": ["code": "AUTH_FAILED", "message": "bad token", "retryable": false]])
            }
            if request.url.path.hasSuffix("push") {
                let ops = request.json?["ops"]?.arrayValue ?? []
                return FakeTransport.json(200, ["results": .array(ops.map { ["opId": $0["opId"]!, "status": "applied", "version": 1] })])
            }
            return FakeTransport.json(200, ["collection": "todos", "changes": [], "cursor": "c", "hasMore": false])
        }
        let sync = try await SyncLayer(config: SyncConfig(baseURL: Self.base, collections: ["todos"], authToken: "bad",
                                                          enableAutoSync: false, storage: .inMemory, transport: transport))
        var events = sync.events.makeAsyncIterator()
        try await sync.collection("todos").save(["n": 1], id: "x")
        await #expect { try await sync.syncNow() } throws: { ($0 as? SyncError)?.kind == .unauthorized }
        #expect(sync.status.phase == .authRequired)
        #expect(try await sync.pendingOperationCount() == 1)
        var sawAuthRequired = false
        while let event = await events.next() { if event.type == .authRequired { sawAuthRequired = true; break } }
        #expect(sawAuthRequired)
        await sync.updateAuthToken("good")
        try await sync.syncNow()
        #expect(try await sync.pendingOperationCount() == 0)
        // The token never appears in URLs.
        #expect(!transport.sent.contains { $0.url.absoluteString.contains("good") || $0.url.absoluteString.contains("bad") })
    }

    @Test func aBatchRefusedWholeIsSplitToIsolateTheBadOperation() async throws {
        let transport = FakeTransport { request in
            if request.url.path.hasSuffix("synclayer") { return FakeTransport.json(200, ["protocol": "synclayer", "versions": [2]]) }
            if request.url.path.hasSuffix("pull") {
                return FakeTransport.json(200, ["collection": "todos", "changes": [], "cursor": "c", "hasMore": false])
            }
            let ops = request.json?["ops"]?.arrayValue ?? []
            if ops.contains(where: { $0["recordId"] == "huge" }) {
                return FakeTransport.json(413, ["error": ["code": "PAYLOAD_TOO_LARGE", "message": "too large", "retryable": false]])
            }
            return FakeTransport.json(200, ["results": .array(ops.map { ["opId": $0["opId"]!, "status": "applied", "version": 1] })])
        }
        let sync = try await SyncLayer(config: SyncConfig(baseURL: Self.base, collections: ["todos"], enableAutoSync: false,
                                                          storage: .inMemory, transport: transport))
        for id in ["a", "b", "huge", "c", "d"] { try await sync.collection("todos").save(["id": .string(id)]) }
        try await sync.syncNow()
        #expect(try await sync.outboxCounts() == OutboxCounts(pending: 0, rejected: 1, failed: 0))
        #expect(try await sync.collection("todos").getAll().map(\.id) == ["a", "b", "c", "d"])
    }

    /// A v2 server at `base` whose push answers every request with `status` and the error body,
    /// and whose pull is empty.
    static func refusingPushes(_ status: Int, retryable: Bool? = nil) -> FakeTransport {
        FakeTransport { request in
            if request.url.path.hasSuffix("synclayer") { return FakeTransport.json(200, ["protocol": "synclayer", "versions": [2]]) }
            if request.url.path.hasSuffix("pull") {
                return FakeTransport.json(200, ["collection": "todos", "changes": [], "cursor": "c", "hasMore": false])
            }
            var error: [String: JSONValue] = ["code": "REFUSED", "message": "refused"]
            if let retryable { error["retryable"] = .bool(retryable) }
            return FakeTransport.json(status, ["error": .object(error)])
        }
    }

    /// A refusal of the whole request that is not about its body says nothing about the ops: none
    /// is rejected or reverted, none counts a failure, and the sync fails with the status.
    @Test(arguments: [403, 404, 405, 409])
    func aWholePushRefusedNotForItsBodyKeepsTheQueue(status: Int) async throws {
        let transport = Self.refusingPushes(status)
        let sync = try await SyncLayer(config: SyncConfig(baseURL: Self.base, collections: ["todos"], maxRetries: 1,
                                                          enableAutoSync: false, storage: .inMemory, transport: transport))
        for id in ["a", "b", "c"] { try await sync.collection("todos").save(["id": .string(id)]) }
        await #expect { try await sync.syncNow() } throws: { ($0 as? SyncError)?.status == status }
        await #expect { try await sync.syncNow() } throws: { ($0 as? SyncError)?.status == status }
        #expect(try await sync.outboxCounts() == OutboxCounts(pending: 3))
        #expect(try await sync.collection("todos").getAll().map(\.syncState) == [.pending, .pending, .pending])
        #expect(sync.status.phase == .error && sync.status.lastError?.status == status)
        // One request per sync: the batch was not split.
        #expect(transport.sent.filter { $0.url.path.hasSuffix("/v2/push") }.count == 2)
    }

    @Test func aWholePushRefusedWith422ForOneOpRejectsIt() async throws {
        let sync = try await SyncLayer(config: SyncConfig(baseURL: Self.base, collections: ["todos"], enableAutoSync: false,
                                                          storage: .inMemory, transport: Self.refusingPushes(422)))
        try await sync.collection("todos").save(["n": 1], id: "x")
        try await sync.syncNow()
        #expect(try await sync.outboxCounts() == OutboxCounts(rejected: 1))
        #expect(try await sync.collection("todos").get("x") == nil)
    }

    /// 5xx, 429 and 408 are retryable whatever the error body says; the body can make another
    /// status retryable, never one of these permanent.
    @Test(arguments: [(500, false, true), (503, false, true), (429, false, true), (408, false, true),
                      (409, true, true), (409, false, false), (404, nil, false), (502, nil, true)] as [(Int, Bool?, Bool)])
    func retryableFollowsTheStatusBeforeTheBody(status: Int, bodySays: Bool?, retryable: Bool) {
        var error: [String: JSONValue] = ["code": "X", "message": "m"]
        if let bodySays { error["retryable"] = .bool(bodySays) }
        let response = FakeTransport.json(status, ["error": .object(error)])
        #expect(RESTBackend.error(from: response).isRetryable == retryable)
    }

    @Test func a503WhoseBodySaysNotRetryableKeepsTheOpsQueued() async throws {
        let sync = try await SyncLayer(config: SyncConfig(baseURL: Self.base, collections: ["todos"], enableAutoSync: false,
                                                          storage: .inMemory, transport: Self.refusingPushes(503, retryable: false)))
        try await sync.collection("todos").save(["n": 1], id: "x")
        await #expect { try await sync.syncNow() } throws: { ($0 as? SyncError)?.isRetryable == true }
        #expect(try await sync.outboxCounts() == OutboxCounts(pending: 1))
        #expect(try await sync.collection("todos").get("x")?.data == ["n": 1])
    }

    /// v2 servers do not apply `since`: the client drops live records changed at or before it that
    /// it does not hold; a held document and a tombstone still apply.
    @Test func v2PullAppliesSinceOnTheClient() async throws {
        @Sendable func record(_ id: String, _ updatedAt: String, data: JSONValue?) -> JSONValue {
            ["collection": "todos", "recordId": .string(id), "version": 2, "seq": 1, "updatedAt": .string(updatedAt),
             "deleted": .bool(data == nil), "data": data ?? .null, "clientId": "other"]
        }
        let transport = FakeTransport { request in
            switch request.url.path {
            case "/api/.well-known/synclayer":
                return FakeTransport.json(200, ["protocol": "synclayer", "versions": [2]])
            case "/api/v2/push":
                let ops = request.json?["ops"]?.arrayValue ?? []
                return FakeTransport.json(200, ["results": .array(ops.map { ["opId": $0["opId"]!, "status": "applied", "version": 1] })])
            default:
                #expect(request.url.query?.contains("since") == false)
                return FakeTransport.json(200, ["collection": "todos", "cursor": "c", "hasMore": false, "changes": [
                    record("older", "2025-12-31T23:59:59.999Z", data: ["n": 1]),
                    record("atSince", "2026-01-01T00:00:00.000Z", data: ["n": 2]),
                    record("after", "2026-01-01T00:00:00.001Z", data: ["n": 3]),
                    record("held", "2025-06-01T00:00:00.000Z", data: ["n": 4]),
                    record("gone", "2025-06-01T00:00:00.000Z", data: nil),
                ]])
            }
        }
        let since = try #require(RESTBackend.parseTimestamp("2026-01-01T00:00:00.000Z"))
        let sync = try await SyncLayer(config: SyncConfig(baseURL: Self.base, collections: ["todos"], enableAutoSync: false,
                                                          syncFilters: ["todos": SyncFilter(since: since)],
                                                          storage: .inMemory, transport: transport))
        try await sync.collection("todos").save(["n": 0], id: "held")
        try await sync.collection("todos").save(["n": 0], id: "gone")
        try await sync.syncNow()  // pushes both, then pulls
        let docs = try await sync.collection("todos").getAll()
        #expect(Dictionary(uniqueKeysWithValues: docs.map { ($0.id, $0.data) }) == ["after": ["n": 3], "held": ["n": 4]])
    }
}
