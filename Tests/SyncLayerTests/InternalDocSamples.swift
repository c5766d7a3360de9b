// The samples in the doc comments of internal types, word for word, so that the compiler checks them
// (DocSampleTests finds them here). Nothing calls these functions.
import Foundation
@testable import SyncLayer

private func webSocketFrameDecoderDocComment(bytesFromSocket: [UInt8], handle: (WebSocketFrameDecoder.Message) -> Void) throws {
    var decoder = WebSocketFrameDecoder(maxMessageBytes: 1 << 20)
    decoder.append(bytesFromSocket)
    while let message = try decoder.next() { handle(message) }
}

private func webSocketHandshakeDocComment(url: URL, token: String, received: [UInt8], send: ([UInt8]) -> Void) throws {
    var decoder = WebSocketFrameDecoder(maxMessageBytes: 1 << 20)
    let handshake = WebSocketHandshake()
    send(try handshake.request(for: url, headers: [("Authorization", "Bearer \(token)")]))
    if case .complete(let response, let rest) = try WebSocketHandshake.parse(received) {
        try handshake.validate(response)   // 101, Upgrade, Connection, Sec-WebSocket-Accept
        decoder.append(rest)               // frames that came with the answer
    }
}
