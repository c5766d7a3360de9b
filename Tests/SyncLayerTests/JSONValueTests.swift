import Foundation
import Testing
@testable import SyncLayer

@Suite struct JSONValueTests {
    @Test func literalsBuildEveryKind() {
        let value: JSONValue = ["s": "x", "i": 1, "d": 1.5, "b": true, "n": nil, "a": [1, "two"], "o": ["k": false]]
        #expect(value["s"] == .string("x"))
        #expect(value["i"] == .int(1))
        #expect(value["d"] == .double(1.5))
        #expect(value["b"] == .bool(true))
        #expect(value["n"] == .null)
        #expect(value["a"] == .array([.int(1), .string("two")]))
        #expect(value.value(atPath: "o.k") == .bool(false))
        #expect(value.value(atPath: "o.missing") == nil)
    }

    @Test func encodingIsCanonical() {
        let value: JSONValue = ["b": 1, "a": [true, nil, 2.5], "c": ["z": "q", "y": 0]]
        #expect(JSONText.encode(value) == #"{"a":[true,null,2.5],"b":1,"c":{"y":0,"z":"q"}}"#)
    }

    @Test(arguments: [
        #"{"a":1}"#, #"[1,2.5,-3,1e+20,0.001]"#, #""tab\tquote\"slash\\""#, #"{"nested":{"x":[[],{}]}}"#,
        #""\u0001\u001f""#, #""emoji 😀 é""#, "true", "false", "null", "-0.5",
    ])
    func roundTrips(_ text: String) throws {
        let value = try JSONText.parse(text)
        #expect(try JSONText.parse(JSONText.encode(value)) == value)
    }

    @Test func keepsIntegersAndDoublesApart() throws {
        #expect(try JSONText.parse("1") == .int(1))
        #expect(try JSONText.parse("1.0") == .double(1.0))
        #expect(try JSONText.parse("1e2") == .double(100))
        #expect(try JSONText.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSONText.parse("9223372036854775808") == .double(9223372036854775808))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try JSONText.parse(#""\ud83d\ude00 \u00e9 \/ \b\f\n\r""#) == .string("😀 é / \u{8}\u{c}\n\r"))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "{'a':1}", "01", "1.", "-", ".5", "1e", "tru", "nul", "[1] x",
        "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"", "\"\\udc00\"", "\"raw\ncontrol\"",
        "NaN", "Infinity", "1e400", "-1e400", "<html>502 Bad Gateway</html>",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONText.ParseError.self) { try JSONText.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]  // "\xC3(" — a broken two-byte sequence
        #expect(throws: JSONText.ParseError.self) { try JSONText.parse(Data(bytes)) }
    }

    @Test func rejectsNestingDeeperThanTheLimit() throws {
        let ok = String(repeating: "[", count: JSONText.maximumDepth) + String(repeating: "]", count: JSONText.maximumDepth)
        #expect(throws: Never.self) { try JSONText.parse(ok) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONText.ParseError.self) { try JSONText.parse(deep) }
    }

    @Test func findsNonFiniteNumbers() {
        #expect(JSONText.firstNonFinitePath(in: ["a": ["b": .double(.nan)]]) == "a.b")
        #expect(JSONText.firstNonFinitePath(in: ["list": [1, .double(.infinity)]]) == "list[1]")
        #expect(JSONText.firstNonFinitePath(in: ["a": 1.5]) == nil)
    }

    @Test func codableMatchesTheTextForm() throws {
        let value: JSONValue = ["text": "hi", "n": 3, "ok": false, "tags": ["a"]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
        #expect(try JSONText.parse(data) == value)
    }

    @Test func publicParsingAndCanonicalText() throws {
        let value = try JSONValue(parsing: #"{"b": [1, 2.0, "x"], "a": null}"#)
        #expect(value.jsonText == #"{"a":null,"b":[1,2,"x"]}"#)
        #expect(try JSONValue(parsing: Data(value.jsonText.utf8)) == value)
        #expect(throws: SyncLayerError.self) { try JSONValue(parsing: "{oops}") }
    }
}
