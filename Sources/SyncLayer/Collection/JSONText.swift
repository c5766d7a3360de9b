import Foundation

/// Reads and writes JSON text for ``JSONValue``.
///
/// Output is canonical: compact, object keys sorted by their UTF-8 bytes, numbers in their
/// shortest round-trip form. Equal values therefore always have equal text, which the query
/// layer relies on (array/object equality compares text) and convergence checks can hash.
enum JSONText {
    /// Deepest nesting accepted when parsing, so hostile input cannot exhaust the stack.
    static let maximumDepth = 256

    struct ParseError: Error, Sendable, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    // MARK: Writing

    static func encode(_ value: JSONValue) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        write(value, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func encode(_ object: [String: JSONValue]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        writeObject(object, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): writeDouble(d, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (index, element) in a.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o): writeObject(o, into: &out)
        }
    }

    private static func writeObject(_ object: [String: JSONValue], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for key in object.keys.sorted(by: utf8Less) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            write(object[key]!, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    private static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    private static func writeDouble(_ d: Double, into out: inout [UInt8]) {
        // Non-finite doubles are rejected before a value reaches storage (see `validate`);
        // if one slips through a debug description, write null rather than invalid JSON.
        guard d.isFinite else { out.append(contentsOf: "null".utf8); return }
        // An integral double is written as an integer, as JSONEncoder does, so 1.0 and 1 have
        // one canonical text (queries compare arrays and objects by text).
        if let exact = JSONValue.exactInteger(d) {
            out.append(contentsOf: String(exact).utf8)
        } else {
            out.append(contentsOf: d.description.utf8)
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: Validation

    /// The dot path of the first non-finite number in `value`, or nil when it is all JSON.
    static func firstNonFinitePath(in value: JSONValue, path: String = "") -> String? {
        switch value {
        case .double(let d): return d.isFinite ? nil : (path.isEmpty ? "(root)" : path)
        case .array(let a):
            for (i, element) in a.enumerated() {
                if let p = firstNonFinitePath(in: element, path: path.isEmpty ? "[\(i)]" : "\(path)[\(i)]") { return p }
            }
            return nil
        case .object(let o):
            for (key, element) in o {
                if let p = firstNonFinitePath(in: element, path: path.isEmpty ? key : "\(path).\(key)") { return p }
            }
            return nil
        default: return nil
        }
    }

    /// The nesting depth of a value (a scalar is 0, `[1]` is 1).
    static func depth(of value: JSONValue) -> Int {
        switch value {
        case .array(let a): 1 + (a.map(depth(of:)).max() ?? 0)
        case .object(let o): 1 + (o.values.map(depth(of:)).max() ?? 0)
        default: 0
        }
    }

    // MARK: Parsing

    static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { bytes in try parse(bytes) }
    }

    static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            try parse(UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
        }
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, keeps: Bool = true) throws -> JSONValue {
        var parser = Parser(bytes: bytes, keeps: keeps)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected trailing characters") }
        return value
    }

    /// Parses a JSON object (a document body); anything else is an error.
    static func parseObject(_ text: String) throws -> [String: JSONValue] {
        guard case .object(let o) = try parse(text) else { throw ParseError(offset: 0, reason: "expected an object") }
        return o
    }

    /// Checks that `text` is a JSON object that ``parseObject(_:)`` accepts, without building it:
    /// the same parser, keeping nothing. Stored documents are checked when read and parsed when
    /// their fields are first used (``Document/data``).
    static func validateObject(_ text: String) throws {
        var text = text
        // Without keeping, an object parses to an empty `.object`.
        guard case .object = try text.withUTF8({ bytes in try parse(bytes, keeps: false) }) else {
            throw ParseError(offset: 0, reason: "expected an object")
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        /// False to check the text only: containers and strings are read, validated and dropped.
        var keeps = true
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>, keeps: Bool = true) {
            self.bytes = bytes
            self.keeps = keeps
        }

        func error(_ reason: String) -> ParseError { ParseError(offset: index, reason: reason) }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws -> JSONValue {
            guard index < bytes.count else { throw error("unexpected end of input") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("unexpected character")
            }
        }

        mutating func expect(_ literal: StaticString) throws {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("unexpected end of input") }
            let start = literal.utf8Start
            for i in 0..<count where bytes[index + i] != start[i] { throw error("invalid literal") }
            index += count
        }

        mutating func parseObject(depth: Int) throws -> JSONValue {
            guard depth <= JSONText.maximumDepth else { throw error("nesting deeper than \(JSONText.maximumDepth)") }
            index += 1
            var members = [String: JSONValue](minimumCapacity: keeps ? 8 : 0)  // one allocation for small objects
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try parseString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipWhitespace()
                let value = try parseValue(depth: depth)
                if keeps { members[key] = value }
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        }

        mutating func parseArray(depth: Int) throws -> JSONValue {
            guard depth <= JSONText.maximumDepth else { throw error("nesting deeper than \(JSONText.maximumDepth)") }
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            while true {
                skipWhitespace()
                let element = try parseValue(depth: depth)
                if keeps { elements.append(element) }
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw error("expected ',' or ']'")
            }
        }

        mutating func parseString() throws -> String {
            index += 1  // opening quote
            let start = index
            // Fast path: no escapes. ASCII needs no UTF-8 validation.
            var ascii = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    if ascii { return keeps ? String(decoding: slice, as: UTF8.self) : "" }
                    return try validatedString(slice, at: start)
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character in string") }
                if byte >= 0x80 { ascii = false }
                index += 1
            }
            var buffer = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return try buffer.withUnsafeBufferPointer { b in try validatedString(b, at: start) }
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw error("unexpected end of input") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
                    case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
                    case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
                    case UInt8(ascii: "b"): buffer.append(0x08)
                    case UInt8(ascii: "f"): buffer.append(0x0C)
                    case UInt8(ascii: "n"): buffer.append(0x0A)
                    case UInt8(ascii: "r"): buffer.append(0x0D)
                    case UInt8(ascii: "t"): buffer.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try parseHex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            // A high surrogate must be followed by an escaped low surrogate.
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                                  bytes[index + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                            index += 2
                            let low = try parseHex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error("unpaired surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                        buffer.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: throw error("invalid escape")
                    }
                default:
                    if byte < 0x20 { throw error("control character in string") }
                    buffer.append(byte)
                    index += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func parseHex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("unexpected end of input") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        func validatedString(_ slice: UnsafeBufferPointer<UInt8>, at start: Int) throws -> String {
            // String(decoding:) repairs invalid UTF-8 with U+FFFD; a repaired string's bytes differ.
            // (String(validating:) would say it directly, but needs macOS 15 / iOS 18.)
            let s = String(decoding: slice, as: UTF8.self)
            guard s.utf8.count == slice.count, s.utf8.elementsEqual(slice) else {
                throw ParseError(offset: start, reason: "invalid UTF-8 in string")
            }
            return s
        }

        mutating func parseNumber() throws -> JSONValue {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw error("invalid number") }
            // The integer part is accumulated as it is read; it is the value when nothing follows.
            var magnitude: UInt64 = 0
            var fits = true
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                    fits = fits && !o1 && !o2
                    magnitude = sum
                    index += 1
                }
            } else {
                throw error("invalid number")
            }
            let negative = bytes[start] == UInt8(ascii: "-")
            let isPlain = index == bytes.count || (bytes[index] != UInt8(ascii: ".") && bytes[index] | 0x20 != UInt8(ascii: "e"))
            if isPlain, fits {
                if negative, magnitude <= UInt64(Int.max) + 1 { return .int(magnitude == UInt64(Int.max) + 1 ? Int.min : -Int(magnitude)) }
                if !negative, magnitude <= UInt64(Int.max) { return .int(Int(magnitude)) }
            }
            var isInteger = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                let digits = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { throw error("invalid number") }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                let digits = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
                guard index > digits else { throw error("invalid number") }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if isInteger, let i = Int(text) { return .int(i) }
            guard let d = Double(text), d.isFinite else {
                throw ParseError(offset: start, reason: "number out of range")
            }
            return .double(d)
        }
    }
}
