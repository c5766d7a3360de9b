import Foundation
import Testing
@testable import SyncLayer

/// Names an attacker (or a careless caller) might pass through the API.
@Suite struct HostileInputTests {
    static let corpus: [String] = [
        "'", "\"", "''", "\"\"", "a'b", "a\"b", "`", "]", "[", "\\", "%", "_", "*",
        "x; DROP TABLE sl_documents; --", "'); DROP TABLE sl_outbox; --", "\" OR 1=1 --", "' OR '1'='1",
        "sqlite_master", "sl_documents", "sl_outbox", "sl_meta", "main.sl_documents", "rowid", "data", "collection",
        "nul\u{0}byte", "line\nbreak", String(repeating: "x", count: 10_000), "$", "$.a", "a.$", "a..b", ".a", "a.",
        "a[0]", "a.*", "$[0]", "#", "@", "😀", "ＤＲＯＰ", "\u{202E}rtl", "../../etc/passwd",
    ]

    @Test func hostileNamesChangeNoSchemaAndReadNoOtherCollection() async throws {
        let f = try await Fixture()
        try await f.sync.collection("notes").save(["secret": "other collection"], id: "n1")
        try await f.todos.save(["text": "mine", "nested": ["k": 1]], id: "t1")
        let schemaBefore = try f.schema()

        for name in Self.corpus {
            // As a collection name: a typed error, whatever the call.
            let collection = f.sync.collection(name)
            await #expect { try await collection.save(["a": 1]) } throws: { Self.isTyped($0) }
            await #expect { try await collection.getAll() } throws: { Self.isTyped($0) }
            await #expect { try await collection.where("a", isEqualTo: 1).count() } throws: { Self.isTyped($0) }
            await #expect { try await collection.createIndex(on: "a") } throws: { Self.isTyped($0) }

            // As a document id: stored as data (when a valid id) and read back as itself.
            do {
                try await f.todos.save(["text": .string(name)], id: name)
                #expect(try await f.todos.get(name)?["text"] == .string(name))
                try await f.todos.update(name, ["text": "updated"])
                #expect(try await f.todos.delete(name))
            } catch let error as SyncLayerError {
                #expect(error.code == .invalidDocumentID, "\(Identifiers.describe(name))")
            }

            // As a field name in data and in queries: data, never SQL.
            try await f.todos.save([name: "value", "text": "field"], id: "field-doc")
            do {
                let matches = try await f.todos.where(name, isEqualTo: "value").get()
                // A dotted name is a path: it does not reach a top-level key with dots in it.
                #expect(matches.map(\.id) == (name.contains(".") ? [] : ["field-doc"]), "\(Identifiers.describe(name))")
                _ = try await f.todos.where(name, isGreaterThan: 1).orderBy(name, descending: true).get()
                _ = try await f.todos.where(name, arrayContains: "x").where(name, whereIn: ["a", 1]).count()
                try await f.todos.createIndex(on: name)
            } catch let error as SyncLayerError {
                #expect(error.code == .invalidFieldPath, "\(Identifiers.describe(name))")
            }
            try await f.todos.delete("field-doc")
            // Nothing from another collection ever comes back.
            let everything = try await f.todos.getAll()
            #expect(!everything.contains { $0["secret"] != nil })
        }

        // The only new objects are field indexes created through createIndex(on:).
        let added = try f.schema().filter { !schemaBefore.contains($0) }
        #expect(try f.schema().filter { schemaBefore.contains($0) } == schemaBefore)
        for object in added {
            #expect(object.range(of: #"^index sl_idx_[0-9a-f]+ CREATE INDEX sl_idx_[0-9a-f]+ ON sl_documents \(collection, json_extract\(data, '\$[^']*(''[^']*)*'\)\) WHERE deleted = 0$"#,
                                 options: .regularExpression) != nil, "\(object)")
        }
        #expect(try await f.sync.collection("notes").get("n1")?["secret"] == "other collection")
        #expect(try await f.todos.get("t1")?["text"] == "mine")
        let integrity = try f.store.read { db in try db.scalarText("PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }

    @Test func quotesInFieldNamesAreRefusedBeforeReachingSQL() async throws {
        let f = try await Fixture()
        for name in ["a\"b", "a\\b", "x')--", "a\u{0}b"] where name.contains("\"") || name.contains("\\") || name.contains("\u{0}") {
            await #expect { try await f.todos.where(name, isEqualTo: 1).get() } throws: {
                ($0 as? SyncLayerError)?.code == .invalidFieldPath
            }
        }
        // A single quote is fine: it is escaped inside the SQL literal.
        try await f.todos.save(["x')--": 1], id: "q")
        #expect(try await f.todos.where("x')--", isEqualTo: 1).get().map(\.id) == ["q"])
    }

    static func isTyped(_ error: any Error) -> Bool {
        guard let error = error as? SyncLayerError else { return false }
        return [.invalidCollectionName, .unknownCollection].contains(error.code)
    }
}
