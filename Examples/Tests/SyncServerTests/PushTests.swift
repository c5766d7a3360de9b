import Foundation
import Testing
import SyncServer

/// v2 push: per-op answers, at-most-once application, conflicts and rejections (PROTOCOL.md §4.1).
@Suite struct PushTests {
    @Test func appliesABatchAcrossCollections() async throws {
        try await withTestServer { server in
            let results = try await server.http.push(clientID: "c1", [
                op("o1", "insert", "r1", payload: ["text": "a"], hlc: "1763744584123-0000-c1"),
                op("o2", "insert", "n1", collection: "notes", payload: ["body": "b"]),
            ])
            #expect(results.map { $0["status"] } == ["applied", "applied"])
            #expect(results[0]["version"] == 1)
            #expect(results[0]["deleted"] == false)
            let seq0 = try #require(results[0]["seq"]?.intValue)
            let seq1 = try #require(results[1]["seq"]?.intValue)
            #expect(seq1 > seq0)
            let (changes, _) = try await server.http.pullAll("todos")
            #expect(changes.first?["hlc"] == "1763744584123-0000-c1")
            #expect(changes.first?["clientId"] == "c1")
        }
    }

    @Test func sameOpIdTwiceIsAppliedOnceWithTheSameAnswer() async throws {
        try await withTestServer { server in
            let insert = op("o1", "insert", "r1", payload: ["n": 1])
            let patch = op("o2", "patch", "r1", payload: ["n": 2])
            let first = try await server.http.push(clientID: "c1", [insert, patch, patch])
            #expect(first.map { $0["status"] } == ["applied", "applied", "duplicate"])
            let second = try await server.http.push(clientID: "c1", [insert, patch])
            #expect(second.map { $0["status"] } == ["duplicate", "duplicate"])
            for (original, repeated) in zip(first.prefix(2), second) {
                var expected = original.objectValue!
                expected["status"] = "duplicate"
                #expect(repeated == .object(expected))
            }
            let (changes, _) = try await server.http.pullAll("todos")
            #expect(changes.count == 1)
            #expect(changes[0]["version"] == 2)
            #expect(changes[0]["data"] == ["n": 2])
        }
    }

    @Test func reusingAnOpIdForOtherContentIsRejected() async throws {
        try await withTestServer { server in
            _ = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: ["n": 1])])
            let results = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: ["n": 666])])
            #expect(results[0]["status"] == "rejected")
            #expect(results[0]["code"] == "OP_ID_REUSED")
        }
    }

    @Test func staleBaseVersionIsAConflictWithTheCurrentRecord() async throws {
        try await withTestServer { server in
            _ = try await server.http.push(clientID: "a", [op("o1", "insert", "r1", payload: ["n": 1])])
            _ = try await server.http.push(clientID: "b", [op("o2", "update", "r1", payload: ["n": 2], base: 1)])
            let results = try await server.http.push(clientID: "a", [
                op("o3", "patch", "r1", payload: ["n": 3], base: 1),
                op("o4", "insert", "r1", payload: ["n": 4]),
            ])
            #expect(results.map { $0["status"] } == ["conflict", "conflict"])
            let current = try #require(results[0]["current"])
            #expect(current["version"] == 2)
            #expect(current["data"] == ["n": 2])
            #expect(current["clientId"] == "b")
            #expect(current["deleted"] == false)
            // Not applied, and not recorded: the same op id re-evaluates against the new state.
            let retry = try await server.http.push(clientID: "a", [op("o3", "patch", "r1", payload: ["n": 3], base: 1)])
            #expect(retry[0]["status"] == "conflict")
        }
    }

    @Test func aDeletedRecordConflictsWithAPatchAndReportsTheTombstone() async throws {
        try await withTestServer { server in
            _ = try await server.http.push(clientID: "a", [op("o1", "insert", "r1", payload: ["n": 1])])
            _ = try await server.http.push(clientID: "b", [op("o2", "delete", "r1", base: 1)])
            let results = try await server.http.push(clientID: "a", [op("o3", "patch", "r1", payload: ["n": 3], base: 1)])
            #expect(results[0]["status"] == "conflict")
            #expect(results[0]["current"]?["deleted"] == true)
            #expect(results[0]["current"]?["data"] == .null)
            #expect(results[0]["current"]?["version"] == 2)
        }
    }

    @Test func aDeleteOfATombstoneIsAnsweredWithTheTombstonesStamp() async throws {
        try await withTestServer { server in
            _ = try await server.http.push(clientID: "a", [op("o1", "insert", "r1", payload: ["n": 1], hlc: "1800000000000-0000-a")])
            _ = try await server.http.push(clientID: "b", [op("o2", "delete", "r1", base: 1, hlc: "1800000060000-0003-b")])
            let results = try await server.http.push(clientID: "a", [op("o3", "delete", "r1", base: 1, hlc: "1800000001000-0000-a")])
            #expect(results[0]["status"] == "applied")
            #expect(results[0]["version"] == 2 && results[0]["deleted"] == true)
            #expect(results[0]["hlc"] == "1800000060000-0003-b")  // the tombstone's, for the client's clock
            let again = try await server.http.push(clientID: "a", [op("o3", "delete", "r1", base: 1, hlc: "1800000001000-0000-a")])
            #expect(again[0]["status"] == "duplicate" && again[0]["hlc"] == nil)
            let insert = try await server.http.push(clientID: "a", [op("o4", "insert", "r2", payload: ["n": 1])])
            #expect(insert[0]["status"] == "applied" && insert[0]["hlc"] == nil)
        }
    }

    @Test func aRejectedOpNeitherBlocksNorPartiallyAppliesOthers() async throws {
        try await withTestServer(configure: { $0.limits.document = DocumentLimits(maxBytes: 64, maxDepth: 3) }) { server in
            let results = try await server.http.push(clientID: "c1", [
                op("o1", "insert", "r1", payload: ["n": 1]),
                op("o2", "insert", "r2", payload: ["big": .string(String(repeating: "x", count: 100))]),
                op("o3", "insert", "r3", payload: ["a": ["b": ["c": ["d": 1]]]]),
                op("o4", "frobnicate", "r4", payload: ["n": 1]),
                op("o5", "insert", "bad\u{01}id", payload: ["n": 1]),
                op("o6", "insert", "r6", payload: "not an object"),
                op("o7", "insert", "r7", payload: ["n": 7]),
            ])
            #expect(results.map { $0["status"] } == ["applied", "rejected", "rejected", "rejected", "rejected", "rejected", "applied"])
            #expect(results.map { $0["code"] } == [nil, "DOCUMENT_TOO_LARGE", "DOCUMENT_TOO_DEEP", "INVALID_OPERATION", "INVALID_IDENTIFIER", "INVALID_OPERATION", nil])
            let (changes, _) = try await server.http.pullAll("todos")
            #expect(changes.recordIDs == ["r1", "r7"])
        }
    }

    @Test func aPatchThatGrowsTheDocumentPastTheLimitIsRejected() async throws {
        try await withTestServer(configure: { $0.limits.document.maxBytes = 64 }) { server in
            _ = try await server.http.push(clientID: "c1", [op("o1", "insert", "r1", payload: ["a": .string(String(repeating: "x", count: 30))])])
            let results = try await server.http.push(clientID: "c1", [op("o2", "patch", "r1", payload: ["b": .string(String(repeating: "y", count: 30))])])
            #expect(results[0]["code"] == "DOCUMENT_TOO_LARGE")
        }
    }

    @Test func ownWritesChainWithinOneBatch() async throws {
        try await withTestServer { server in
            let results = try await server.http.push(clientID: "c1", [
                op("o1", "insert", "r1", payload: ["n": 1, "keep": true]),
                op("o2", "patch", "r1", payload: ["n": 2]),
                op("o3", "delete", "r1"),
                op("o4", "insert", "r1", payload: ["n": 4]),
            ])
            #expect(results.map { $0["status"] } == ["applied", "applied", "applied", "applied"])
            #expect(results.map { $0["version"] } == [1, 2, 3, 4])
        }
    }

    @Test func malformedBatchesApplyNothing() async throws {
        try await withTestServer { server in
            let missingOpID = try await server.http.post("/v2/push", ["clientId": "c1", "ops": [op("o1", "insert", "r1", payload: [:]), ["type": "insert"]]])
            #expect(missingOpID.status == 400)
            #expect(missingOpID.errorCode == "INVALID_REQUEST")
            let noClient = try await server.http.post("/v2/push", ["ops": [op("o1", "insert", "r1", payload: [:])]])
            #expect(noClient.status == 400)
            let notArray = try await server.http.post("/v2/push", ["clientId": "c1", "ops": ["o": 1]])
            #expect(notArray.status == 400)
            #expect(try await server.http.pullAll("todos").changes.isEmpty)
        }
    }

    @Test func tooManyOpsIs413AndAppliesNothing() async throws {
        try await withTestServer(configure: { $0.limits.maxOpsPerBatch = 3 }) { server in
            let ops = (0..<4).map { op("o\($0)", "insert", "r\($0)", payload: [:]) }
            let answer = try await server.http.post("/v2/push", ["clientId": "c1", "ops": .array(ops)])
            #expect(answer.status == 413)
            #expect(answer.errorCode == "TOO_MANY_OPS")
            #expect(try await server.http.pullAll("todos").changes.isEmpty)
        }
    }

    @Test(arguments: [33, 61, 62, 100_000])
    func aTooDeepDocumentIsRejectedAloneHoweverDeep(_ depth: Int) async throws {
        try await withTestServer { server in  // the default limit: 32 levels
            let deep = #"{"opId":"o2","type":"insert","collection":"todos","recordId":"r2","payload":"# + nestedDocument(depth: depth) + "}"
            let body = #"{"clientId":"c1","ops":["# + op("o1", "insert", "r1", payload: ["n": 1]).encoded + "," + deep + ","
                + op("o3", "insert", "r3", payload: ["fits": .object(try #require(JSONParser.parse(Array(nestedDocument(depth: 31).utf8)).objectValue))]).encoded
                + "]}"
            let answer = try await server.http.send("POST", "/v2/push", raw: Data(body.utf8))
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self).prefix(300))")
            let results = answer.json?["results"]?.arrayItems ?? []
            #expect(results.map { $0["status"] } == ["applied", "rejected", "applied"])
            #expect(results.map { $0["code"] } == [nil, "DOCUMENT_TOO_DEEP", nil])
            #expect(results.map { $0["opId"] } == ["o1", "o2", "o3"])
            #expect(try await server.http.pullAll("todos").changes.recordIDs == ["r1", "r3"])
        }
    }

    @Test func anOversizedBodyIs413AndAppliesNothing() async throws {
        try await withTestServer(configure: { $0.limits.maxBodyBytes = 1000 }) { server in
            let answer = try await server.http.post("/v2/push", ["clientId": "c1", "ops": [
                op("o1", "insert", "r1", payload: ["n": 1]),
                op("o2", "insert", "r2", payload: ["x": .string(String(repeating: "x", count: 2000))]),
            ]])
            #expect(answer.status == 413)
            #expect(answer.errorCode == "PAYLOAD_TOO_LARGE")
            #expect(try await server.http.pullAll("todos").changes.isEmpty)
        }
    }

    @Test func anInvalidCollectionNameRejectsItsOpAlone() async throws {
        try await withTestServer { server in
            let results = try await server.http.push(clientID: "c1", [
                op("o1", "insert", "r1", payload: ["n": 1]),
                op("o2", "insert", "r2", collection: "-bad", payload: ["n": 2]),
                op("o3", "insert", "r3", collection: "a/b", payload: ["n": 3]),
                op("o4", "insert", "r4", collection: String(repeating: "c", count: 129), payload: ["n": 4]),
                op("o5", "insert", "r5", collection: "", payload: ["n": 5]),
                op("o6", "insert", "r6", payload: ["n": 6]),
            ])
            #expect(results.map { $0["status"] } == ["applied", "rejected", "rejected", "rejected", "rejected", "applied"])
            #expect(results.map { $0["code"] } == [nil, "INVALID_IDENTIFIER", "INVALID_IDENTIFIER", "INVALID_IDENTIFIER", "INVALID_IDENTIFIER", nil])
            #expect(try await server.http.pullAll("todos").changes.recordIDs == ["r1", "r6"])
        }
    }
}

/// The text of a document `depth` levels deep (the document object is level 1), objects and arrays in turn.
func nestedDocument(depth: Int) -> String {
    var opening = "", closing = ""
    opening.reserveCapacity(depth * 5)
    closing.reserveCapacity(depth)
    for level in 1...depth {
        opening += level % 2 == 1 ? #"{"k":"# : "["
        closing += level % 2 == 1 ? "}" : "]"
    }
    return opening + "1" + String(closing.reversed())
}
