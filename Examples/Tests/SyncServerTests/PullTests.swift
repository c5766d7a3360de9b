import Testing
import SyncServer

/// v2 pull by opaque cursor: pages, tombstones, concurrency (PROTOCOL.md §4.2).
@Suite struct PullTests {
    @Test func pagesThroughChangesIncludingTombstones() async throws {
        try await withTestServer { server in
            for index in 0..<7 {
                _ = try await server.http.push(clientID: "c1", [op("i\(index)", "insert", "r\(index)", payload: ["n": .int(Int64(index))])])
            }
            _ = try await server.http.push(clientID: "c1", [op("d2", "delete", "r2", base: 1), op("u5", "patch", "r5", payload: ["n": 50], base: 1)])
            var pages = 0
            var cursor: String?
            var seen: [JSONValue] = []
            repeat {
                var path = "/v2/pull?collection=todos&limit=3"
                if let cursor { path += "&cursor=\(cursor)" }
                let answer = try await server.http.get(path)
                #expect(answer.status == 200)
                let json = try #require(answer.json)
                seen += json["changes"]!.arrayItems
                cursor = json["cursor"]?.stringValue
                pages += 1
                if json["hasMore"] == false { break }
            } while pages < 10
            #expect(pages == 3)
            #expect(seen.recordIDs == ["r0", "r1", "r3", "r4", "r6", "r2", "r5"])
            #expect(seen[5]["deleted"] == true)
            #expect(seen[6]["data"] == ["n": 50])
            let seqs = seen.compactMap { $0["seq"]?.intValue }
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)

            // Nothing new: the same cursor comes back with no changes.
            let empty = try await server.http.get("/v2/pull?collection=todos&cursor=\(cursor!)")
            #expect(empty.json?["changes"] == [])
            #expect(empty.json?["cursor"]?.stringValue == cursor)
            #expect(empty.json?["hasMore"] == false)
        }
    }

    @Test func concurrentWritesAreNeitherSkippedNorRepeated() async throws {
        try await withTestServer { server in
            let writers = 4
            let perWriter = 40
            async let written: Void = withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<perWriter {
                            _ = try await server.http.push(
                                clientID: "w\(writer)", [op("w\(writer)-\(index)", "insert", "w\(writer)-r\(index)", payload: ["i": .int(Int64(index))])])
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Pull in small pages while the writers run, then drain after they finished.
            var cursor: String?
            var ids: [String] = []
            var lastSeq: Int64 = 0
            for _ in 0..<20 {
                let (changes, next) = try await server.http.pullAll("todos", from: cursor, limit: 7)
                for change in changes {
                    let seq = change["seq"]!.intValue!
                    #expect(seq > lastSeq)
                    lastSeq = seq
                }
                ids += changes.recordIDs
                cursor = next
            }
            try await written
            let (rest, _) = try await server.http.pullAll("todos", from: cursor, limit: 7)
            ids += rest.recordIDs
            #expect(ids.count == writers * perWriter)
            #expect(Set(ids).count == writers * perWriter)
        }
    }

    @Test func badCursorsAreRefused() async throws {
        try await withTestServer { server in
            let malformed = try await server.http.get("/v2/pull?collection=todos&cursor=garbage")
            #expect(malformed.status == 400)
            #expect(malformed.errorCode == "INVALID_CURSOR")
            let foreign = try await server.http.get("/v2/pull?collection=todos&cursor=otherdb:5")
            #expect(foreign.status == 410)
            #expect(foreign.errorCode == "CURSOR_EXPIRED")
            let missing = try await server.http.get("/v2/pull")
            #expect(missing.status == 400)
        }
    }

    @Test(arguments: ["-bad", "a%2Fb", String(repeating: "c", count: 129), "", "%00", "t%C3%A9"])
    func anInvalidCollectionIs400(_ collection: String) async throws {
        try await withTestServer { server in
            let answer = try await server.http.get("/v2/pull?collection=\(collection)")
            #expect(answer.status == 400)
            #expect(answer.errorCode == "INVALID_IDENTIFIER")
            #expect(answer.json?["error"]?["retryable"] == false)
        }
    }
}
