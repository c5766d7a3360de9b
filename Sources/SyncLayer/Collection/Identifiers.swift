import Foundation

/// Validation of collection names, document ids and field paths.
///
/// Values never reach SQL as text (they are bound), but names travel in URL paths and field
/// paths are written into SQL as JSON-path literals, so both are checked here.
enum Identifiers {
    static let maximumIDBytes = 512

    /// A new id for a document or an operation: a version 7 UUID (RFC 9562), lower case. Its
    /// first 48 bits are the Unix time in milliseconds, so ids made together sort together:
    /// inserts land at the end of the indexes they go into (here and in the server's
    /// deduplication table) instead of on random pages. The other 74 bits are random.
    static func newID(now: Date = Date()) -> String {
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        var uuid = UUID().uuid  // random, variant 10
        withUnsafeMutableBytes(of: &uuid) { bytes in
            for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * index)) }
            bytes[6] = 0x70 | bytes[6] & 0x0F  // version 7
        }
        return UUID(uuid: uuid).uuidString.lowercased()
    }
    static let maximumCollectionLength = 128
    static let maximumPathSegments = 32
    static let maximumSegmentBytes = 256

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    static func validateCollection(_ name: String) throws {
        let bytes = Array(name.utf8)
        func allowed(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
        }
        guard !bytes.isEmpty, bytes.count <= maximumCollectionLength, allowed(bytes[0]),
              bytes.allSatisfy({ allowed($0) || $0 == 0x2E || $0 == 0x2D }) else {
            throw SyncLayerError(.invalidCollectionName,
                                 "collection names are 1–128 characters of [A-Za-z0-9_.-] and start with a letter, digit or _ (got \(describe(name)))")
        }
    }

    /// 1–512 bytes of UTF-8, no control characters.
    static func validateDocumentID(_ id: String) throws {
        let count = id.utf8.count
        guard count > 0, count <= maximumIDBytes,
              !id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw SyncLayerError(.invalidDocumentID,
                                 "document ids are 1–512 bytes with no control characters (got \(describe(id)))")
        }
    }

    /// The segments of a dot path (`"meta.priority"` → `["meta", "priority"]`).
    static func pathSegments(_ path: String) throws -> [Substring] {
        let segments = path.split(separator: ".", omittingEmptySubsequences: false)
        guard !path.isEmpty, segments.count <= maximumPathSegments,
              segments.allSatisfy({ segment in
                  !segment.isEmpty && segment.utf8.count <= maximumSegmentBytes
                      && !segment.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\"" || $0 == "\\" || $0.value == 0x7F })
              }) else {
            throw SyncLayerError(.invalidFieldPath,
                                 "field paths are dot-separated names of 1–256 bytes without quotes, backslashes or control characters (got \(describe(path)))")
        }
        return segments
    }

    /// A short, printable rendering of untrusted text for error messages.
    static func describe(_ text: String) -> String {
        let escaped = text.unicodeScalars.prefix(40).map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return "\"" + escaped + (text.unicodeScalars.count > 40 ? "…\"" : "\"")
    }
}
