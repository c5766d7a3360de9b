/// A hybrid-logical-clock stamp: wall-clock milliseconds, a counter, and the client id.
///
/// Stamps order causally (a change made after seeing another has a larger stamp, whatever
/// the device clocks say) and totally (ties break on the client id). Their text form
/// `1732200000000-0000-client` (13-digit milliseconds, enough until the year 2286) sorts the same way as the stamps, so SQL can compare it.
struct HLCTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    var milliseconds: Int64
    var counter: Int
    var node: String

    static let maxCounter = 0xFFFF

    static func < (a: HLCTimestamp, b: HLCTimestamp) -> Bool {
        (a.milliseconds, a.counter, a.node) < (b.milliseconds, b.counter, b.node)
    }

    var description: String {
        let ms = String(milliseconds)
        let counterHex = String(counter, radix: 16)
        return String(repeating: "0", count: max(0, 13 - ms.count)) + ms + "-"
            + String(repeating: "0", count: max(0, 4 - counterHex.count)) + counterHex + "-" + node
    }

    init(milliseconds: Int64, counter: Int, node: String) {
        self.milliseconds = milliseconds
        self.counter = counter
        self.node = node
    }

    /// Parses the text form; nil when it is not one.
    init?(_ text: String) {
        // `DDDDDDDDDDDDD-HHHH-node`, read byte by byte: every pulled record carries one.
        let utf8 = text.utf8
        guard utf8.count >= 19 else { return nil }
        var ms: Int64 = 0, counter = 0, index = utf8.startIndex
        for _ in 0..<13 {
            let byte = utf8[index]
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            ms = ms * 10 + Int64(byte - UInt8(ascii: "0"))
            index = utf8.index(after: index)
        }
        guard utf8[index] == UInt8(ascii: "-") else { return nil }
        index = utf8.index(after: index)
        for _ in 0..<4 {
            let byte = utf8[index]
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte - UInt8(ascii: "A")) + 10
            default: return nil
            }
            counter = counter << 4 | digit
            index = utf8.index(after: index)
        }
        guard utf8[index] == UInt8(ascii: "-") else { return nil }
        self.init(milliseconds: ms, counter: counter, node: String(text[utf8.index(after: index)...]))
    }
}

/// Issues hybrid-logical-clock stamps for one client.
///
/// Pure state: the store feeds it the wall clock and persists ``last``.
struct HybridLogicalClock: Sendable {
    private(set) var last: HLCTimestamp

    init(node: String, last: HLCTimestamp? = nil) {
        self.last = last.map { HLCTimestamp(milliseconds: $0.milliseconds, counter: $0.counter, node: node) }
            ?? HLCTimestamp(milliseconds: 0, counter: 0, node: node)
    }

    /// A stamp for a local change, larger than every stamp issued or received so far.
    mutating func next(now: Int64) -> HLCTimestamp {
        if now > last.milliseconds {
            last.milliseconds = now
            last.counter = 0
        } else {
            advanceCounter()
        }
        return last
    }

    /// How far ahead of the local wall clock a received stamp may be and still move the clock.
    /// A stamp further ahead (a broken or hostile clock) is ignored, so it cannot drag every
    /// later local stamp years into the future.
    static let maximumForwardDrift: Int64 = 7 * 86_400_000

    /// Merges a stamp seen from another client, so later local stamps order after it.
    mutating func receive(_ remote: HLCTimestamp, now: Int64) {
        guard remote.milliseconds <= now + HybridLogicalClock.maximumForwardDrift else { return }
        let ms = max(now, last.milliseconds, remote.milliseconds)
        if ms == last.milliseconds && ms == remote.milliseconds {
            last.counter = max(last.counter, remote.counter)
            advanceCounter()
        } else if ms == last.milliseconds {
            advanceCounter()
        } else if ms == remote.milliseconds {
            last.milliseconds = ms
            last.counter = remote.counter
            advanceCounter()
        } else {
            last.milliseconds = ms
            last.counter = 0
        }
    }

    private mutating func advanceCounter() {
        if last.counter >= HLCTimestamp.maxCounter {
            last.milliseconds += 1
            last.counter = 0
        } else {
            last.counter += 1
        }
    }
}
