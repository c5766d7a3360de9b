/// Turns the bytes a peer sends into whole WebSocket messages (RFC 6455 §5), incrementally.
///
/// Feed it any chunks, in order (including bytes that came with the HTTP 101 answer), then
/// call ``next()`` until it returns nil. Fragmented messages are reassembled; control frames
/// in between them come out at once. Violations throw a ``ProtocolError`` carrying the close
/// code to fail the connection with: 1002 (protocol), 1007 (text that is not UTF-8), 1009
/// (a message larger than `maxMessageBytes`). After an error or a close frame, the decoder
/// yields nothing more.
///
/// ```swift
/// var decoder = WebSocketFrameDecoder(maxMessageBytes: 1 << 20)
/// decoder.append(bytesFromSocket)
/// while let message = try decoder.next() { handle(message) }
/// ```
struct WebSocketFrameDecoder: Sendable {
    /// Which side decodes: a client reads unmasked server frames, a server masked client frames.
    enum Role: Sendable { case client, server }

    enum Message: Sendable, Hashable {
        case text(String)
        case binary([UInt8])
        case ping([UInt8])
        case pong([UInt8])
        /// `code` is nil when the frame had none (reported as 1005).
        case close(code: WebSocketCloseCode?, reason: String)
    }

    struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
        let closeCode: WebSocketCloseCode
        let reason: String
        var description: String { "WebSocket protocol error \(closeCode): \(reason)" }
    }

    let role: Role
    let maxMessageBytes: Int

    private var buffer: [UInt8] = []
    private var start = 0
    /// The opcode of the fragmented message being assembled, if any.
    private var messageOpcode: WebSocketOpcode?
    private var messageBytes: [UInt8] = []
    private var utf8 = UTF8Validator()
    private var failure: ProtocolError?
    private var closed = false

    init(role: Role = .client, maxMessageBytes: Int) {
        self.role = role
        self.maxMessageBytes = maxMessageBytes
    }

    /// Bytes received and not decoded yet.
    var bufferedByteCount: Int { buffer.count - start }

    mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        guard failure == nil && !closed else { return }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, or nil until more bytes arrive.
    mutating func next() throws(ProtocolError) -> Message? {
        if let failure { throw failure }
        do {
            while !closed, let frame = try nextFrame() {
                if let message = try assemble(frame) { return message }
            }
            return nil
        } catch {
            failure = error
            buffer = []
            start = 0
            throw error
        }
    }

    // MARK: Frames

    private mutating func nextFrame() throws(ProtocolError) -> WebSocketFrame? {
        let available = buffer.count - start
        guard available >= 2 else { return nil }
        let first = buffer[start], second = buffer[start + 1]
        guard first & 0x70 == 0 else { throw ProtocolError(closeCode: .protocolError, reason: "reserved bits set") }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else {
            throw ProtocolError(closeCode: .protocolError, reason: "unknown opcode \(first & 0x0F)")
        }
        let fin = first & 0x80 != 0
        let masked = second & 0x80 != 0
        switch role {
        case .client where masked: throw ProtocolError(closeCode: .protocolError, reason: "masked frame from the server")
        case .server where !masked: throw ProtocolError(closeCode: .protocolError, reason: "unmasked frame from the client")
        default: break
        }
        var headerLength = 2
        var length = UInt64(second & 0x7F)
        if opcode.isControl {
            guard fin else { throw ProtocolError(closeCode: .protocolError, reason: "fragmented control frame") }
            guard length <= 125 else { throw ProtocolError(closeCode: .protocolError, reason: "control frame longer than 125 bytes") }
        }
        if length == 126 {
            guard available >= 4 else { return nil }
            length = UInt64(buffer[start + 2]) << 8 | UInt64(buffer[start + 3])
            headerLength = 4
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = 0
            for index in 0..<8 { length = length << 8 | UInt64(buffer[start + 2 + index]) }
            guard length >> 63 == 0 else { throw ProtocolError(closeCode: .protocolError, reason: "64-bit length with the top bit set") }
            headerLength = 10
        }
        try checkSequence(opcode: opcode, length: length)
        let maskOffset = headerLength
        if masked { headerLength += 4 }
        guard available >= headerLength, UInt64(available - headerLength) >= length else { return nil }
        let payloadStart = start + headerLength
        var payload = Array(buffer[payloadStart..<payloadStart + Int(length)])
        if masked {
            let mask = Array(buffer[(start + maskOffset)..<(start + maskOffset + 4)])
            for index in payload.indices { payload[index] ^= mask[index & 3] }
        }
        start = payloadStart + Int(length)
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return WebSocketFrame(fin: fin, opcode: opcode, payload: payload)
    }

    /// Checks a frame header against the message in progress, before its payload arrives, so an
    /// oversize message fails without being buffered.
    private func checkSequence(opcode: WebSocketOpcode, length: UInt64) throws(ProtocolError) {
        switch opcode {
        case .continuation:
            guard messageOpcode != nil else { throw ProtocolError(closeCode: .protocolError, reason: "continuation without a message") }
        case .text, .binary:
            guard messageOpcode == nil else {
                throw ProtocolError(closeCode: .protocolError, reason: "new message inside a fragmented message")
            }
        case .close, .ping, .pong:
            return
        }
        guard length <= UInt64(maxMessageBytes - messageBytes.count) else {
            throw ProtocolError(closeCode: .messageTooBig, reason: "message larger than \(maxMessageBytes) bytes")
        }
    }

    // MARK: Messages

    private mutating func assemble(_ frame: WebSocketFrame) throws(ProtocolError) -> Message? {
        switch frame.opcode {
        case .ping: return .ping(frame.payload)
        case .pong: return .pong(frame.payload)
        case .close:
            closed = true
            return try Self.closeMessage(frame.payload)
        case .text, .binary:
            messageOpcode = frame.opcode
            utf8 = UTF8Validator()
        case .continuation:
            break
        }
        if messageOpcode == .text, !utf8.consume(frame.payload) {
            throw ProtocolError(closeCode: .invalidPayload, reason: "text message is not UTF-8")
        }
        guard frame.fin else {
            messageBytes.append(contentsOf: frame.payload)
            return nil
        }
        let bytes = messageBytes.isEmpty ? frame.payload : messageBytes + frame.payload
        let opcode = messageOpcode
        messageOpcode = nil
        messageBytes = []
        if opcode == .text {
            guard utf8.isComplete else { throw ProtocolError(closeCode: .invalidPayload, reason: "text message ends inside a character") }
            return .text(String(decoding: bytes, as: UTF8.self))
        }
        return .binary(bytes)
    }

    private static func closeMessage(_ payload: [UInt8]) throws(ProtocolError) -> Message {
        guard !payload.isEmpty else { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else { throw ProtocolError(closeCode: .protocolError, reason: "close frame with a 1-byte payload") }
        let code = WebSocketCloseCode(UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isValidOnTheWire else { throw ProtocolError(closeCode: .protocolError, reason: "invalid close code \(code)") }
        let reason = payload.dropFirst(2)
        guard UTF8Validator.isValid(reason) else { throw ProtocolError(closeCode: .invalidPayload, reason: "close reason is not UTF-8") }
        return .close(code: code, reason: String(decoding: reason, as: UTF8.self))
    }
}
