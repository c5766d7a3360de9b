import Testing
import SyncServer

/// `/ws`: subscribe, fan-out, acks, resume and heartbeat (PROTOCOL.md §5).
@Suite struct WebSocketTests {
    @Test func fansOutChangesToOtherSubscribersButNotTheSender() async throws {
        try await withTestServer { server in
            let alice = try await WebSocketTestClient.connect(server.webSocketURL)
            let bob = try await WebSocketTestClient.connect(server.webSocketURL)
            let subscribedAlice = await alice.subscribe("todos")
            let subscribedBob = await bob.subscribe("todos")
            #expect(subscribedAlice.subscribed?["metadata"]?["recordCount"] == 0)
            #expect(subscribedBob.before.isEmpty)

            // Alice writes over WS (v1 style, as the Dart client does), then someone writes over HTTP.
            alice.send(["type": "insert", "collection": "todos", "recordId": "r1", "data": ["text": "from alice"], "timestamp": "2026-01-01T00:00:00.000"])
            _ = try await server.http.push(clientID: "web", [op("h1", "insert", "r2", payload: ["text": "from http"])])

            let first = try #require(await bob.next()?.json)
            #expect(first["type"] == "insert")
            #expect(first["recordId"] == "r1")
            #expect(first["data"] == ["text": "from alice"])
            #expect(first["metadata"]?["version"] == 1)
            #expect(first["metadata"]?["delta"] == false)
            #expect(first["metadata"]?["clientId"] == .null)
            let second = try #require(await bob.next()?.json)
            #expect(second["recordId"] == "r2")
            #expect(second["metadata"]?["clientId"] == "web")
            #expect(try #require(second["metadata"]?["seq"]?.intValue) > first["metadata"]!["seq"]!.intValue!)

            // Alice's own change is not echoed: the next thing she sees is the HTTP write.
            let aliceNext = try #require(await alice.next()?.json)
            #expect(aliceNext["recordId"] == "r2")
            await alice.close()
            await bob.close()
        }
    }

    @Test func v1UpdatesPatchAndDeletesTombstone() async throws {
        try await withTestServer { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            let watcher = try await WebSocketTestClient.connect(server.webSocketURL)
            _ = await watcher.subscribe("todos")
            // One at a time: a record changed several times quickly may be reported once, with its latest state.
            client.send(["type": "insert", "collection": "todos", "recordId": "r1", "data": ["a": 1, "b": 2]])
            let insert = try #require(await watcher.next()?.json)
            client.send(["type": "update", "collection": "todos", "recordId": "r1", "data": ["b": 3]])
            let update = try #require(await watcher.next()?.json)
            client.send(["type": "delete", "collection": "todos", "recordId": "r1"])
            let delete = try #require(await watcher.next()?.json)
            #expect(insert["type"] == "insert")
            #expect(update["type"] == "update")
            #expect(update["data"] == ["a": 1, "b": 3])  // full document, never just the delta
            #expect(delete["type"] == "delete")
            #expect(delete["data"] == nil)  // omitted, not null
            #expect(delete["metadata"]?["version"] == 3)

            client.send(["type": "update", "collection": "todos", "recordId": "missing", "data": ["x": 1]])
            let error = try #require(await client.next(type: "error"))
            #expect(error["code"] == "RECORD_NOT_FOUND")
            await client.close()
            await watcher.close()
        }
    }

    @Test func v2ChangesAreAckedAndShareTheOpIdTableWithHTTP() async throws {
        try await withTestServer { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            let change: JSONValue = [
                "type": "insert", "collection": "todos", "recordId": "r1", "data": ["n": 1],
                "metadata": ["opId": "op-1", "clientId": "c1", "baseVersion": nil, "hlc": "1763744584123-0000-c1"],
            ]
            client.send(change)
            let ack = try #require(await client.next(type: "ack"))
            #expect(ack["data"]?["status"] == "applied")
            #expect(ack["data"]?["opId"] == "op-1")
            #expect(ack["data"]?["version"] == 1)

            // The same op over HTTP is a duplicate with the same answer.
            let results = try await server.http.push(clientID: "c1", [op("op-1", "insert", "r1", payload: ["n": 1], hlc: "1763744584123-0000-c1")])
            var expected = ack["data"]!.objectValue!
            expected["status"] = "duplicate"
            #expect(results[0] == .object(expected))

            // A delta update is a patch; a stale base is a conflict in the ack.
            client.send([
                "type": "update", "collection": "todos", "recordId": "r1", "data": ["m": 2],
                "metadata": ["opId": "op-2", "clientId": "c1", "baseVersion": 1, "delta": true],
            ])
            let patched = try #require(await client.next(type: "ack"))
            #expect(patched["data"]?["version"] == 2)
            client.send([
                "type": "update", "collection": "todos", "recordId": "r1", "data": ["m": 3],
                "metadata": ["opId": "op-3", "clientId": "other", "baseVersion": 1, "delta": true],
            ])
            let conflict = try #require(await client.next(type: "ack"))
            #expect(conflict["data"]?["status"] == "conflict")
            #expect(conflict["data"]?["current"]?["data"] == ["n": 1, "m": 2])

            client.send(["type": "insert", "collection": "todos", "recordId": "r9", "data": [:], "metadata": ["opId": "op-9"]])
            let error = try #require(await client.next(type: "error"))
            #expect(error["code"] == "INVALID_MESSAGE")
            #expect(error["metadata"]?["opId"] == "op-9")
            await client.close()
        }
    }

    @Test func subscribeWithACursorResumesFromIt() async throws {
        try await withTestServer { server in
            _ = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: [:])])
            let (_, cursor) = try await server.http.pullAll("todos")
            _ = try await server.http.push(clientID: "c1", [op("o2", "insert", "r2", payload: [:]), op("o3", "delete", "r1", base: 1)])

            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            let (before, subscribed) = await client.subscribe("todos", cursor: cursor)
            #expect(before.map { $0["recordId"] } == ["r2", "r1"])
            #expect(before.map { $0["type"] } == ["insert", "delete"])
            let resumed = try #require(subscribed?["metadata"]?["cursor"]?.stringValue)
            let (afterResume, _) = try await server.http.pullAll("todos", from: resumed)
            #expect(afterResume.isEmpty)
            #expect(subscribed?["metadata"]?["recordCount"] == 1)

            // Live changes continue after the catch-up.
            _ = try await server.http.push(clientID: "c1", [op("o4", "insert", "r3", payload: [:])])
            #expect(await client.next()?.json?["recordId"] == "r3")

            client.send(["type": "unsubscribe", "collection": "todos"])
            #expect(await client.next(type: "unsubscribed")?["collection"] == "todos")
            await client.close()
        }
    }

    @Test func eachChangeCarriesTheSeqOfTheChangeSentBeforeIt() async throws {
        try await withTestServer { server in
            _ = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: [:])])
            let (_, cursor) = try await server.http.pullAll("todos")
            let start = try #require(cursor.split(separator: ":").last.flatMap { Int64($0) })
            _ = try await server.http.push(clientID: "c1", [
                op("o2", "insert", "r2", payload: [:]), op("n1", "insert", "n1", collection: "notes", payload: [:]),
                op("o3", "delete", "r1", base: 1),
            ])

            // The replay chains from the cursor; the other collection's seq is not in the chain.
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            let (before, subscribed) = await client.subscribe("todos", cursor: cursor)
            let seqs = before.map { $0["metadata"]?["seq"]?.intValue }
            #expect(before.map { $0["metadata"]?["prevSeq"]?.intValue } == [start, seqs[0]])
            #expect(seqs[1]! > seqs[0]! + 1)
            #expect(subscribed?["metadata"]?["seq"]?.intValue == seqs[1])

            // The connection's own v2 change is answered by an ack, not sent: the next change
            // chains from the last one sent.
            client.send([
                "type": "insert", "collection": "todos", "recordId": "mine", "data": [:],
                "metadata": ["opId": "own-1", "clientId": "c2", "baseVersion": nil],
            ])
            #expect(await client.next(type: "ack")?["data"]?["status"] == "applied")
            _ = try await server.http.push(clientID: "c1", [op("o4", "insert", "r3", payload: [:])])
            let live = try #require(await client.next()?.json)
            #expect(live["recordId"] == "r3")
            #expect(live["metadata"]?["prevSeq"]?.intValue == seqs[1])

            // Without a cursor the chain starts at the subscribe point.
            let late = try await WebSocketTestClient.connect(server.webSocketURL)
            let (none, fromNow) = await late.subscribe("todos")
            #expect(none.isEmpty)
            let point = try #require(fromNow?["metadata"]?["seq"]?.intValue)
            #expect(point == live["metadata"]?["seq"]?.intValue)
            _ = try await server.http.push(clientID: "c1", [op("o5", "insert", "r4", payload: [:])])
            #expect(await late.next()?.json?["metadata"]?["prevSeq"]?.intValue == point)
            await client.close()
            await late.close()
        }
    }

    @Test func deliversConcurrentWritesInSeqOrderWithoutGaps() async throws {
        try await withTestServer { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            _ = await client.subscribe("todos")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<3 {
                    group.addTask {
                        for index in 0..<20 {
                            _ = try await server.http.push(clientID: "w\(writer)", [op("w\(writer)-\(index)", "insert", "w\(writer)-\(index)", payload: [:])])
                        }
                    }
                }
                try await group.waitForAll()
            }
            var seqs: [Int64] = []
            var ids = Set<String>()
            while ids.count < 60, let message = await client.next()?.json {
                seqs.append(message["metadata"]?["seq"]?.intValue ?? -1)
                ids.insert(message["recordId"]?.stringValue ?? "?")
            }
            #expect(ids.count == 60)
            #expect(seqs.count == 60)
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
            await client.close()
        }
    }

    @Test func closesOnAMessageOverTheLimit() async throws {
        try await withTestServer(configure: { $0.limits.document.maxBytes = 1000 }) { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            let limit = ServerConfiguration.Limits(document: DocumentLimits(maxBytes: 1000)).maxWebSocketMessageBytes
            client.send(["type": "insert", "collection": "todos", "recordId": "r1", "data": ["x": .string(String(repeating: "x", count: limit))]])
            guard case .closed(let code)? = await client.next() else {
                Issue.record("expected the server to close the connection")
                return
            }
            #expect(code == 1009)
            #expect(try await server.http.pullAll("todos").changes.isEmpty)
            await client.close()
        }
    }

    @Test func answersPingsAndRejectsBadMessages() async throws {
        try await withTestServer { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            client.send(["type": "ping"])
            #expect(await client.next()?.json?["type"] == "pong")
            client.sendText("not json")
            #expect(await client.next()?.json?["code"] == "INVALID_MESSAGE")
            client.send(["type": "subscribe", "collection": "bad name"])
            #expect(await client.next()?.json?["code"] == "INVALID_MESSAGE")
            client.send(["type": "subscribe", "collection": "todos", "metadata": ["cursor": "otherdb:3"]])
            #expect(await client.next()?.json?["code"] == "CURSOR_EXPIRED")
            client.send(["type": "subscribe", "collection": "todos", "metadata": ["cursor": "garbage"]])
            #expect(await client.next()?.json?["code"] == "INVALID_CURSOR")
            client.send(["type": "teleport"])
            #expect(await client.next()?.json?["code"] == "INVALID_MESSAGE")
            client.send(["type": "ping"])
            #expect(await client.next()?.json?["type"] == "pong")
            await client.close()
        }
    }

    @Test func syncRequestAnswersASnapshotWithUpstreamKeys() async throws {
        try await withTestServer { server in
            _ = try await server.http.post("/sync/todos", ["recordId": "r1", "data": ["a": 1]])
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            client.send(["type": "sync", "collection": "todos"])
            let sync = try #require(await client.next(type: "sync"))
            let record = try #require(sync["data"]?["records"]?.arrayFirst)
            #expect(record["id"] == "r1")
            #expect(record["data"] == ["a": 1])
            #expect(record["version"] == 1)
            #expect(record["updatedAt"]?.stringValue != nil)
            await client.close()
        }
    }

    @Test func closesIdleConnections() async throws {
        try await withTestServer(configure: { $0.webSocketIdleTimeout = .milliseconds(300) }) { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL)
            guard case .closed(let code)? = await client.next(timeout: .seconds(10)) else {
                Issue.record("expected the server to close the idle connection")
                return
            }
            #expect(code == 4408)
            await client.close()
        }
    }

    @Test(arguments: [[], ["Authorization: Bearer wrong"], ["Authorization: Basic \(testToken)"]])
    func refusesAMissingOrWrongToken(_ headers: [String]) async throws {
        try await withTestServer { server in
            let result = try await RawWebSocket.handshake(port: server.server.port, headers: headers)
            #expect(result.status == 101)
            #expect(result.texts.count == 1)
            let error = try JSONParser.parse(Array((result.texts.first ?? "").utf8))
            #expect(error["type"] == "error")
            #expect(error["code"] == "AUTH_FAILED")
            #expect(result.closeCode == 1008)
        }
    }

    @Test func refusesAQueryTokenUnlessAllowed() async throws {
        try await withTestServer { server in
            let result = try await RawWebSocket.handshake(port: server.server.port, path: "/ws?token=\(testToken)")
            #expect(result.closeCode == 1008)
            #expect(result.texts.first?.contains("AUTH_FAILED") == true)
        }
    }

    @Test func acceptsAQueryTokenWhenConfigured() async throws {
        try await withTestServer(configure: { $0.allowQueryToken = true }) { server in
            let client = try await WebSocketTestClient.connect(server.webSocketURL + "?token=\(testToken)", token: nil)
            client.send(["type": "ping"])
            #expect(await client.next()?.json?["type"] == "pong")
            await client.close()
        }
    }
}
