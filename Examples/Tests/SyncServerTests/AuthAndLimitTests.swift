import Foundation
import Testing
import SyncServer

/// Authentication, size limits and bad input: every refusal has the stable error body and applies nothing.
@Suite struct AuthAndLimitTests {
    @Test(arguments: [nil, "wrong-token", ""])
    func requestsWithoutAValidTokenAre401(_ token: String?) async throws {
        try await withTestServer { server in
            for (method, path) in [("GET", "/sync/todos"), ("POST", "/v2/push"), ("GET", "/v2/pull?collection=todos"), ("DELETE", "/sync/todos/r1")] {
                let answer = try await server.http.send(method, path, json: method == "POST" ? ["clientId": "c", "ops": []] : nil, token: token)
                #expect(answer.status == 401)
                #expect(answer.errorCode == "AUTH_FAILED")
                #expect(answer.json?["error"]?["retryable"] == false)
                #expect(answer.json?["error"]?["message"]?.stringValue != nil)
            }
            #expect(try await server.http.pullAll("todos").changes.isEmpty)
        }
    }

    @Test func capabilitiesAndHealthArePublic() async throws {
        try await withTestServer(configure: { $0.limits.maxOpsPerBatch = 42 }) { server in
            let capabilities = try await server.http.get("/.well-known/synclayer", token: nil)
            #expect(capabilities.status == 200)
            #expect(capabilities.json?["versions"] == [1, 2])
            #expect(capabilities.json?["limits"]?["maxOpsPerBatch"] == 42)
            #expect(capabilities.json?["websocket"]?["path"] == "/ws")
            #expect(capabilities.json?["websocket"]?["queryTokenAccepted"] == false)
            #expect(try await server.http.get("/health", token: nil).status == 200)
        }
    }

    @Test func anOversizedBodyIs413() async throws {
        try await withTestServer(configure: { $0.limits.maxBodyBytes = 1000 }) { server in
            let big: JSONValue = ["recordId": "r1", "data": ["x": .string(String(repeating: "x", count: 2000))]]
            let answer = try await server.http.post("/sync/todos", big)
            #expect(answer.status == 413)
            #expect(answer.errorCode == "PAYLOAD_TOO_LARGE")
            #expect(try await server.http.get("/sync/todos").json?["records"] == [])
        }
    }

    @Test func documentLimitsApplyToV1Writes() async throws {
        try await withTestServer(configure: { $0.limits.document = DocumentLimits(maxBytes: 100, maxDepth: 3) }) { server in
            let large = try await server.http.post("/sync/todos", ["recordId": "r1", "data": ["x": .string(String(repeating: "x", count: 200))]])
            #expect(large.status == 413)
            #expect(large.errorCode == "DOCUMENT_TOO_LARGE")
            let deep = try await server.http.post("/sync/todos", ["recordId": "r1", "data": ["a": ["b": ["c": ["d": 1]]]]])
            #expect(deep.status == 400)
            #expect(deep.errorCode == "DOCUMENT_TOO_DEEP")
            #expect(try await server.http.get("/sync/todos").json?["records"] == [])
        }
    }

    static let badBodies: [(body: [UInt8], code: String)] = [
        (Array("{\"recordId\":".utf8), "INVALID_JSON"),
        ([0x7B, 0x22, 0x72, 0xFF, 0x22, 0x3A, 0x31, 0x7D], "INVALID_JSON"),  // invalid UTF-8
        (Array("[1,2]".utf8), "INVALID_REQUEST"),
        (Array("{\"recordId\":5,\"data\":{}}".utf8), "INVALID_REQUEST"),
        (Array("{\"recordId\":\"r\",\"data\":[1]}".utf8), "INVALID_REQUEST"),
        (Array("{\"recordId\":\"r\",\"data\":{},\"timestamp\":7}".utf8), "INVALID_REQUEST"),
        (Array("{\"recordId\":\"\",\"data\":{}}".utf8), "INVALID_IDENTIFIER"),
        (Array("{\"recordId\":\"..\",\"data\":{}}".utf8), "INVALID_IDENTIFIER"),
        (Array("{\"recordId\":\"a\\u0000b\",\"data\":{}}".utf8), "INVALID_IDENTIFIER"),
        (Array(("{\"recordId\":\"r\",\"data\":" + nestedDocument(depth: 200) + "}").utf8), "DOCUMENT_TOO_DEEP"),
        (Array((String(repeating: "[", count: 200) + String(repeating: "]", count: 200)).utf8), "INVALID_REQUEST"),
    ]

    /// Each holds a valid op too, which must not be applied.
    static let badV2Bodies: [(body: [UInt8], code: String)] = {
        let good = op("o1", "insert", "r1", payload: ["n": 1]).encoded
        func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
        return [
            (bytes(#"{"clientId":"c1","ops":[\#(good),"#), "INVALID_JSON"),
            (bytes(#"{"clientId":"c1","ops":[\#(good)]}x"#), "INVALID_JSON"),
            (bytes(#"{"clientId":"c"#) + [0xFF] + bytes(#"1","ops":[\#(good)]}"#), "INVALID_JSON"),  // invalid UTF-8
            // Malformed inside a document too deep to be built: still checked.
            (bytes(#"{"clientId":"c1","ops":[\#(good),{"opId":"o2","type":"insert","collection":"todos","recordId":"r2","payload":{"k":"#
                + String(repeating: "[", count: 100) + "1,]" + String(repeating: "]", count: 99) + "}}]}"), "INVALID_JSON"),
            (bytes("[\(good)]"), "INVALID_REQUEST"),
            (bytes(#"{"clientId":5,"ops":[\#(good)]}"#), "INVALID_REQUEST"),
            (bytes(#"{"clientId":"c 1","ops":[\#(good)]}"#), "INVALID_REQUEST"),
            (bytes(#"{"clientId":"c1","ops":\#(good)}"#), "INVALID_REQUEST"),
            (bytes(#"{"clientId":"c1","ops":[]}"#), "INVALID_REQUEST"),
            (bytes(#"{"clientId":"c1","ops":[\#(good),5]}"#), "INVALID_REQUEST"),
            (bytes(#"{"clientId":"c1","ops":[\#(good),{"opId":7,"type":"delete","collection":"todos","recordId":"r2"}]}"#), "INVALID_REQUEST"),
        ]
    }()

    @Test(arguments: badBodies.map { ("/sync/todos", $0.body, $0.code) } + badV2Bodies.map { ("/v2/push", $0.body, $0.code) })
    func badInputIs400AndAppliesNothing(_ path: String, _ body: [UInt8], _ code: String) async throws {
        try await withTestServer { server in
            let answer = try await server.http.send("POST", path, raw: Data(body))
            #expect(answer.status == 400)
            #expect(answer.errorCode == code)
            #expect(try await server.http.pullAll("todos").changes.isEmpty)  // v1 writes are in the change log too
        }
    }

    @Test func invalidCollectionNamesAndQueriesAre400() async throws {
        try await withTestServer { server in
            let name = try await server.http.post("/sync/-bad", ["recordId": "r", "data": [:]])
            #expect(name.status == 400)
            #expect(name.errorCode == "INVALID_IDENTIFIER")
            let long = try await server.http.get("/sync/" + String(repeating: "c", count: 129))
            #expect(long.errorCode == "INVALID_IDENTIFIER")
            #expect(try await server.http.get("/sync/todos?limit=abc").status == 400)
            #expect(try await server.http.get("/sync/todos?since=yesterday").status == 400)
            #expect(try await server.http.get("/sync/todos?where%5Ba%22b%5D=1").status == 400)
            let unknown = try await server.http.get("/nowhere")
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "NOT_FOUND")
        }
    }

    @Test func rateLimitAnswers429WithRetryAfter() async throws {
        // One request per 20 s: the second request is refused however slow the machine is.
        try await withTestServer(configure: { $0.rateLimitPerSecond = 0.05 }) { server in
            var statuses: [Int] = []
            var limited: HTTPAnswer?
            for _ in 0..<3 {
                let answer = try await server.http.get("/sync/todos")
                statuses.append(answer.status)
                if answer.status == 429 { limited = answer }
            }
            #expect(statuses == [200, 429, 429])
            let refusal = try #require(limited)
            #expect(refusal.errorCode == "RATE_LIMIT_EXCEEDED")
            #expect(refusal.json?["error"]?["retryable"] == true)
            #expect(Int(refusal.header("Retry-After") ?? "") ?? 0 >= 1)
        }
    }

    @Test func eachTokenHasItsOwnRateLimitAndPublicRoutesCountPerAddress() async throws {
        try await withTestServer(configure: { $0.tokens.insert("second-token"); $0.rateLimitPerSecond = 0.05 }) { server in
            var statuses: [Int] = []
            for (path, token) in [("/sync/todos", testToken), ("/sync/todos", testToken), ("/sync/todos", "second-token"),
                                  ("/health", nil), ("/.well-known/synclayer", nil)] {
                statuses.append(try await server.http.get(path, token: token).status)
            }
            #expect(statuses == [200, 429, 200, 200, 429])
        }
    }

    @Test(arguments: [("PUT", "/v2/push"), ("DELETE", "/v2/pull?collection=todos"), ("PUT", "/sync/todos"), ("POST", "/health"),
                      ("GET", "/sync/todos/r1")])
    func aWrongMethodIs404(_ method: String, _ path: String) async throws {
        // PROTOCOL.md's 405 METHOD_NOT_ALLOWED is never sent: Hummingbird's router finds no route.
        try await withTestServer { server in
            let answer = try await server.http.send(method, path, json: method == "GET" ? nil : [:])
            #expect(answer.status == 404)
            #expect(answer.errorCode == "NOT_FOUND")
        }
    }
}
