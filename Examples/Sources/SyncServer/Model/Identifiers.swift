/// Validation of the identifiers defined in PROTOCOL.md §1.
public enum Identifiers {
    /// `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`
    public static func isValidCollection(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...128).contains(bytes.count) else { return false }
        for (index, byte) in bytes.enumerated() {
            let alphanumeric = isAlphanumeric(byte) || byte == UInt8(ascii: "_")
            if index == 0 ? !alphanumeric : !(alphanumeric || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")) {
                return false
            }
        }
        return true
    }

    /// 1–512 bytes of UTF-8, no control characters, and not `.` or `..` (path safety).
    public static func isValidRecordID(_ id: String) -> Bool {
        guard (1...512).contains(id.utf8.count), id != ".", id != ".." else { return false }
        return !id.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// 1–128 printable ASCII characters without spaces.
    public static func isValidClientID(_ id: String) -> Bool {
        let bytes = id.utf8
        return (1...128).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// Op ids: 1–128 printable ASCII characters without spaces (a UUID is expected).
    public static func isValidOpID(_ id: String) -> Bool { isValidClientID(id) }

    /// Field names usable in v1 `where[field]`, `fields` and `excludeFields`: `^[A-Za-z0-9_.-]{1,128}$`.
    public static func isValidFieldName(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...128).contains(bytes.count)
            && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
