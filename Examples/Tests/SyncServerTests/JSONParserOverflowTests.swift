import Testing
@testable import SyncServer

/// The parser past its depth limit when told to substitute (how request bodies are read).
@Suite struct JSONParserOverflowTests {
    private func parse(_ text: String, maxDepth: Int = 2) throws(JSONParseError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), maxDepth: maxDepth, beyondMaxDepth: .substituteEmptyArray)
    }

    @Test func aContainerPastTheLimitBecomesAnEmptyArrayAndTheRestIsKept() throws {
        let value = try parse(#"{"a":[[1,{"b":[2]}], 3],"c":{"d":{}},"e":"f"}"#)
        #expect(value == ["a": [[], 3], "c": ["d": []], "e": "f"])
        #expect(value.depth == 3)  // still deeper than the limit, for the depth check that follows
    }

    @Test func anyDepthIsSafe() throws {
        let depth = 200_000
        let text = String(repeating: #"{"k":["#, count: depth) + "1" + String(repeating: "]}", count: depth)
        #expect(try parse(text, maxDepth: 35).depth == 36)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8), maxDepth: 35) }
    }

    @Test(arguments: [
        "[1,]", #"{"a":}"#, #"{"a" 1}"#, #"{"a":1,}"#, "{1:2}", "[1 2]", "[01]", "[1.]", "[tru]", "[nul]", #"["\ud800"]"#,
        #"["\x"]"#, "[\"a\u{01}\"]", "[[]", "[]]", "[}", #"{"a":1]"#, "[", "{", #"{"a""#, "[NaN]",
    ])
    func malformedInputPastTheLimitIsStillRefused(_ malformed: String) {
        #expect(throws: JSONParseError.self) { try parse(#"{"x":[["# + malformed + "]]}") }
        #expect(throws: JSONParseError.self) { try parse("[[[" + malformed + "]]]") }
    }
}
