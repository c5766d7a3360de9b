import GRDB
import Testing
@testable import SyncServer

/// The batch write path of `SQLiteSyncStore`, below HTTP: dedup, per-op answers, gap-free seqs, counters.
@Suite struct SQLiteSyncStoreTests {
    /// A store whose clock stands still, so `updatedAt` only moves by the store's own increments.
    static func frozenStore(path: String? = nil, at milliseconds: Int64 = 1_000) throws -> SQLiteSyncStore {
        try SQLiteSyncStore(path: path, clock: { milliseconds })
    }

    static func insert(_ opID: String, _ recordID: String, _ payload: [String: JSONValue] = ["n": 1], client: String = "c1")
        -> WriteOperation
    {
        WriteOperation(
            opID: opID, clientID: client, collection: "todos", recordID: recordID, kind: .insert, payload: payload,
            baseVersion: nil, hlc: nil, rules: .v2)
    }

    static func applied(_ outcome: WriteOutcome) -> AppliedWrite? {
        if case .applied(let write) = outcome { write } else { nil }
    }

    @Test func aDuplicateInsideOneBatchAnswersExactlyLikeTheFirst() async throws {
        let store = try Self.frozenStore()
        let insert = Self.insert("o1", "r1")
        let outcomes = try await store.write([insert, insert, Self.insert("o2", "r2"), insert], limits: DocumentLimits())
        let first = try #require(Self.applied(outcomes[0]))
        #expect(outcomes[1] == .duplicate(first))
        #expect(outcomes[3] == .duplicate(first))
        #expect(try await store.record(in: "todos", id: "r1")?.version == 1)
        #expect(try await store.latestSeq() == 2)
    }

    @Test func seqsOfABatchAreConsecutiveWhateverTheOtherOpsBecome() async throws {
        let store = try Self.frozenStore()
        let tooLarge: [String: JSONValue] = ["t": .string(String(repeating: "x", count: 100))]
        let patchOfNothing = WriteOperation(
            opID: "o2", clientID: "c1", collection: "todos", recordID: "missing", kind: .patch, payload: ["n": 2],
            baseVersion: nil, hlc: nil, rules: .v2)
        let deleteOfNothing = WriteOperation(
            opID: "o5", clientID: "c1", collection: "notes", recordID: "n1", kind: .delete, payload: nil,
            baseVersion: nil, hlc: nil, rules: .v2)
        let outcomes = try await store.write(
            [Self.insert("o1", "r1"), patchOfNothing, Self.insert("o3", "r3", tooLarge), Self.insert("o1", "r1"),
             Self.insert("o4", "r4"), deleteOfNothing],
            limits: DocumentLimits(maxBytes: 64, maxDepth: 8))
        #expect(outcomes[1] == .conflict(current: nil))
        #expect(outcomes[2] == .rejected(code: "DOCUMENT_TOO_LARGE", message: "document is 108 bytes; the limit is 64"))
        #expect(outcomes.compactMap(Self.applied).map(\.seq) == [1, 2, 3])
        #expect(outcomes.compactMap(Self.applied).map(\.updatedAt) == [1_000, 1_001, 1_002])
        #expect(try await store.latestSeq() == 3)

        let next = try await store.write([Self.insert("o6", "r6")], limits: DocumentLimits())
        #expect(Self.applied(next[0])?.seq == 4)
        #expect(Self.applied(next[0])?.updatedAt == 1_003)
        let todos = try await store.changes(in: "todos", after: 0, limit: 100).records
        #expect(todos.map(\.recordID) == ["r1", "r4", "r6"])
        #expect(todos.map(\.seq) == [1, 2, 4])
        #expect(try await store.changes(in: "notes", after: 0, limit: 100).records.map(\.seq) == [3])
    }

    @Test func resendingAMixedBatchAppliesNothingTwice() async throws {
        let store = try Self.frozenStore()
        _ = try await store.write([Self.insert("o0", "taken", client: "other")], limits: DocumentLimits())
        let batch = [
            Self.insert("o1", "r1"),
            Self.insert("o2", "r2", ["deep": ["a": ["b": 1]]]),  // too deep for the limits below
            Self.insert("o3", "taken"),  // another client's record: a conflict
            Self.insert("o4", "r4"),
        ]
        let limits = DocumentLimits(maxBytes: 1 << 20, maxDepth: 2)
        let first = try await store.write(batch, limits: limits)
        #expect(first[1] == .rejected(code: "DOCUMENT_TOO_DEEP", message: "document nests deeper than the limit of 2 levels"))
        guard case .conflict(let current?) = first[2] else {
            Issue.record("expected a conflict, got \(first[2])")
            return
        }
        #expect(current.clientID == "other")
        let second = try await store.write(batch, limits: limits)
        #expect(second[0] == .duplicate(try #require(Self.applied(first[0]))))
        #expect(second[1] == first[1])
        #expect(second[2] == first[2])
        #expect(second[3] == .duplicate(try #require(Self.applied(first[3]))))
        #expect(try await store.latestSeq() == 3)
        #expect(try await store.record(in: "todos", id: "r4")?.version == 1)
    }

    @Test func anOpIdReusedInsideOneBatchIsRejectedAndTheFirstStays() async throws {
        let store = try Self.frozenStore()
        let outcomes = try await store.write([Self.insert("o1", "r1", ["n": 1]), Self.insert("o1", "r1", ["n": 2])], limits: DocumentLimits())
        #expect(Self.applied(outcomes[0]) != nil)
        guard case .rejected(let code, _) = outcomes[1] else {
            Issue.record("expected a rejection, got \(outcomes[1])")
            return
        }
        #expect(code == "OP_ID_REUSED")
        #expect(try await store.record(in: "todos", id: "r1")?.data == ["n": 1])
    }

    @Test func v1WritesAreNotDeduplicated() async throws {
        let store = try Self.frozenStore()
        let post = WriteOperation(
            opID: nil, clientID: nil, collection: "todos", recordID: "r1", kind: .update, payload: ["n": 1],
            baseVersion: nil, hlc: nil, rules: .v1)
        let outcomes = try await store.write([post, post], limits: DocumentLimits())
        #expect(outcomes.compactMap(Self.applied).map(\.version) == [1, 2])
        #expect(outcomes.compactMap(Self.applied).map(\.seq) == [1, 2])
    }

    @Test func countersSurviveReopeningTheFile() async throws {
        let path = temporaryDatabasePath()
        do {
            let store = try Self.frozenStore(path: path)
            _ = try await store.write([Self.insert("o1", "r1"), Self.insert("o2", "r2")], limits: DocumentLimits())
        }
        let reopened = try Self.frozenStore(path: path)
        let outcomes = try await reopened.write([Self.insert("o1", "r1"), Self.insert("o3", "r3")], limits: DocumentLimits())
        #expect(outcomes[0] == .duplicate(AppliedWrite(collection: "todos", recordID: "r1", version: 1, seq: 1, updatedAt: 1_000, deleted: false)))
        #expect(Self.applied(outcomes[1])?.seq == 3)
        #expect(Self.applied(outcomes[1])?.updatedAt == 1_002)
    }

    /// The pull answer's `changes`, written from the rows with the stored text spliced in, are byte for byte
    /// the canonical encoding of the decoded records, page by page.
    @Test func encodedChangesEqualTheCanonicalEncodingOfTheRecords() async throws {
        let store = try Self.frozenStore()
        let nested: [String: JSONValue] = [
            "t": "quote \" backslash \\ tab \t é 😀 \u{1}", "n": .array([.int(-3), .double(2.5), .null, .bool(true)]),
            "o": .object(["z": 1, "a": .object(["k": "v"])]),
        ]
        let patch = WriteOperation(opID: "p1", clientID: "c2", collection: "todos", recordID: "r2", kind: .patch,
                                   payload: ["extra": "yes"], baseVersion: nil, hlc: "1700000000000-0001-c2", rules: .v2)
        let delete = WriteOperation(opID: "d1", clientID: "c1", collection: "todos", recordID: "r3", kind: .delete,
                                    payload: nil, baseVersion: nil, hlc: nil, rules: .v2)
        let legacy = WriteOperation(opID: nil, clientID: nil, collection: "todos", recordID: "r4", kind: .insert,
                                    payload: ["v1": true], baseVersion: nil, hlc: nil, rules: .v1)
        _ = try await store.write([Self.insert("o1", "r1", nested), Self.insert("o2", "r2"), Self.insert("o3", "r3"), patch,
                                   delete, legacy, Self.insert("o5", "r5")], limits: DocumentLimits())
        for (after, limit) in [(0, 100), (0, 2), (2, 3), (7, 5), (100, 5)] as [(Int64, Int)] {
            let page = try await store.changes(in: "todos", after: after, limit: limit)
            let encoded = try await store.encodedChanges(in: "todos", after: after, limit: limit)
            #expect(String(decoding: encoded.changes, as: UTF8.self)
                    == String(decoding: JSONValue.array(page.records.map(\.v2JSON)).encodedBytes, as: UTF8.self))
            #expect(encoded.lastSeq == page.records.last?.seq)
            #expect(encoded.hasMore == page.hasMore)
        }
    }

    /// A database written by the first schema (seq indexed twice) opens with its records, their seqs and
    /// the dedup rows intact, and keeps one index on seq.
    @Test func aFirstSchemaDatabaseMigratesWithItsRecords() async throws {
        let path = temporaryDatabasePath()
        let fingerprint = Self.insert("o1", "r1").fingerprint(payloadText: #"{"n":1}"#)
        do {
            let old = try DatabaseQueue(path: path)
            try SQLiteSyncStore.migrator.migrate(old, upTo: "v1")
            try await old.write { db in
                try db.execute(sql: """
                    INSERT INTO records (\(RecordRow.columns)) VALUES
                        ('todos', 'r1', '{"n":1}', 1, 1, 1000, NULL, 'c1', 'o1', 1),
                        ('todos', 'r2', '{"n":2}', 3, 2, 1001, NULL, 'c1', 'o2', 0);
                    INSERT INTO applied_ops (op_id, client_id, fingerprint, collection, record_id, version, seq, updated_at,
                                             deleted, applied_at)
                    VALUES ('o1', 'c1', '\(fingerprint)', 'todos', 'r1', 1, 1, 1000, 0, 1000);
                    UPDATE meta SET value = '2' WHERE key = 'last_seq';
                    UPDATE meta SET value = '1001' WHERE key = 'last_updated_at';
                    """)
            }
        }
        let store = try Self.frozenStore(path: path)
        let page = try await store.changes(in: "todos", after: 0, limit: 10)
        #expect(page.records.map(\.recordID) == ["r1", "r2"])
        #expect(page.records.map(\.seq) == [1, 2])
        #expect(page.records.map(\.version) == [1, 3])
        let indexes = try await store.writer.read { db in
            try Row.fetchAll(db, sql: "PRAGMA index_list(records)").map { (name: $0["name"] as String, unique: $0["unique"] as Bool) }
        }
        #expect(indexes.filter { $0.name.hasPrefix("sqlite_autoindex") && $0.unique }.count == 1)  // the primary key
        #expect(indexes.contains { $0.name == "records_by_seq" && $0.unique })
        #expect(indexes.contains { $0.name == "records_by_time" })
        let outcomes = try await store.write([Self.insert("o1", "r1"), Self.insert("o3", "r3")], limits: DocumentLimits())
        #expect(outcomes[0] == .duplicate(AppliedWrite(collection: "todos", recordID: "r1", version: 1, seq: 1, updatedAt: 1_000, deleted: false)))
        #expect(Self.applied(outcomes[1])?.seq == 3)
    }

    @Test func commitsAreDurableAndCheckpointsWaitForALargeWAL() async throws {
        let store = try Self.frozenStore(path: temporaryDatabasePath())
        let (synchronous, journal, checkpoint) = try await store.writer.write { db in
            (try Int.fetchOne(db, sql: "PRAGMA synchronous"), try String.fetchOne(db, sql: "PRAGMA journal_mode"),
             try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint"))
        }
        #expect(synchronous == 2)  // FULL: an answered write survives a power cut
        #expect(journal == "wal")
        #expect(checkpoint == 10_000)
    }

    /// The fingerprint is written by hand to skip an encode; it must equal the canonical-object digest that
    /// databases already hold.
    @Test(arguments: [
        WriteOperation(opID: "o", clientID: "c1", collection: "todos", recordID: "r1", kind: .insert,
                       payload: ["b": 1, "a": ["z": nil, "y": [1.5, "é\n\"\\"]]], baseVersion: nil, hlc: "1-0-c1", rules: .v2),
        WriteOperation(opID: "o", clientID: nil, collection: "notes", recordID: "with \"quotes\"\u{1}", kind: .delete,
                       payload: nil, baseVersion: 7, hlc: nil, rules: .v1),
        WriteOperation(opID: "o", clientID: "c\\2", collection: "a.b-c", recordID: "日本", kind: .patch,
                       payload: [:], baseVersion: 0, hlc: "", rules: .v2),
    ])
    func fingerprintIsTheDigestOfTheCanonicalObject(_ operation: WriteOperation) {
        let canonical: JSONValue = [
            "clientId": operation.clientID.map(JSONValue.string) ?? .null,
            "collection": .string(operation.collection),
            "recordId": .string(operation.recordID),
            "type": .string(operation.kind.rawValue),
            "payload": operation.payload.map(JSONValue.object) ?? .null,
            "baseVersion": operation.baseVersion.map(JSONValue.int) ?? .null,
            "hlc": operation.hlc.map(JSONValue.string) ?? .null,
        ]
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonical.encoded.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        #expect(operation.fingerprint == String(hash, radix: 16))
    }
}
