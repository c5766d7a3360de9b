/// A WebSocket frame opcode (RFC 6455 §5.2).
enum WebSocketOpcode: UInt8, Sendable, Hashable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// Close, ping and pong: at most 125 bytes, never fragmented, allowed inside a fragmented message.
    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// A close status code (RFC 6455 §7.4), plus the server's own 4xxx codes.
struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt16
    init(rawValue: UInt16) { self.rawValue = rawValue }
    init(_ rawValue: UInt16) { self.rawValue = rawValue }

    static let normal = WebSocketCloseCode(1000)
    static let goingAway = WebSocketCloseCode(1001)
    static let protocolError = WebSocketCloseCode(1002)
    static let unsupportedData = WebSocketCloseCode(1003)
    /// Reported when a close frame had no code; never sent.
    static let noStatus = WebSocketCloseCode(1005)
    /// Reported when the connection ended without a close frame; never sent.
    static let abnormal = WebSocketCloseCode(1006)
    static let invalidPayload = WebSocketCloseCode(1007)
    /// The reference server's answer to a missing or wrong token (doc/PROTOCOL.md §5.1).
    static let policyViolation = WebSocketCloseCode(1008)
    static let messageTooBig = WebSocketCloseCode(1009)
    static let internalError = WebSocketCloseCode(1011)
    /// The reference server closes a connection that sent nothing for its idle timeout.
    static let idleTimeout = WebSocketCloseCode(4408)

    /// Whether a peer may put this code in a close frame: 1000–1003, 1007–1014 and 3000–4999.
    var isValidOnTheWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    var description: String { String(rawValue) }
}

/// One WebSocket frame and its wire encoding (RFC 6455 §5.2).
///
/// Clients mask every frame with a fresh random key (§5.3); servers never mask. Lengths use
/// the shortest of the 7-, 16- and 64-bit forms.
struct WebSocketFrame: Sendable, Hashable {
    var fin: Bool
    var opcode: WebSocketOpcode
    var payload: [UInt8]

    init(fin: Bool = true, opcode: WebSocketOpcode, payload: [UInt8]) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
    }

    static func text(_ text: String) -> WebSocketFrame { WebSocketFrame(opcode: .text, payload: Array(text.utf8)) }

    /// A close frame; the reason is cut to fit the 125-byte control payload on a character boundary.
    static func close(_ code: WebSocketCloseCode, reason: String = "") -> WebSocketFrame {
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !UTF8Validator.isValid(reasonBytes) { reasonBytes.removeLast() }
        return WebSocketFrame(opcode: .close, payload: [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)] + reasonBytes)
    }

    /// A random masking key from the system's cryptographic generator, as §5.3 requires.
    static func randomMaskKey() -> UInt32 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }

    /// The frame's bytes: masked with `maskKey` (its big-endian bytes) when given, as a client
    /// sends; unmasked when nil, as a server sends.
    func encoded(maskKey: UInt32?) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + 14)
        bytes.append((fin ? 0x80 : 0) | opcode.rawValue)
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        switch payload.count {
        case 0...125:
            bytes.append(maskBit | UInt8(payload.count))
        case 126...0xFFFF:
            bytes.append(maskBit | 126)
            bytes.append(UInt8(payload.count >> 8))
            bytes.append(UInt8(payload.count & 0xFF))
        default:
            bytes.append(maskBit | 127)
            let length = UInt64(payload.count)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        }
        guard let maskKey else {
            bytes.append(contentsOf: payload)
            return bytes
        }
        let mask = [UInt8(maskKey >> 24), UInt8(truncatingIfNeeded: maskKey >> 16),
                    UInt8(truncatingIfNeeded: maskKey >> 8), UInt8(truncatingIfNeeded: maskKey)]
        bytes.append(contentsOf: mask)
        for (index, byte) in payload.enumerated() { bytes.append(byte ^ mask[index & 3]) }
        return bytes
    }
}
