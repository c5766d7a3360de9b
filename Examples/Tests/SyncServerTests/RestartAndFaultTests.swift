import Testing
import SyncServer

/// Durability across restarts and the test hooks the SDK's fault tests use.
@Suite struct RestartAndFaultTests {
    @Test func restartKeepsAcknowledgedWritesAndTheDedupTable() async throws {
        let path = temporaryDatabasePath()
        let (firstAnswer, cursor) = try await withTestServer(databasePath: path) { server in
            let results = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: ["n": 1])])
            _ = try await server.http.post("/sync/todos", ["recordId": "r2", "data": ["n": 2]])
            let (_, cursor) = try await server.http.pullAll("todos")
            return (results[0], cursor)
        }
        try await withTestServer(databasePath: path) { server in
            let again = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: ["n": 1])])
            var expected = firstAnswer.objectValue!
            expected["status"] = "duplicate"
            #expect(again[0] == .object(expected))
            #expect(try await server.http.get("/sync/todos").json?["records"]?.recordIDs == ["r1", "r2"])
            // Cursors survive too, and seq keeps increasing.
            _ = try await server.http.push(clientID: "c1", [op("o3", "insert", "r3", payload: [:])])
            let (changes, _) = try await server.http.pullAll("todos", from: cursor)
            #expect(changes.recordIDs == ["r3"])
        }
    }

    @Test func failsTheNextWritesWithRetryAfterAndAppliesNothing() async throws {
        try await withTestServer { server in
            server.faults.failNextWrites(2, status: .serviceUnavailable, retryAfter: 3)
            let first = try await server.http.post("/v2/push", ["clientId": "c1", "ops": [op("o1", "insert", "r1", payload: [:])]])
            #expect(first.status == 503)
            #expect(first.errorCode == "SERVICE_UNAVAILABLE")
            #expect(first.json?["error"]?["retryable"] == true)
            #expect(first.header("Retry-After") == "3")
            let second = try await server.http.post("/sync/todos", ["recordId": "r1", "data": [:]])
            #expect(second.status == 503)
            #expect(try await server.http.pullAll("todos").changes.isEmpty)
            let third = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: [:])])
            #expect(third[0]["status"] == "applied")
        }
    }

    @Test func commitsThenDropsTheConnection() async throws {
        try await withTestServer { server in
            server.faults.dropConnectionAfterCommit(nextWrites: 1)
            await #expect(throws: (any Error).self) {
                _ = try await server.http.post("/v2/push", ["clientId": "c1", "ops": [op("o1", "insert", "r1", payload: ["n": 1])]])
            }
            // The write committed: resending is a duplicate, not a second application.
            let results = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: ["n": 1])])
            #expect(results[0]["status"] == "duplicate")
            #expect(results[0]["version"] == 1)
        }
    }

    @Test func delaysAnswers() async throws {
        try await withTestServer { server in
            server.faults.delayResponses(by: .milliseconds(300))
            let start = ContinuousClock.now
            let answer = try await server.http.get("/health", token: nil)
            let elapsed = ContinuousClock.now - start
            #expect(answer.status == 200)
            #expect(elapsed >= .milliseconds(300))
        }
    }

    @Test(arguments: [FaultInjector.WebSocketFault.drop, .duplicate, .reorder])
    func disturbsWebSocketChangeMessages(_ fault: FaultInjector.WebSocketFault) async throws {
        try await withTestServer { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            _ = await client.subscribe("todos")
            server.faults.disturbNextWebSocketMessages(1, with: fault)
            _ = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: [:])])
            _ = try await server.http.push(clientID: "c1", [op("o2", "insert", "r2", payload: [:])])
            _ = try await server.http.push(clientID: "c1", [op("o3", "insert", "r3", payload: [:])])
            var ids: [String] = []
            while ids.last != "r3", let message = await client.next()?.json {
                ids.append(message["recordId"]?.stringValue ?? "?")
            }
            switch fault {
            case .drop: #expect(ids == ["r2", "r3"])
            case .duplicate: #expect(ids == ["r1", "r1", "r2", "r3"])
            case .reorder: #expect(ids == ["r2", "r1", "r3"])
            }
            await client.close()
        }
    }
}
