/// A JSON value as it travels on the wire, keeping the integer/floating distinction.
///
/// Documents are `[String: JSONValue]`. Encoding is canonical (sorted keys, no insignificant
/// whitespace), so equal values always encode to equal text.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The object's members, or nil when the value is not an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The string, or nil when the value is not a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The integer, or nil when the value is not an integer.
    public var intValue: Int64? {
        if case .int(let number) = self { return number }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// Nesting depth: scalars are 0, an object or array is 1 + the depth of its deepest member.
    public var depth: Int {
        switch self {
        case .array(let items): 1 + items.reduce(0) { max($0, $1.depth) }
        case .object(let members): 1 + members.values.reduce(0) { max($0, $1.depth) }
        default: 0
        }
    }

    /// Subscript on object members; nil for missing keys and non-objects.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue {
    /// Canonical JSON text: sorted keys, no whitespace, doubles always with a fraction or exponent.
    public var encoded: String { String(decoding: encodedBytes, as: UTF8.self) }

    /// The canonical encoding as UTF-8 bytes.
    public var encodedBytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        write(into: &output)
        return output
    }

    /// Appends the canonical encoding to `output`. Works on bytes: appending to a `String` scalar by scalar
    /// dominated the server's write path.
    func write(into output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): output.append(contentsOf: String(number).utf8)
        case .double(let number):
            // Swift's description is the shortest round-trip form and keeps ".0" on whole numbers.
            output.append(contentsOf: (number.isFinite ? "\(number)" : "null").utf8)
        case .string(let text): Self.writeString(text, into: &output)
        case .array(let items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                item.write(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            Self.writeObject(members.sorted(by: { $0.key < $1.key }), into: &output)
        }
    }

    /// Appends `prefix` (the punctuation and quoted key before a member's value, `{"key":` or
    /// `,"key":`), then `value`: for objects written by hand in key order, without a member array.
    static func writeMember(_ prefix: StaticString, _ value: JSONValue, into output: inout [UInt8]) {
        output.append(contentsOf: UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
        value.write(into: &output)
    }

    /// Appends an object whose members are already in key order (canonical when they are sorted).
    static func writeObject(_ members: some Sequence<(key: String, value: JSONValue)>, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        var first = true
        for member in members {
            if !first { output.append(UInt8(ascii: ",")) }
            first = false
            writeString(member.key, into: &output)
            output.append(UInt8(ascii: ":"))
            member.value.write(into: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// Appends `text` as a JSON string: `"` and `\\` escaped, control characters as `\n`, `\r`, `\t` or
    /// `\u00xx`, everything else as its UTF-8 bytes. Only ASCII bytes need escaping, and a multi-byte UTF-8
    /// sequence never contains one, so runs of plain bytes are copied whole.
    static func writeString(_ text: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): output.append(contentsOf: #"\\"#.utf8)
                case UInt8(ascii: "\n"): output.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): output.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): output.append(contentsOf: #"\t"#.utf8)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    output.append(contentsOf: #"\u00"#.utf8)
                    output.append(hex[Int(byte >> 4)])
                    output.append(hex[Int(byte & 0xF)])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        output.append(UInt8(ascii: "\""))
    }
}
