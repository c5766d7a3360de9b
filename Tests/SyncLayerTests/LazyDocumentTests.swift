import Foundation
import Testing
@testable import SyncLayer

/// Documents read from the store keep their JSON text, checked when read and parsed on first use.
@Suite struct LazyDocumentTests {
    /// Validation must accept exactly what parsing accepts: a document that passed the check
    /// and then failed to parse would come back with no fields.
    @Test func validationAcceptsExactlyWhatParsingAccepts() {
        let corpus = [
            #"{"title":"item 1","done":false,"prio":500}"#,
            #"{"a":[1,2.5,-3e2,{"b":null}],"c":"é\u00e9\ud83d\ude00\n","d":true,"e":{}}"#,
            #"{ "x" : [ ] , "y" : -0 , "z" : 1E+2 , "big" : 123456789012345678901234567890 }"#,
            #"{"nested":{"deeper":{"deepest":["a","b",["c"]]}}}"#,
            #"{"esc":"\"\\\/\b\f\n\r\t","neg":-9223372036854775808,"over":9223372036854775808}"#,
        ]
        let alphabet = Array(#"{}[]:,"\ 0123456789.-+eEtrufalsn/bu\#u{e9}"#)
        var seed: UInt64 = 42
        func next(_ bound: Int) -> Int {
            // A fixed sequence (splitmix64), so a failure is reproducible.
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        var accepted = 0, rejected = 0
        for round in 0..<20_000 {
            var text = Array(corpus[round % corpus.count])
            for _ in 0...next(3) {
                let position = next(text.count + 1)
                switch next(4) {
                case 0 where position < text.count: text.remove(at: position)
                case 1: text.insert(alphabet[next(alphabet.count)], at: position)
                case 2 where position < text.count: text[position] = alphabet[next(alphabet.count)]
                default: text = Array(text.prefix(position))
                }
            }
            let candidate = String(text)
            let parses = (try? JSONText.parseObject(candidate)) != nil
            let validates = (try? JSONText.validateObject(candidate)) != nil
            #expect(parses == validates, "\(candidate)")
            if parses { accepted += 1 } else { rejected += 1 }
            if parses != validates { return }
        }
        // Both sides of the comparison were exercised.
        #expect(accepted > 500 && rejected > 500, "accepted \(accepted), rejected \(rejected)")
    }

    @Test(arguments: ["[]", "1", "\"a\"", "null", "{\"a\":1} x", "{\"a\":1e400}"])
    func validationRejectsWhatIsNotAStorableObject(_ text: String) {
        #expect(throws: JSONText.ParseError.self) { try JSONText.validateObject(text) }
    }

    @Test func aStoredDocumentEqualsTheSameDocumentBuiltFromValues() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "Buy milk", "meta": ["n": 1.5]])
        let stored = try #require(try await f.todos.get(id))
        let again = try #require(try await f.todos.get(id))
        let built = Document(id: id, data: ["text": "Buy milk", "meta": ["n": 1.5]], syncState: stored.syncState,
                             version: stored.version, serverVersion: stored.serverVersion, updatedAt: stored.updatedAt)
        #expect(stored == again)
        #expect(stored == built && built == stored)
        #expect(Set([stored, again, built]).count == 1)
        var changed = stored
        changed.data["text"] = "Buy oat milk"
        #expect(changed != stored)
        #expect(changed["text"] == "Buy oat milk" && stored["text"] == "Buy milk")
        #expect(changed.data["meta"] == ["n": 1.5])
    }

    @Test func concurrentFirstReadsOfOneDocumentAgree() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "shared", "n": 7])
        let doc = try #require(try await f.todos.get(id))
        let results = await withTaskGroup(of: [String: JSONValue].self) { group in
            for _ in 0..<16 { group.addTask { doc.data } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 == ["text": "shared", "n": 7] })
    }

    @Test func invalidStoredJSONIsATypedErrorWhenRead() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "fine"])
        try f.store.read { db in try db.run("UPDATE sl_documents SET data = '{\"text\":' WHERE id = ?", [.text(id)]) }
        await #expect(throws: StoreError.self) { try await f.todos.get(id) }
        await #expect(throws: StoreError.self) { try await f.todos.query.get() }
    }
}

@Suite struct GeneratedIDTests {
    @Test func idsAreVersion7UUIDsThatSortByTime() {
        let earlier = Identifiers.newID(now: Date(timeIntervalSince1970: 1_800_000_000))
        let later = Identifiers.newID(now: Date(timeIntervalSince1970: 1_800_000_000.002))
        for id in [earlier, later] {
            #expect(UUID(uuidString: id) != nil && id == id.lowercased() && id.count == 36)
            let bytes = Array(id.replacingOccurrences(of: "-", with: "").utf8)
            #expect(bytes[12] == UInt8(ascii: "7"))                      // version
            #expect("89ab".utf8.contains(bytes[16]))                      // variant 10
        }
        #expect(earlier < later)
        #expect(earlier.hasPrefix("01a3185c-5000-7"))  // 1 800 000 000 000 ms = 0x01a3185c5000, then the version
    }

    @Test func idsMadeTogetherAreUnique() {
        let ids = (0..<100_000).map { _ in Identifiers.newID() }
        #expect(Set(ids).count == ids.count)
    }
}
