import Testing
@testable import SyncLayer

@Suite struct QueryTests {
    /// Ten documents covering every kind of value.
    static func seeded() async throws -> Fixture {
        let f = try await Fixture()
        try await f.todos.saveAll([
            ["id": "a", "text": "Buy milk", "done": false, "prio": 3, "tags": ["home", "shop"], "meta": ["owner": "ann", "rank": 1.5]],
            ["id": "b", "text": "Call mum", "done": true, "prio": 1, "tags": ["family"], "meta": ["owner": "bob", "rank": 2]],
            ["id": "c", "text": "buy bread", "done": false, "prio": 2, "tags": [], "meta": ["owner": "ann"]],
            ["id": "d", "text": "Pay rent", "done": false, "prio": 5, "tags": ["home", ["nested": true]], "due": nil],
            ["id": "e", "text": "Walk", "done": true, "prio": 2.0, "tags": ["health"]],
            ["id": "f", "text": "1", "done": "false", "prio": "3"],
            ["id": "g", "text": "Milk again", "done": 1, "prio": nil, "meta": ["owner": nil]],
        ])
        try await f.sync.collection("notes").save(["text": "Buy milk", "done": false], id: "note")
        return f
    }

    func ids(_ query: Query<Document>) async throws -> [String] { try await query.get().map(\.id) }

    @Test func equalityIsTyped() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("done", isEqualTo: false)) == ["a", "c", "d"])
        #expect(try await ids(f.todos.where("done", isEqualTo: true)) == ["b", "e"])
        #expect(try await ids(f.todos.where("done", isEqualTo: "false")) == ["f"])
        #expect(try await ids(f.todos.where("done", isEqualTo: 1)) == ["g"])
        #expect(try await ids(f.todos.where("prio", isEqualTo: 2)) == ["c", "e"])  // 2 == 2.0
        #expect(try await ids(f.todos.where("prio", isEqualTo: "3")) == ["f"])
        #expect(try await ids(f.todos.where("tags", isEqualTo: ["family"])) == ["b"])
        #expect(try await ids(f.todos.where("meta", isEqualTo: ["owner": "bob", "rank": 2])) == ["b"])
        #expect(try await ids(f.todos.where("prio", isEqualTo: nil)) == ["g"])
        // Text that reads like an array is not the array, and 0/1 are not booleans.
        #expect(try await ids(f.todos.where("tags", isEqualTo: #"["family"]"#)).isEmpty)
        #expect(try await ids(f.todos.where("done", isEqualTo: 0)).isEmpty)
    }

    @Test func rangesKeepKindsApartAtTheEdges() async throws {
        let f = try await Self.seeded()
        // Booleans come out of SQLite as 0 and 1: a numeric range over them must still skip them.
        #expect(try await ids(f.todos.where("done", isGreaterThanOrEqualTo: 0)) == ["g"])
        #expect(try await ids(f.todos.where("done", isLessThan: 2)) == ["g"])
        // Numbers sort before all text, arrays and objects come out as text: neither is a string.
        #expect(try await ids(f.todos.where("prio", isLessThan: "9")) == ["f"])
        #expect(try await ids(f.todos.where("tags", isLessThan: "z")).isEmpty)
        #expect(try await ids(f.todos.where("meta", isGreaterThanOrEqualTo: "")).isEmpty)
    }

    @Test func notEqualIncludesMissingFields() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("done", isNotEqualTo: false)) == ["b", "e", "f", "g"])
        #expect(try await ids(f.todos.where("meta.owner", isNotEqualTo: "ann")) == ["b", "d", "e", "f", "g"])
    }

    @Test func orderingOperatorsCompareWithinOneKind() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("prio", isGreaterThan: 2)) == ["a", "d"])
        #expect(try await ids(f.todos.where("prio", isGreaterThanOrEqualTo: 2)) == ["a", "c", "d", "e"])
        #expect(try await ids(f.todos.where("prio", isLessThan: 2)) == ["b"])
        #expect(try await ids(f.todos.where("prio", isLessThanOrEqualTo: 2.5)) == ["b", "c", "e"])
        #expect(try await ids(f.todos.where("text", isGreaterThan: "P")) == ["c", "d", "e"])  // byte order: "b" > "P"
        #expect(try await ids(f.todos.where("done", isGreaterThan: false)) == ["b", "e"])
        await #expect { try await f.todos.where("tags", isGreaterThan: ["a"]).get() } throws: {
            ($0 as? SyncLayerError)?.code == .invalidQuery
        }
    }

    @Test func stringOperators() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("text", startsWith: "Buy")) == ["a"])
        #expect(try await ids(f.todos.where("text", endsWith: "ilk")) == ["a"])
        #expect(try await ids(f.todos.where("text", contains: "ilk")) == ["a", "g"])
        #expect(try await ids(f.todos.where("text", contains: "")) == ["a", "b", "c", "d", "e", "f", "g"])
        #expect(try await ids(f.todos.where("prio", startsWith: "3")) == ["f"])  // numbers are not strings
        #expect(try await ids(f.todos.where("text", startsWith: "%")) == [])     // no LIKE wildcards
        #expect(try await ids(f.todos.where("text", endsWith: "much longer than any text here")) == [])
    }

    @Test func arrayOperators() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("tags", arrayContains: "home")) == ["a", "d"])
        #expect(try await ids(f.todos.where("tags", arrayContains: ["nested": true])) == ["d"])
        #expect(try await ids(f.todos.where("tags", arrayContainsAny: ["family", "health"])) == ["b", "e"])
        #expect(try await ids(f.todos.where("tags", arrayContainsAny: [])) == [])
        #expect(try await ids(f.todos.where("meta", arrayContains: "ann")) == [])  // an object is not an array
        #expect(try await ids(f.todos.where("text", arrayContains: "Walk")) == [])  // nor is a string
    }

    @Test func membershipOperators() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("prio", whereIn: [1, 5, "3"])) == ["b", "d", "f"])
        #expect(try await ids(f.todos.where("prio", whereNotIn: [1, 2, 3])) == ["d", "f", "g"])
        #expect(try await ids(f.todos.where("prio", whereIn: [])) == [])
        #expect(try await ids(f.todos.where("prio", whereNotIn: [])).count == 7)
        #expect(try await ids(f.todos.where("id", whereIn: ["a", "g", "zz"])) == ["a", "g"])
    }

    @Test func nullOperatorsTreatMissingAsNull() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("due", isNull: true)) == ["a", "b", "c", "d", "e", "f", "g"])
        #expect(try await ids(f.todos.where("meta.owner", isNull: true)) == ["d", "e", "f", "g"])
        #expect(try await ids(f.todos.where("meta.owner", isNull: false)) == ["a", "b", "c"])
        #expect(try await ids(f.todos.where("meta.rank", .isNotNull)) == ["a", "b"])
    }

    @Test func dotPathsReachNestedFieldsAndIdMeansTheDocumentId() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("meta.owner", isEqualTo: "ann")) == ["a", "c"])
        #expect(try await ids(f.todos.where("meta.rank", isGreaterThan: 1)) == ["a", "b"])
        #expect(try await ids(f.todos.where("id", isEqualTo: "c")) == ["c"])
        #expect(try await ids(f.todos.where("id", isGreaterThan: "e")) == ["f", "g"])
    }

    @Test func severalWheresAreAnded() async throws {
        let f = try await Self.seeded()
        let query = f.todos.where("done", isEqualTo: false).where("tags", arrayContains: "home").where("prio", isGreaterThan: 3)
        #expect(try await ids(query) == ["d"])
    }

    @Test func multiKeySortWithNullsFirstAscendingAndLastDescending() async throws {
        let f = try await Self.seeded()
        // done: false/true sort as 0/1 with numbers; strings after numbers; g's 1 equals true.
        let byDoneThenText = try await ids(f.todos.where("done", whereIn: [true, false]).orderBy("done").orderBy("text", descending: true))
        #expect(byDoneThenText == ["c", "d", "a", "e", "b"])  // byte order: "buy…" > "Pay…" > "Buy…"
        #expect(try await ids(f.todos.orderBy("meta.owner")) == ["d", "e", "f", "g", "a", "c", "b"])
        #expect(try await ids(f.todos.orderBy("meta.owner", descending: true)) == ["b", "a", "c", "d", "e", "f", "g"])
        // Ties keep insertion order.
        #expect(try await ids(f.todos.where("prio", isEqualTo: 2).orderBy("prio")) == ["c", "e"])
    }

    @Test func limitOffsetFirstAndCount() async throws {
        let f = try await Self.seeded()
        let all = f.todos.orderBy("id")
        #expect(try await ids(all.limit(2)) == ["a", "b"])
        #expect(try await ids(all.offset(5)) == ["f", "g"])
        #expect(try await ids(all.limit(2).offset(3)) == ["d", "e"])
        #expect(try await ids(all.limit(0)) == [])
        #expect(try await all.first()?.id == "a")
        // first() narrows the query's own limit, never widens it.
        #expect(try await all.limit(0).first() == nil)
        #expect(try await all.limit(5).offset(2).first()?.id == "c")
        #expect(try await f.todos.where("done", isEqualTo: true).count() == 2)
        #expect(try await all.offset(5).count() == 2)
        #expect(try await all.limit(3).count() == 3)
        // Queries are values: first() did not change `all`.
        #expect(try await all.count() == 7)
        await #expect { try await all.limit(-1).get() } throws: { ($0 as? SyncLayerError)?.code == .invalidQuery }
        await #expect { try await all.offset(-1).count() } throws: { ($0 as? SyncLayerError)?.code == .invalidQuery }
    }

    @Test func nonFiniteNumbersAreRefusedNotMatchedAsNull() async throws {
        let f = try await Self.seeded()
        // Bound as is, NaN would be NULL: `isEqualTo: .nan` would match "due": null and missing fields.
        let queries: [Query<Document>] = [
            f.todos.where("due", isEqualTo: .double(.nan)),
            f.todos.where("due", isNotEqualTo: .double(.nan)),
            f.todos.where("prio", isGreaterThan: .double(.infinity)),
            f.todos.where("prio", isLessThan: .double(-.infinity)),
            f.todos.where("prio", whereIn: [1, .double(.nan)]),
            f.todos.where("tags", arrayContains: .double(.infinity)),
            f.todos.where("meta", isEqualTo: ["rank": .double(.nan)]),
        ]
        for query in queries {
            await #expect { try await query.get() } throws: { ($0 as? SyncLayerError)?.code == .invalidQuery }
            await #expect { try await query.count() } throws: { ($0 as? SyncLayerError)?.code == .invalidQuery }
        }
        #expect(try await ids(f.todos.where("prio", isLessThan: .double(.greatestFiniteMagnitude))) == ["a", "b", "c", "d", "e"])
    }

    @Test func queriesNeverReadAnotherCollection() async throws {
        let f = try await Self.seeded()
        #expect(try await ids(f.todos.where("text", isEqualTo: "Buy milk")) == ["a"])
        #expect(try await f.sync.collection("notes").getAll().map(\.id) == ["note"])
    }

    @Test func theQueryPlanUsesAnIndexWhenOneExists() async throws {
        let f = try await Self.seeded()
        let query = f.todos.where("done", isEqualTo: false).orderBy("prio").limit(50)
        let before = try await query.explain().joined(separator: "\n")
        #expect(!before.contains("sl_idx_"))
        try await f.todos.createIndex(on: "done")
        try await f.todos.createIndex(on: "done")  // idempotent
        let after = try await query.explain().joined(separator: "\n")
        #expect(after.contains("USING INDEX sl_idx_"), "\(after)")
        #expect(try await ids(query) == ["c", "a", "d"])

        try await f.todos.createIndex(on: "meta.owner")
        let nested = try await f.todos.where("meta.owner", isEqualTo: "ann").explain().joined(separator: "\n")
        #expect(nested.contains("USING INDEX sl_idx_"), "\(nested)")
        let sorted = try await f.todos.orderBy("meta.owner").limit(2).explain().joined(separator: "\n")
        #expect(sorted.contains("USING INDEX sl_idx_") && !sorted.contains("TEMP B-TREE"), "\(sorted)")
    }

    @Test func typedResultsDecodeFromTheSameQueries() async throws {
        struct Todo: Codable, Identifiable, Sendable, Equatable { var id: String; var text: String; var prio: Double? }
        let f = try await Self.seeded()
        let typed = f.sync.collection("todos", as: Todo.self)
        let found = try await typed.where("meta.owner", isEqualTo: "ann").orderBy("prio").get()
        #expect(found == [Todo(id: "c", text: "buy bread", prio: 2), Todo(id: "a", text: "Buy milk", prio: 3)])
    }

    @Test func longListsWorkAndKeepTheStatementCacheBounded() async throws {
        let f = try await Self.seeded()
        let many: [JSONValue] = (0..<1_000).map { .int($0 + 100) } + [5]
        #expect(try await ids(f.todos.where("prio", whereIn: many)) == ["d"])
        #expect(try await ids(f.todos.where("prio", whereNotIn: many)).count == 6)
        #expect(try await ids(f.todos.where("tags", arrayContainsAny: (0..<1_000).map { .string("t\($0)") } + ["family"])) == ["b"])
        for n in 1...100 { _ = try await f.todos.where("prio", whereIn: (0..<n).map { .int($0) }).count() }
        for n in 1...100 { _ = try await f.todos.where("text", isEqualTo: .string("x")).limit(n).get() }
        let cached = try f.store.read { db in db.statementCountForTesting }
        #expect(cached < 80, "\(cached) statements cached")
    }

    @Test func integersAndEqualDoublesMatchInsideArraysAndObjects() async throws {
        struct Scores: Codable, Identifiable, Sendable { var id: String; var scores: [Double] }
        let f = try await Fixture()
        try await f.todos.save(["v": [1.0, 2.5], "o": ["k": 3.0]], id: "a")
        try await f.sync.collection("todos", as: Scores.self).save(Scores(id: "b", scores: [1.0, 2.5]))
        #expect(try await ids(f.todos.where("v", isEqualTo: [1, 2.5])) == ["a"])
        #expect(try await ids(f.todos.where("scores", isEqualTo: [1.0, 2.5])) == ["b"])
        #expect(try await ids(f.todos.where("o", isEqualTo: ["k": 3])) == ["a"])
        #expect(try await f.todos.get("a")?["v"] == [1, 2.5])
        #expect(JSONValue.int(1) == .double(1.0) && Set<JSONValue>([.int(1), .double(1.0)]).count == 1)
    }
}
