import Testing
@testable import SyncServer

@Suite struct JSONParserTests {
    @Test func keepsIntegersAndDoublesApart() throws {
        let value = try JSONParser.parse(Array(#"{"a":1,"b":1.0,"c":-2e3,"d":9223372036854775807}"#.utf8))
        #expect(value["a"] == .int(1))
        #expect(value["b"] == .double(1.0))
        #expect(value["c"] == .double(-2000))
        #expect(value["d"] == .int(Int64.max))
        #expect(value.encoded == #"{"a":1,"b":1.0,"c":-2000.0,"d":9223372036854775807}"#)
    }

    @Test func roundTripsEscapesAndSurrogates() throws {
        let text = #"{"s":"a\"b\\c\n\u00e9\ud83d\ude00\u0001/"}"#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value["s"] == .string("a\"b\\c\né😀\u{01}/"))
        #expect(try JSONParser.parse(Array(value.encoded.utf8)) == value)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":}", "01", "1.", "-", "tru", "\"\\ud800\"", "\"\\udc00x\"", "{\"a\":1}x", "\"a\u{01}\"", "NaN",
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError(reason: .invalidUTF8, offset: 0)) {
            try JSONParser.parse([UInt8(ascii: "\""), 0xC3, 0x28, UInt8(ascii: "\"")])
        }
    }

    @Test func stopsAtTheNestingLimit() throws {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(deep.utf8), maxDepth: 64) }
        #expect(try JSONParser.parse(Array(deep.utf8), maxDepth: 100).depth == 100)
    }
}

@Suite struct TimestampTests {
    @Test func formatsUTCWithMilliseconds() {
        #expect(Timestamp.format(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(milliseconds: 1_763_744_584_123) == "2025-11-21T17:03:04.123Z")
    }

    @Test(arguments: [
        ("2025-11-21T17:03:04.123Z", Int64(1_763_744_584_123)),
        ("2025-11-21T17:03:04.123", 1_763_744_584_123),
        ("2025-11-21T17:03:04Z", 1_763_744_584_000),
        ("2025-11-21T18:03:04.123+01:00", 1_763_744_584_123),
        ("2025-11-21T17:03:04.123456Z", 1_763_744_584_123),
        ("1969-12-31T23:59:59.999Z", -1),
    ])
    func parsesTheForms(_ text: String, _ expected: Int64) {
        #expect(Timestamp.parse(text) == expected)
    }

    @Test(arguments: ["2025-13-01T00:00:00Z", "2025-11-21", "yesterday", "2025-11-21T17:03:04.Z", "2025-11-21T17:03:04+1"])
    func refusesMalformedTimestamps(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }
}
