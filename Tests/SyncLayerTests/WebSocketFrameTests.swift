import Foundation
import Testing
@testable import SyncLayer

/// A seeded generator, so randomized tests repeat.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct WebSocketFrameTests {
    typealias Message = WebSocketFrameDecoder.Message

    /// Decodes `bytes` fed in one piece (client role unless told).
    func decode(_ bytes: [UInt8], role: WebSocketFrameDecoder.Role = .client, max: Int = 1 << 20) throws(WebSocketFrameDecoder.ProtocolError) -> [Message] {
        var decoder = WebSocketFrameDecoder(role: role, maxMessageBytes: max)
        decoder.append(bytes)
        var messages: [Message] = []
        while let message = try decoder.next() { messages.append(message) }
        return messages
    }

    /// The close code `bytes` fail with, or nil when they decode.
    func failure(_ bytes: [UInt8], max: Int = 1 << 20) -> UInt16? {
        do {
            _ = try decode(bytes, max: max)
            return nil
        } catch {
            return error.closeCode.rawValue
        }
    }

    // MARK: RFC 6455 §5.7

    static let hello = Array("Hello".utf8)

    @Test func encodesTheMaskedExampleOfRFC6455() {
        let frame = WebSocketFrame(opcode: .text, payload: Self.hello)
        #expect(frame.encoded(maskKey: 0x37FA_213D) == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        let pong = WebSocketFrame(opcode: .pong, payload: Self.hello)
        #expect(pong.encoded(maskKey: 0x37FA_213D) == [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        #expect(frame.encoded(maskKey: nil) == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    }

    @Test(arguments: [
        ([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], Message.text("Hello")),
        ([0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F], Message.text("Hello")),
        ([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], Message.ping(hello)),
        ([0x8A, 0x00], Message.pong([])),
    ] as [([UInt8], Message)])
    func decodesTheUnmaskedExamplesOfRFC6455(bytes: [UInt8], expected: Message) throws {
        #expect(try decode(bytes) == [expected])
    }

    @Test func serverRoleDecodesTheMaskedExample() throws {
        #expect(try decode([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58], role: .server) == [.text("Hello")])
        #expect(throws: WebSocketFrameDecoder.ProtocolError.self) { try decode([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], role: .server) }
    }

    @Test func usesSevenSixteenAndSixtyFourBitLengths() throws {
        let payload256 = [UInt8](repeating: 7, count: 256)
        let encoded256 = WebSocketFrame(opcode: .binary, payload: payload256).encoded(maskKey: nil)
        #expect(Array(encoded256.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        #expect(try decode(encoded256) == [.binary(payload256)])

        let payload64k = [UInt8](repeating: 9, count: 65536)
        let encoded64k = WebSocketFrame(opcode: .binary, payload: payload64k).encoded(maskKey: nil)
        #expect(Array(encoded64k.prefix(10)) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
        #expect(try decode(encoded64k) == [.binary(payload64k)])
    }

    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 70000])
    func clientFramesRoundTripThroughTheServerRole(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let encoded = WebSocketFrame(opcode: .binary, payload: payload).encoded(maskKey: WebSocketFrame.randomMaskKey())
        let headerLength = length <= 125 ? 2 : length <= 65535 ? 4 : 10
        #expect(encoded.count == headerLength + 4 + length)
        #expect(encoded[1] & 0x80 != 0)
        #expect(try decode(encoded, role: .server) == [.binary(payload)])
    }

    @Test func masksWithAFreshKeyEachTime() {
        let keys = Set((0..<16).map { _ in WebSocketFrame.randomMaskKey() })
        #expect(keys.count > 1)
    }

    // MARK: Fragments and control frames

    @Test func controlFramesInsideAFragmentedMessageComeOutFirst() throws {
        let bytes = [
            WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8)),
            WebSocketFrame(opcode: .ping, payload: [1, 2]),
            WebSocketFrame(fin: false, opcode: .continuation, payload: Array("lo, ".utf8)),
            WebSocketFrame(opcode: .pong, payload: []),
            WebSocketFrame(opcode: .continuation, payload: Array("world".utf8)),
        ].flatMap { $0.encoded(maskKey: nil) }
        #expect(try decode(bytes) == [.ping([1, 2]), .pong([]), .text("Hello, world")])
    }

    @Test func aCharacterSplitAcrossFragmentsIsValid() throws {
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        let bytes = WebSocketFrame(fin: false, opcode: .text, payload: [0x41, euro[0]]).encoded(maskKey: nil)
            + WebSocketFrame(opcode: .continuation, payload: [euro[1], euro[2]]).encoded(maskKey: nil)
        #expect(try decode(bytes) == [.text("A€")])
    }

    @Test func anyChunkingGivesTheSameMessages() throws {
        let frames: [WebSocketFrame] = [
            .text("first"),
            WebSocketFrame(fin: false, opcode: .binary, payload: [UInt8](repeating: 1, count: 300)),
            WebSocketFrame(opcode: .ping, payload: [9]),
            WebSocketFrame(opcode: .continuation, payload: [UInt8](repeating: 2, count: 70000)),
            .text("ünïcödé €"),
            .close(.goingAway, reason: "bye"),
        ]
        let bytes = frames.flatMap { $0.encoded(maskKey: nil) }
        let expected: [Message] = [.text("first"), .ping([9]),
                                   .binary([UInt8](repeating: 1, count: 300) + [UInt8](repeating: 2, count: 70000)),
                                   .text("ünïcödé €"), .close(code: .goingAway, reason: "bye")]
        #expect(try decode(bytes) == expected)

        var random = SplitMix64(state: 42)
        for _ in 0..<50 {
            var decoder = WebSocketFrameDecoder(maxMessageBytes: 1 << 20)
            var messages: [Message] = []
            var offset = 0
            while offset < bytes.count {
                let size = Int.random(in: 1...(Bool.random(using: &random) ? 3 : 5000), using: &random)
                let end = min(bytes.count, offset + size)
                decoder.append(bytes[offset..<end])
                offset = end
                while let message = try decoder.next() { messages.append(message) }
            }
            #expect(messages == expected)
        }
    }

    @Test func bytesAfterTheUpgradeAnswerAreFrames() throws {
        let handshake = WebSocketHandshake(key: "dGhlIHNhbXBsZSBub25jZQ==")
        let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        let received = Array(answer.utf8) + WebSocketFrame.text("early").encoded(maskKey: nil) + [0x81]
        guard case .complete(let response, let remainder) = try WebSocketHandshake.parse(received) else {
            Issue.record("incomplete")
            return
        }
        try handshake.validate(response)
        var decoder = WebSocketFrameDecoder(maxMessageBytes: 100)
        decoder.append(remainder)
        #expect(try decoder.next() == .text("early"))
        #expect(try decoder.next() == nil)  // half a frame waits for more
        decoder.append([0x02, 0x68, 0x69])
        #expect(try decoder.next() == .text("hi"))
    }

    // MARK: Close frames

    @Test func closeFramesCarryCodeAndReason() throws {
        #expect(WebSocketFrame.close(.normal).payload == [0x03, 0xE8])
        #expect(try decode(WebSocketFrame.close(.policyViolation, reason: "auth").encoded(maskKey: nil))
                == [.close(code: .policyViolation, reason: "auth")])
        #expect(try decode([0x88, 0x00]) == [.close(code: nil, reason: "")])
        #expect(try decode(WebSocketFrame.close(.idleTimeout, reason: "idle timeout").encoded(maskKey: nil))
                == [.close(code: .idleTimeout, reason: "idle timeout")])
        // The reason is cut to 123 bytes without splitting a character.
        let long = WebSocketFrame.close(.normal, reason: String(repeating: "é", count: 100))
        #expect(long.payload.count == 124)
        #expect(UTF8Validator.isValid(long.payload.dropFirst(2)))
    }

    @Test func nothingIsDecodedAfterAClose() throws {
        let bytes = (WebSocketFrame.close(.normal).encoded(maskKey: nil) + WebSocketFrame.text("late").encoded(maskKey: nil))
        #expect(try decode(bytes) == [.close(code: .normal, reason: "")])
    }

    // MARK: Violations

    static func frame(_ first: UInt8, _ payload: [UInt8]) -> [UInt8] { [first, UInt8(payload.count)] + payload }

    @Test(arguments: [
        ("reserved bit 1", frame(0xC1, [0x41]), 1002),
        ("reserved bit 3", frame(0x91, [0x41]), 1002),
        ("opcode 3", frame(0x83, []), 1002),
        ("opcode 0xB", frame(0x8B, []), 1002),
        ("masked server frame", [0x81, 0x81, 1, 2, 3, 4, 0x41], 1002),
        ("ping of 126 bytes", [0x89, 0x7E, 0x00, 0x7E] + [UInt8](repeating: 0, count: 126), 1002),
        ("fragmented ping", frame(0x09, [1]), 1002),
        ("continuation first", frame(0x80, [0x41]), 1002),
        ("text inside a fragmented text", frame(0x01, [0x41]) + frame(0x81, [0x42]), 1002),
        ("64-bit length with the top bit", [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1], 1002),
        ("close with one byte", frame(0x88, [0x03]), 1002),
        ("close code 999", frame(0x88, [0x03, 0xE7]), 1002),
        ("close code 1005", frame(0x88, [0x03, 0xED]), 1002),
        ("close code 1006", frame(0x88, [0x03, 0xEE]), 1002),
        ("close code 2000", frame(0x88, [0x07, 0xD0]), 1002),
        ("close code 5000", frame(0x88, [0x13, 0x88]), 1002),
        ("close reason not UTF-8", frame(0x88, [0x03, 0xE8, 0xC3, 0x28]), 1007),
        ("text C3 28", frame(0x81, [0xC3, 0x28]), 1007),
        ("overlong C0 AF", frame(0x81, [0xC0, 0xAF]), 1007),
        ("overlong E0 80 AF", frame(0x81, [0xE0, 0x80, 0xAF]), 1007),
        ("surrogate ED A0 80", frame(0x81, [0xED, 0xA0, 0x80]), 1007),
        ("above U+10FFFF", frame(0x81, [0xF4, 0x90, 0x80, 0x80]), 1007),
        ("byte FF", frame(0x81, [0xFF]), 1007),
        ("text ending inside a character", frame(0x81, [0x41, 0xE2, 0x82]), 1007),
        ("invalid first fragment", frame(0x01, [0xC3, 0x28]), 1007),
        ("single frame over the limit", [0x82, 0x7E, 0x01, 0x01], 1009),
        ("fragments over the limit", frame(0x02, [UInt8](repeating: 0, count: 100)) + [0x80, 0x7E, 0x00, 0xA0], 1009),
    ] as [(String, [UInt8], UInt16)])
    func violationsFailWithTheirCloseCode(name: String, bytes: [UInt8], code: UInt16) {
        #expect(failure(bytes, max: 256) == code, "\(name)")
    }

    @Test func theLimitIsInclusiveAndOversizeFailsBeforeThePayloadArrives() throws {
        #expect(try decode(WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 0, count: 256)).encoded(maskKey: nil), max: 256).count == 1)
        var decoder = WebSocketFrameDecoder(maxMessageBytes: 1000)
        decoder.append([0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0])  // announces 4 GiB, sends none of it
        #expect(throws: WebSocketFrameDecoder.ProtocolError(closeCode: .messageTooBig, reason: "message larger than 1000 bytes")) {
            try decoder.next()
        }
    }

    @Test func anErrorIsFinal() {
        var decoder = WebSocketFrameDecoder(maxMessageBytes: 100)
        decoder.append([0xC1, 0x00])
        #expect(throws: WebSocketFrameDecoder.ProtocolError.self) { try decoder.next() }
        decoder.append(WebSocketFrame.text("ok").encoded(maskKey: nil))
        #expect(throws: WebSocketFrameDecoder.ProtocolError.self) { try decoder.next() }
    }

    @Test func randomBytesAtRandomSplitsNeverCrashOrHang() {
        var random = SplitMix64(state: 7)
        for round in 0..<2000 {
            let count = Int.random(in: 0...200, using: &random)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Make some rounds start like plausible frames so deeper paths run.
            if round % 2 == 0, !bytes.isEmpty {
                bytes[0] = [0x81, 0x01, 0x82, 0x80, 0x89, 0x8A, 0x88, 0x00][Int.random(in: 0..<8, using: &random)]
                if bytes.count > 1 { bytes[1] &= 0x7F }
            }
            var decoder = WebSocketFrameDecoder(maxMessageBytes: 128)
            var offset = 0
            var failed = false
            while offset < bytes.count && !failed {
                let end = min(bytes.count, offset + Int.random(in: 1...17, using: &random))
                decoder.append(bytes[offset..<end])
                offset = end
                var steps = 0
                do {
                    while try decoder.next() != nil {
                        steps += 1
                        #expect(steps <= bytes.count)  // each message eats at least one byte
                    }
                } catch {
                    #expect([1002, 1007, 1009].contains(error.closeCode.rawValue))
                    failed = true
                }
            }
            #expect(decoder.bufferedByteCount <= bytes.count)
        }
    }

    // MARK: UTF-8

    @Test(arguments: [
        ([], true), ([0x41, 0x7F], true), ([0xC2, 0x80], true), ([0xDF, 0xBF], true), ([0xE0, 0xA0, 0x80], true),
        ([0xED, 0x9F, 0xBF], true), ([0xEE, 0x80, 0x80], true), ([0xF0, 0x90, 0x80, 0x80], true), ([0xF4, 0x8F, 0xBF, 0xBF], true),
        ([0x80], false), ([0xC1, 0xBF], false), ([0xC2], false), ([0xE0, 0x9F, 0xBF], false), ([0xED, 0xBF, 0xBF], false),
        ([0xF0, 0x8F, 0xBF, 0xBF], false), ([0xF5, 0x80, 0x80, 0x80], false), ([0xE2, 0x28, 0xA1], false),
    ] as [([UInt8], Bool)])
    func validatesUTF8(bytes: [UInt8], valid: Bool) {
        #expect(UTF8Validator.isValid(bytes) == valid)
        #expect((String(validatingCString: (bytes + [0]).map { CChar(bitPattern: $0) }) != nil) == valid)  // the stdlib agrees
    }
}
