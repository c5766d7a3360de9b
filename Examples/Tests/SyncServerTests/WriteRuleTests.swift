import Testing
@testable import SyncServer

@Suite struct WriteRuleTests {
    enum Current: Sendable {
        case absent, live(version: Int64, by: String?), tombstone(version: Int64, by: String?)

        var record: StoredRecord? {
            switch self {
            case .absent: nil
            case .live(let version, let by):
                StoredRecord(collection: "c", recordID: "r", data: ["a": 1, "b": 2], version: version, seq: 1, updatedAt: 1,
                             hlc: nil, clientID: by, opID: nil, createdByLastChange: false)
            case .tombstone(let version, let by):
                StoredRecord(collection: "c", recordID: "r", data: nil, version: version, seq: 1, updatedAt: 1,
                             hlc: nil, clientID: by, opID: nil, createdByLastChange: false)
            }
        }
    }

    enum Expected: Equatable, Sendable { case write, unchanged, conflict, notFound }

    static let table: [(WriteOperation.Kind, Int64?, Current, Expected)] = [
        // insert/update
        (.insert, nil, .absent, .write),
        (.insert, 3, .absent, .conflict),
        (.insert, nil, .live(version: 2, by: "other"), .conflict),
        (.insert, nil, .live(version: 2, by: "me"), .write),  // own-write chaining
        (.update, 2, .live(version: 2, by: "other"), .write),
        (.update, 1, .live(version: 2, by: "other"), .conflict),
        (.update, 1, .live(version: 2, by: "me"), .write),
        (.update, 3, .live(version: 2, by: "me"), .conflict),
        (.update, nil, .tombstone(version: 4, by: "other"), .write),
        (.update, 4, .tombstone(version: 4, by: "other"), .write),
        (.update, 3, .tombstone(version: 4, by: "other"), .conflict),
        // patch
        (.patch, nil, .absent, .conflict),
        (.patch, 2, .live(version: 2, by: "other"), .write),
        (.patch, 1, .live(version: 2, by: "other"), .conflict),
        (.patch, nil, .live(version: 1, by: "me"), .write),
        (.patch, 4, .tombstone(version: 4, by: "other"), .conflict),
        // delete
        (.delete, nil, .absent, .write),
        (.delete, 2, .live(version: 2, by: "other"), .write),
        (.delete, 1, .live(version: 2, by: "other"), .conflict),
        (.delete, nil, .tombstone(version: 4, by: "other"), .unchanged),
    ]

    @Test(arguments: table)
    func decidesLikeTheProtocolTable(_ kind: WriteOperation.Kind, _ base: Int64?, _ current: Current, _ expected: Expected) {
        let op = WriteOperation(
            opID: "o", clientID: "me", collection: "c", recordID: "r", kind: kind,
            payload: kind == .delete ? nil : ["a": 9], baseVersion: base, hlc: nil, rules: .v2)
        let decision = WriteRule.decide(op, current: current.record, limits: DocumentLimits())
        let actual: Expected =
            switch decision {
            case .write: .write
            case .unchanged: .unchanged
            case .conflict: .conflict
            case .recordNotFound: .notFound
            case .rejected: .notFound
            }
        #expect(actual == expected)
    }

    @Test func patchReplacesTopLevelKeysAndStoresNull() {
        let merged = WriteRule.merge(["a": 1, "n": ["x": 1, "y": 2], "keep": true], ["a": nil, "n": ["x": 5]])
        #expect(merged == ["a": nil, "n": ["x": 5], "keep": true])
    }

    @Test func rejectsAResultingDocumentOverTheLimits() {
        let op = WriteOperation(
            opID: "o", clientID: "me", collection: "c", recordID: "r", kind: .insert, payload: ["t": .string(String(repeating: "x", count: 100))],
            baseVersion: nil, hlc: nil, rules: .v2)
        let decision = WriteRule.decide(op, current: nil, limits: DocumentLimits(maxBytes: 50, maxDepth: 32))
        guard case .rejected(let code, _) = decision else {
            Issue.record("expected a rejection, got \(decision)")
            return
        }
        #expect(code == "DOCUMENT_TOO_LARGE")
    }

    /// A push answer is written by `writeResult`, a realtime ack by `resultJSON`: the two must give the
    /// same canonical bytes for every kind of outcome (the applied ones take a hand-written path).
    @Test func writtenResultsMatchTheirJSONValue() {
        let write = AppliedWrite(collection: "c\"1", recordID: "r/é", version: 3, seq: 42, updatedAt: 1_700_000_000_123, deleted: false)
        var unchanged = write
        unchanged.deleted = true
        unchanged.unchangedHLC = "0000000001:00000:dev"
        let outcomes: [WriteOutcome] = [
            .applied(write), .duplicate(write), .applied(unchanged), .conflict(current: Current.live(version: 2, by: "x").record),
            .conflict(current: nil), .rejected(code: "INVALID_OP", message: "bad \"op\""), .recordNotFound,
        ]
        for outcome in outcomes {
            var written: [UInt8] = []
            outcome.writeResult(opID: "op-1", collection: "c\"1", recordID: "r/é", into: &written)
            #expect(String(decoding: written, as: UTF8.self)
                        == outcome.resultJSON(opID: "op-1", collection: "c\"1", recordID: "r/é").encoded, "\(outcome)")
        }
    }
}
