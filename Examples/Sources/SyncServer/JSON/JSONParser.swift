/// Why a body could not be read as JSON.
public struct JSONParseError: Error, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        case invalidUTF8
        case syntax
        case tooDeep
    }

    public var reason: Reason
    public var offset: Int
}

/// A strict RFC 8259 parser with a nesting limit, so hostile input can neither overflow the stack nor
/// sneak invalid UTF-8 or lone surrogates into stored documents.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private let maxDepth: Int
    private let overflow: DepthOverflow

    /// Parses one JSON value filling the whole input.
    ///
    /// - Parameters:
    ///   - bytes: UTF-8 text.
    ///   - maxDepth: the deepest nesting accepted; deeper input fails with `.tooDeep`.
    /// - Throws: `JSONParseError`.
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        try parse(bytes, maxDepth: maxDepth, beyondMaxDepth: .fail)
    }

    /// What the parser does with an object or array nested deeper than its `maxDepth`.
    enum DepthOverflow {
        /// Fail with `.tooDeep`.
        case fail
        /// Check its syntax without building it (and without recursion, so any depth is safe) and put an
        /// empty array in its place. The value holding it stays deeper than `maxDepth`, so a depth check
        /// made later still refuses it; only use this when every value that matters goes through such a
        /// check, as documents do.
        case substituteEmptyArray
    }

    /// `parse(_:maxDepth:)`, choosing what happens past `maxDepth`.
    static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int, beyondMaxDepth: DepthOverflow) throws(JSONParseError) -> JSONValue {
        let array = Array(bytes)
        guard String(validating: array, as: UTF8.self) != nil else {
            throw JSONParseError(reason: .invalidUTF8, offset: 0)
        }
        var parser = JSONParser(bytes: array, maxDepth: maxDepth, overflow: beyondMaxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.syntaxError() }
        return value
    }

    private init(bytes: [UInt8], maxDepth: Int, overflow: DepthOverflow) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.overflow = overflow
    }

    private func syntaxError() -> JSONParseError { JSONParseError(reason: .syntax, offset: index) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw syntaxError() }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
            throw syntaxError()
        }
        index += count
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard let byte = current else { throw syntaxError() }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw syntaxError()
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { return try overflowingValue() }
        index += 1
        var members = [String: JSONValue](minimumCapacity: 8)  // one allocation for small objects
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw syntaxError() }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw syntaxError() }
            index += 1
            skipWhitespace()
            members[key] = try parseValue(depth: depth)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            default: throw syntaxError()
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { return try overflowingValue() }
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(items)
            default: throw syntaxError()
            }
        }
    }

    private mutating func overflowingValue() throws(JSONParseError) -> JSONValue {
        guard overflow == .substituteEmptyArray else { throw JSONParseError(reason: .tooDeep, offset: index) }
        try skipValue()
        return .array([])
    }

    /// Checks the value at `index` as strictly as `parseValue` does, without building it and with its open
    /// containers on a heap stack instead of the call stack.
    private mutating func skipValue() throws(JSONParseError) {
        var closers: [UInt8] = []  // the closing bracket of each container entered
        repeat {
            skipWhitespace()
            switch current {
            case UInt8(ascii: "{")?, UInt8(ascii: "[")?:
                let closer = current == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                index += 1
                skipWhitespace()
                if current == closer {
                    index += 1
                } else {
                    closers.append(closer)
                    if closer == UInt8(ascii: "}") { try skipKey() }
                    continue  // to the first member's value
                }
            default:
                _ = try parseValue(depth: 0)  // a string, literal or number: no recursion
            }
            // After a value: close what ends here, then move to the next member.
            while let closer = closers.last {
                skipWhitespace()
                if current == closer {
                    index += 1
                    closers.removeLast()
                    continue
                }
                guard current == UInt8(ascii: ",") else { throw syntaxError() }
                index += 1
                if closer == UInt8(ascii: "}") { try skipKey() }
                break
            }
        } while !closers.isEmpty
    }

    /// Skips `"key" :` inside an object.
    private mutating func skipKey() throws(JSONParseError) {
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else { throw syntaxError() }
        _ = try parseString()
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { throw syntaxError() }
        index += 1
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flushRun(_ parser: JSONParser, upTo end: Int, into scalars: inout String.UnicodeScalarView) {
            if end > runStart {
                // The whole input was validated as UTF-8, and runs never split a multi-byte sequence.
                scalars.append(contentsOf: String(decoding: parser.bytes[runStart..<end], as: UTF8.self).unicodeScalars)
            }
        }
        var escaped = false
        while true {
            guard let byte = current else { throw syntaxError() }
            switch byte {
            case UInt8(ascii: "\""):
                if !escaped {
                    // No escapes: the bytes are the string (the input was validated as UTF-8).
                    let string = String(decoding: bytes[runStart..<index], as: UTF8.self)
                    index += 1
                    return string
                }
                flushRun(self, upTo: index, into: &scalars)
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                escaped = true
                flushRun(self, upTo: index, into: &scalars)
                index += 1
                scalars.append(try parseEscape())
                runStart = index
            case 0x00..<0x20:
                throw syntaxError()
            default:
                index += 1
            }
        }
    }

    private mutating func parseEscape() throws(JSONParseError) -> Unicode.Scalar {
        guard let byte = current else { throw syntaxError() }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            if (0xD800..<0xDC00).contains(unit) {
                guard current == UInt8(ascii: "\\") else { throw syntaxError() }
                index += 1
                guard current == UInt8(ascii: "u") else { throw syntaxError() }
                index += 1
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else { throw syntaxError() }
                let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                guard let scalar = Unicode.Scalar(value) else { throw syntaxError() }
                return scalar
            }
            guard let scalar = Unicode.Scalar(unit) else { throw syntaxError() }  // lone low surrogate
            return scalar
        default:
            throw syntaxError()
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw syntaxError() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw syntaxError()
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var isInteger = true
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw syntaxError() }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard try skipRequiredDigits() else { throw syntaxError() }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard try skipRequiredDigits() else { throw syntaxError() }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let number = Int64(text) { return .int(number) }
        guard let number = Double(text), number.isFinite else { throw syntaxError() }
        return .double(number)
    }

    private mutating func skipDigits() {
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
    }

    private mutating func skipRequiredDigits() throws(JSONParseError) -> Bool {
        let start = index
        skipDigits()
        return index > start
    }
}
