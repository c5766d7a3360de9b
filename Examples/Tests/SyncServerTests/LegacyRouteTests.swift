import Foundation
import Testing
import SyncServer

/// v1: the Dart SyncLayer 1.7.3 REST contract, with upstream's exact request and response shapes.
@Suite struct LegacyRouteTests {
    @Test func postStoresAFullDocumentAndAnswersWithTheServerVersion() async throws {
        try await withTestServer { server in
            let first = try await server.http.post(
                "/sync/todos", ["recordId": "r1", "data": ["text": "Buy milk", "done": false], "timestamp": "2020-01-01T00:00:00.000"])
            #expect(first.status == 200)
            #expect(first.json?["success"] == true)
            #expect(first.json?["recordId"] == "r1")
            #expect(first.json?["version"] == 1)
            // The client's (ancient) timestamp is not the server's updatedAt.
            let updatedAt = try #require(first.json?["updatedAt"]?.stringValue)
            #expect(updatedAt.hasPrefix("20") && !updatedAt.hasPrefix("2020-01-01"))

            let second = try await server.http.post("/sync/todos", ["recordId": "r1", "data": ["text": "Oat milk"], "timestamp": "2020-01-01T00:00:00.000"])
            #expect(second.json?["version"] == 2)

            let pull = try await server.http.get("/sync/todos")
            #expect(pull.status == 200)
            let records = try #require(pull.json?["records"])
            guard case .array(let items) = records else { throw UnexpectedAnswer(status: pull.status, body: "records") }
            #expect(items.count == 1)
            let record = items[0]
            #expect(record.objectValue?.keys.sorted() == ["data", "recordId", "updatedAt", "version"])
            #expect(record["recordId"] == "r1")
            #expect(record["data"] == ["text": "Oat milk"])  // full replacement: "done" is gone
            #expect(record["version"] == 2)
        }
    }

    @Test func patchMergesTopLevelKeysKeepsNullsAndIgnoresBaseVersion() async throws {
        try await withTestServer { server in
            _ = try await server.http.post("/sync/todos", ["recordId": "r1", "data": ["text": "a", "done": false, "tags": ["x": 1, "y": 2]]])
            let patch = try await server.http.send(
                "PATCH", "/sync/todos/r1", json: ["delta": ["done": true, "text": nil, "tags": ["x": 5]], "baseVersion": 99, "timestamp": "2026-01-01T00:00:00.000"])
            #expect(patch.status == 200)
            #expect(patch.json?["version"] == 2)
            let pull = try await server.http.get("/sync/todos")
            #expect(pull.json?["records"] == [[
                "recordId": "r1", "data": ["text": nil, "done": true, "tags": ["x": 5]],
                "updatedAt": pull.json!["records"]!.arrayFirst!["updatedAt"]!, "version": 2,
            ]])
        }
    }

    @Test func patchOfAMissingRecordIsNotFound() async throws {
        try await withTestServer { server in
            let answer = try await server.http.send("PATCH", "/sync/todos/nope", json: ["delta": ["a": 1], "baseVersion": 1])
            #expect(answer.status == 404)
            #expect(answer.errorCode == "RECORD_NOT_FOUND")
            #expect(answer.json?["error"]?["retryable"] == false)
        }
    }

    @Test func deleteLeavesATombstoneThatV2PullReports() async throws {
        try await withTestServer { server in
            _ = try await server.http.post("/sync/todos", ["recordId": "r1", "data": ["a": 1]])
            let delete = try await server.http.send("DELETE", "/sync/todos/r1")
            #expect(delete.status == 200)
            #expect(delete.json?["version"] == 2)
            let again = try await server.http.send("DELETE", "/sync/todos/r1")
            #expect(again.status == 200)
            #expect(again.json?["version"] == 2)  // nothing written the second time
            let never = try await server.http.send("DELETE", "/sync/todos/never-existed")
            #expect(never.status == 200)

            #expect(try await server.http.get("/sync/todos").json?["records"] == [])
            let (changes, _) = try await server.http.pullAll("todos")
            #expect(changes.map { $0["recordId"] } == ["r1", "never-existed"])
            #expect(changes.allSatisfy { $0["deleted"] == true && $0["data"] == .null })
        }
    }

    @Test func pullHonoursSinceLimitAndOffset() async throws {
        try await withTestServer { server in
            var stamps: [String] = []
            for index in 0..<5 {
                let answer = try await server.http.post("/sync/todos", ["recordId": .string("r\(index)"), "data": ["n": .int(Int64(index))]])
                stamps.append(answer.json!["updatedAt"]!.stringValue!)
            }
            #expect(Set(stamps).count == 5)  // strictly increasing server time, never equal
            let page1 = try await server.http.get("/sync/todos?limit=2&offset=0")
            let page2 = try await server.http.get("/sync/todos?limit=2&offset=2")
            let page3 = try await server.http.get("/sync/todos?limit=2&offset=4")
            #expect(page1.json?["records"]?.recordIDs == ["r0", "r1"])
            #expect(page2.json?["records"]?.recordIDs == ["r2", "r3"])
            #expect(page3.json?["records"]?.recordIDs == ["r4"])
            let since = stamps[2].addingPercentEncodingForQuery
            #expect(try await server.http.get("/sync/todos?since=\(since)&limit=100").json?["records"]?.recordIDs == ["r3", "r4"])
        }
    }

    @Test func pullFiltersWithWhereAndProjectsFields() async throws {
        try await withTestServer { server in
            _ = try await server.http.post("/sync/todos", ["recordId": "a", "data": ["userId": 123, "status": "active", "done": false, "title": "A"]])
            _ = try await server.http.post("/sync/todos", ["recordId": "b", "data": ["userId": 123, "status": "archived", "done": true, "title": "B"]])
            _ = try await server.http.post("/sync/todos", ["recordId": "c", "data": ["userId": 7, "status": "active", "done": false, "title": "C"]])
            // Dart's toString() forms; brackets percent-encoded as Dio sends them.
            let filtered = try await server.http.get("/sync/todos?where%5BuserId%5D=123&where%5Bstatus%5D=active")
            #expect(filtered.json?["records"]?.recordIDs == ["a"])
            #expect(try await server.http.get("/sync/todos?where[done]=true").json?["records"]?.recordIDs == ["b"])
            let projected = try await server.http.get("/sync/todos?where[userId]=7&fields=title,status&excludeFields=status")
            #expect(projected.json?["records"]?.arrayFirst?["data"] == ["title": "C"])
        }
    }

    @Test func recordIdsArePercentDecodedFromThePath() async throws {
        try await withTestServer { server in
            _ = try await server.http.post("/sync/todos", ["recordId": "a/b c", "data": ["x": 1]])
            let patch = try await server.http.send("PATCH", "/sync/todos/a%2Fb%20c", json: ["delta": ["x": 2]])
            #expect(patch.status == 200)
            #expect(patch.json?["recordId"] == "a/b c")
        }
    }
}

extension JSONValue {
    var arrayFirst: JSONValue? {
        if case .array(let items) = self { return items.first }
        return nil
    }

    var arrayItems: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }

    var recordIDs: [String] { arrayItems.compactMap { $0["recordId"]?.stringValue } }
}

extension Array where Element == JSONValue {
    var recordIDs: [String] { compactMap { $0["recordId"]?.stringValue } }
}

extension String {
    var addingPercentEncodingForQuery: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return addingPercentEncoding(withAllowedCharacters: allowed)!
    }
}
