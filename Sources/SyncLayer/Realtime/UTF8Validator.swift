/// Incremental UTF-8 validation (RFC 3629), so a text message split over frames or reads is
/// rejected at its first invalid byte (RFC 6455 §8.1: fail fast, close 1007).
///
/// Rejects overlong forms, surrogates (U+D800…U+DFFF) and code points above U+10FFFF.
struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected by the current sequence.
    private var pending = 0
    /// The allowed range of the next continuation byte (narrower right after some lead bytes).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// Whether no sequence is open (a message may end here).
    var isComplete: Bool { pending == 0 }

    /// Whether `bytes` are complete, valid UTF-8.
    static func isValid<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
        var validator = UTF8Validator()
        return validator.consume(bytes) && validator.isComplete
    }

    /// Checks more bytes; false at the first byte that cannot be valid UTF-8.
    mutating func consume<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
        for byte in bytes {
            if pending == 0 {
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: pending = 1
                case 0xE0: (pending, lower, upper) = (2, 0xA0, 0xBF)
                case 0xE1...0xEC, 0xEE...0xEF: pending = 2
                case 0xED: (pending, lower, upper) = (2, 0x80, 0x9F)
                case 0xF0: (pending, lower, upper) = (3, 0x90, 0xBF)
                case 0xF1...0xF3: pending = 3
                case 0xF4: (pending, lower, upper) = (3, 0x80, 0x8F)
                default: return false
                }
            } else {
                guard byte >= lower && byte <= upper else { return false }
                pending -= 1
                (lower, upper) = (0x80, 0xBF)
            }
        }
        return true
    }
}
