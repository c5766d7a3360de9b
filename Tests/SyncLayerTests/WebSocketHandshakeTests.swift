import Foundation
import Testing
@testable import SyncLayer

@Suite struct WebSocketHandshakeTests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        ("The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
    ])
    func sha1MatchesTheFIPSVectors(input: String, digest: String) {
        #expect(Self.hex(SHA1.digest(Array(input.utf8))) == digest)
    }

    @Test func sha1OfAMillionAs() {
        #expect(Self.hex(SHA1.digest([UInt8](repeating: 0x61, count: 1_000_000))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test func sha1HandlesEveryPaddingBoundary() {
        // 55, 56 and 64 bytes straddle the length field; compare against known digests.
        #expect(Self.hex(SHA1.digest([UInt8](repeating: 0x61, count: 55))) == "c1c8bbdc22796e28c0e15163d20899b65621d65a")
        #expect(Self.hex(SHA1.digest([UInt8](repeating: 0x61, count: 56))) == "c2db330f6083854c99d4b5bfb6e8f29f201be699")
        #expect(Self.hex(SHA1.digest([UInt8](repeating: 0x61, count: 64))) == "0098ba824b5c16427bd7a1122a5a442a25ec644d")
    }

    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func base64MatchesRFC4648(input: String, output: String) {
        #expect(Base64.encode(Array(input.utf8)) == output)
    }

    @Test func base64AgreesWithFoundation() {
        var random = SplitMix64(state: 1)
        for count in 0..<100 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
        }
    }

    @Test func acceptMatchesTheRFC6455Example() {
        #expect(WebSocketHandshake.accept(for: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func keysAreSixteenRandomBytes() {
        let keys = (0..<8).map { _ in WebSocketHandshake.randomKey() }
        #expect(Set(keys).count == 8)
        for key in keys { #expect(Data(base64Encoded: key)?.count == 16) }
    }

    @Test func theRequestIsAnUpgradeWithTheGivenHeaders() throws {
        let handshake = WebSocketHandshake(key: "dGhlIHNhbXBsZSBub25jZQ==")
        let request = String(decoding: try handshake.request(for: URL(string: "wss://example.com:8443/ws?v=2")!,
                                                             headers: [("Authorization", "Bearer t0k")]), as: UTF8.self)
        #expect(request == "GET /ws?v=2 HTTP/1.1\r\nHost: example.com:8443\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer t0k\r\n\r\n")
        let plain = String(decoding: try handshake.request(for: URL(string: "http://example.com:80")!), as: UTF8.self)
        #expect(plain.hasPrefix("GET / HTTP/1.1\r\nHost: example.com\r\n"))
        let secure = String(decoding: try handshake.request(for: URL(string: "https://example.com:443/a%20b")!), as: UTF8.self)
        #expect(secure.hasPrefix("GET /a%20b HTTP/1.1\r\nHost: example.com\r\n"))
    }

    @Test func headersThatWouldBreakTheRequestAreRefused() {
        let handshake = WebSocketHandshake()
        let url = URL(string: "ws://example.com/ws")!
        #expect(throws: SyncError.self) { try handshake.request(for: url, headers: [("Authorization", "Bearer a\r\nX-Evil: 1")]) }
        #expect(throws: SyncError.self) { try handshake.request(for: url, headers: [("Bad Name", "x")]) }
    }

    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    func answer(_ headers: [String], status: String = "101 Switching Protocols") -> [UInt8] {
        Array((["HTTP/1.1 \(status)"] + headers).joined(separator: "\r\n").utf8) + Array("\r\n\r\n".utf8)
    }

    func validate(_ bytes: [UInt8]) throws {
        guard case .complete(let response, _) = try WebSocketHandshake.parse(bytes) else { throw SyncError.network("incomplete") }
        try WebSocketHandshake(key: Self.key).validate(response)
    }

    @Test func acceptsAValid101() throws {
        try validate(answer(["upgrade: WebSocket", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]))
        #expect(try WebSocketHandshake.parse(Array("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n".utf8)) == .incomplete)
    }

    @Test(arguments: [
        (["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: wrong"], SyncError.Kind.invalidResponse),
        (["Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], .invalidResponse),
        (["Upgrade: websocket", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="], .invalidResponse),
        (["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
          "Sec-WebSocket-Extensions: permessage-deflate"], .invalidResponse),
    ])
    func refusesA101ThatDoesNotMatch(headers: [String], kind: SyncError.Kind) {
        #expect { try validate(answer(headers)) } throws: { ($0 as? SyncError)?.kind == kind }
    }

    @Test(arguments: [(401, SyncError.Kind.unauthorized), (403, .unauthorized), (400, .http), (404, .http), (503, .http)])
    func aStatusOtherThan101IsTyped(status: Int, kind: SyncError.Kind) {
        #expect { try validate(answer(["Content-Length: 0"], status: "\(status) No")) } throws: {
            ($0 as? SyncError)?.kind == kind && ($0 as? SyncError)?.status == status
        }
    }

    @Test func malformedOrOversizeAnswersAreInvalid() {
        #expect(throws: SyncError.self) { try WebSocketHandshake.parse(Array("SSH-2.0\r\n\r\n".utf8)) }
        #expect(throws: SyncError.self) { try WebSocketHandshake.parse([UInt8](repeating: 0x41, count: 20_000)) }
        #expect(throws: SyncError.self) { try WebSocketHandshake.parse(answer(["no colon here"])) }
    }
}
