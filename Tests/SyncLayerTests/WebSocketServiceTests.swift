#if os(Linux)
// Over the libcurl transport and the POSIX test server: Linux only.
import Foundation
import Testing
@testable import SyncLayer

/// Records everything an `AsyncStream` yields, until stopped.
final class StreamRecorder<Element: Sendable>: Sendable {
    let log = AsyncLog<Element>()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<Element>) {
        let log = log
        task = Task {
            for await element in stream { log.append(element) }
        }
    }

    deinit { task.cancel() }
}

extension StreamRecorder where Element == WebSocketService.State {
    /// Waits for the `n`-th `.connected`.
    func waitForConnected(_ n: Int) async throws {
        try await log.wait { $0.filter { $0 == .connected }.count >= n }
    }

    func waitForError() async throws -> SyncError {
        let states = try await log.wait { $0.contains { if case .error = $0 { true } else { false } } }
        for case .error(let error) in states { return error }
        fatalError("unreachable")
    }
}

/// Counts the calls of a token provider.
final class TokenProvider: Sendable {
    let calls = Locked(0)
    let token: String?

    init(_ token: String?) { self.token = token }

    var provide: @Sendable () async throws -> String {
        { [self] in
            calls.withLock { $0 += 1 }
            guard let token else { throw SyncError.network("no token") }
            return token
        }
    }
}

@Suite struct WebSocketServiceTests {
    func service(_ server: WebSocketTestServer, url: URL? = nil, token: String? = "good", provider: TokenProvider? = nil,
                 allowQueryToken: Bool = false, heartbeat: Duration = .seconds(30), pongTimeout: Duration = .seconds(10),
                 maxAttempts: Int? = nil, maxMessageBytes: Int = 1 << 20) throws -> WebSocketService {
        try WebSocketService(url: url ?? server.url, tokens: TokenStore(token: token, provider: provider?.provide),
                             allowQueryToken: allowQueryToken,
                             configuration: .init(heartbeatInterval: heartbeat, pongTimeout: pongTimeout,
                                                  backoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200)),
                                                  maxReconnectAttempts: maxAttempts),
                             maxMessageBytes: maxMessageBytes, transport: CurlWebSocketTransport(), closeTimeout: .seconds(1))
    }

    @Test func connectsWithTheTokenInTheHeaderAndEchoes() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            let messages = StreamRecorder(socket.messages)
            try await socket.connect()
            #expect(socket.state == .connected)
            let upgrade = try await server.waitForUpgrade(0)
            #expect(upgrade.target == "/ws")
            #expect(upgrade.headers["authorization"] == "Bearer good")
            #expect(upgrade.headers["sec-websocket-version"] == "13")
            try await socket.send("hello")
            try await socket.send("wörld €")
            try await messages.log.wait { $0 == ["hello", "wörld €"] }
            await socket.disconnect()
            try await server.waitFor(.closeReceived(index: 0, code: 1000, reason: ""))
            #expect(socket.state == .disconnected)
        }
        await server.stop()
    }

    @Test func aSubscriberArrivingAfterConnectStillSeesConnectedFirst() async throws {
        // Dart bug B-RT1: the first `.connected` went to nobody, so nothing subscribed.
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            try await socket.connect()
            var states = socket.states.makeAsyncIterator()
            #expect(await states.next() == .connected)
            await socket.disconnect()
            #expect(await states.next() == .disconnected)
        }
        await server.stop()
    }

    @Test func aCancelledConnectThrowsButTheServiceGoesOnUntilDisconnect() async throws {
        let server = try WebSocketTestServer()
        server.behavior.withLock { $0.upgrade = { index, _ in index == 0 ? .hang : .accept } }
        let socket = try service(server)
        try await within {
            let states = StreamRecorder(socket.states)
            let attempt = Task { try await socket.connect() }
            try await server.waitFor(.hanging(index: 0))  // the upgrade request is out, unanswered
            attempt.cancel()
            await #expect(throws: CancellationError.self) { try await attempt.value }
            #expect(states.log.entries == [.disconnected, .connecting])
            await socket.disconnect()  // stops the upgrade that still waits
            try await server.waitFor(.disconnected(index: 0))
            #expect(socket.state == .disconnected)
        }
        await server.stop()
    }

    @Test func theQueryTokenIsSentOnlyWhenAllowed() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server, url: URL(string: "ws://127.0.0.1:\(server.port)/ws?v=2")!, token: "a+b/c=", allowQueryToken: true)
        try await within {
            try await socket.connect()
            let upgrade = try await server.waitForUpgrade(0)
            #expect(upgrade.target == "/ws?v=2&token=a%2Bb%2Fc%3D")
            #expect(upgrade.headers["authorization"] == "Bearer a+b/c=")
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func reassemblesFragmentsAndAnswersPingsInBetween() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            let messages = StreamRecorder(socket.messages)
            try await socket.connect()
            try await server.waitForUpgrade(0)
            server.connection(0)!.send([
                WebSocketFrame(fin: false, opcode: .text, payload: Array("Hello, ".utf8)),
                WebSocketFrame(opcode: .ping, payload: [1, 2, 3]),
                WebSocketFrame(opcode: .continuation, payload: Array("world".utf8)),
            ])
            try await messages.log.wait { $0 == ["Hello, world"] }
            try await server.waitFor(.pong(index: 0, [1, 2, 3]))
            server.connection(0)!.send([WebSocketFrame(opcode: .ping, payload: Array("abc".utf8))])
            try await server.waitFor(.pong(index: 0, Array("abc".utf8)))
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func framesThatCameWithThe101AreDelivered() async throws {
        let server = try WebSocketTestServer()
        server.behavior.withLock { $0.upgrade = { _, _ in .acceptWith([.text("welcome"), .text(#"{"type":"pong","timestamp":"x"}"#), .text("next")]) } }
        let socket = try service(server)
        try await within {
            let messages = StreamRecorder(socket.messages)
            try await socket.connect()
            // The server's answer to a heartbeat is not the app's business.
            try await messages.log.wait { $0 == ["welcome", "next"] }
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func aServerCloseIsAnsweredAndTheServiceReconnects() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            let states = StreamRecorder(socket.states)
            try await socket.connect()
            try await server.waitForUpgrade(0)
            server.connection(0)!.close(1001, reason: "going away")
            try await server.waitFor(.closeReceived(index: 0, code: 1001, reason: ""))  // the client's echo
            try await server.waitForUpgrade(1)
            try await states.waitForConnected(2)
            #expect(states.log.entries == [.disconnected, .connecting, .connected, .reconnecting, .connected])
            #expect(socket.lastError?.code == "1001")
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func aDroppedConnectionReconnectsAndPublishesConnectedAgain() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            let states = StreamRecorder(socket.states)
            try await socket.connect()
            try await server.waitForUpgrade(0)
            server.connection(0)!.drop()
            try await states.waitForConnected(2)
            #expect(states.log.entries == [.disconnected, .connecting, .connected, .reconnecting, .connected])
            #expect(socket.lastError?.kind == .network)
            try await socket.send("after")
            try await server.waitFor(.text(index: 1, "after"))
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func aConnectionWithoutPongsIsDeclaredDeadAndReplaced() async throws {
        let server = try WebSocketTestServer()
        server.behavior.withLock { $0.pongs = .never }
        let socket = try service(server, heartbeat: .milliseconds(100), pongTimeout: .milliseconds(200))
        try await within {
            let states = StreamRecorder(socket.states)
            try await socket.connect()
            try await server.waitFor(.text(index: 0, #"{"type":"ping"}"#))  // the heartbeat message
            try await server.log.wait { $0.contains { if case .ping(0, _) = $0 { true } else { false } } }
            try await server.waitForUpgrade(1)
            try await states.waitForConnected(2)
            #expect(socket.lastError?.message.contains("no pong") == true)
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func latePongsWithinTheTimeoutKeepTheConnection() async throws {
        let server = try WebSocketTestServer()
        server.behavior.withLock { $0.pongs = .after(.milliseconds(50)) }
        let socket = try service(server, heartbeat: .milliseconds(60), pongTimeout: .seconds(2))
        try await within {
            try await socket.connect()
            // Five heartbeats answered late but in time: still the first connection.
            try await server.log.wait { $0.filter { if case .ping(0, _) = $0 { true } else { false } }.count >= 5 }
            #expect(server.upgradeCount == 1)
            #expect(socket.state == .connected)
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func aTokenRefusedWith1008IsRefreshedOnce() async throws {
        let server = try WebSocketTestServer()
        server.behavior.withLock { $0.upgrade = { _, headers in headers["authorization"] == "Bearer good" ? .accept : .acceptThenRefuseToken } }
        let provider = TokenProvider("good")
        let socket = try service(server, token: "stale", provider: provider)
        try await within {
            let states = StreamRecorder(socket.states)
            try await socket.connect()  // the upgrade succeeds; the refusal comes after it
            try await states.waitForConnected(2)
            #expect(try await server.waitForUpgrade(1).headers["authorization"] == "Bearer good")
            #expect(provider.calls.withLock { $0 } == 1)
            #expect(states.log.entries == [.disconnected, .connecting, .connected, .reconnecting, .connected])
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func aRefusalWithoutANewTokenEndsInError() async throws {
        let server = try WebSocketTestServer()
        server.behavior.withLock { $0.upgrade = { _, _ in .refuse(status: 401) } }
        let provider = TokenProvider(nil)
        let socket = try service(server, token: "stale", provider: provider)
        try await within {
            await #expect { try await socket.connect() } throws: { ($0 as? SyncError)?.kind == .unauthorized }
            guard case .error(let error) = socket.state else {
                Issue.record("state \(socket.state)")
                return
            }
            #expect(error.kind == .unauthorized)
            #expect(provider.calls.withLock { $0 } == 1)
            #expect(server.log.entries.filter { if case .refused = $0 { true } else { false } }.count == 1)  // no retry
            await socket.disconnect()
            #expect(socket.state == .disconnected)
        }
        await server.stop()
    }

    @Test func disconnectClosesWith1000AndNothingReconnects() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            try await socket.connect()
            await socket.disconnect()
            try await server.waitFor(.closeReceived(index: 0, code: 1000, reason: ""))
            try await server.waitFor(.disconnected(index: 0))
            await #expect(throws: SyncError.self) { try await socket.send("dropped?") }
            // With a 20 ms backoff, a reconnect would have come many times over.
            try await Task.sleep(for: .milliseconds(300))
            #expect(server.upgradeCount == 1)
            #expect(socket.state == .disconnected)
            // connect() works again afterwards.
            try await socket.connect()
            try await server.waitForUpgrade(1)
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func aDropInsideAFrameDeliversNothingPartialAndReconnects() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            let messages = StreamRecorder(socket.messages)
            let states = StreamRecorder(socket.states)
            try await socket.connect()
            try await server.waitForUpgrade(0)
            let whole = WebSocketFrame.text("complete").encoded(maskKey: nil)
            let fragment = WebSocketFrame(fin: false, opcode: .text, payload: Array("first half, ".utf8)).encoded(maskKey: nil)
            let cut = WebSocketFrame(opcode: .continuation, payload: [UInt8](repeating: 0x61, count: 1000)).encoded(maskKey: nil)
            server.connection(0)!.sendRaw(whole + fragment + Array(cut.prefix(500)))
            server.connection(0)!.drop()
            try await states.waitForConnected(2)
            server.connection(1)!.sendText("after")
            try await messages.log.wait { $0.last == "after" }
            #expect(messages.log.entries == ["complete", "after"])
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func largeMessagesGoBothWaysWhileTheSocketIsFull() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server, maxMessageBytes: 8 << 20)
        try await within(30) {
            let messages = StreamRecorder(socket.messages)
            try await socket.connect()
            let big = String(repeating: "0123456789abcdef", count: 256 * 1024)  // 4 MiB
            async let first: Void = socket.send(big)
            async let second: Void = socket.send("small")
            _ = try await (first, second)
            try await messages.log.wait { $0.count == 2 }
            #expect(Set(messages.log.entries) == [big, "small"])
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func anOversizeMessageClosesWith1009() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server, maxMessageBytes: 1000)
        try await within {
            try await socket.connect()
            try await server.waitForUpgrade(0)
            server.connection(0)!.sendText(String(repeating: "x", count: 2000))
            try await server.waitFor(.closeReceived(index: 0, code: 1009, reason: "message larger than 1000 bytes"))
            try await server.waitForUpgrade(1)
            #expect(socket.lastError?.code == "1009")
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func invalidUTF8ClosesWith1007() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        try await within {
            try await socket.connect()
            try await server.waitForUpgrade(0)
            server.connection(0)!.sendRaw([0x81, 0x02, 0xC3, 0x28])
            try await server.waitFor(.closeReceived(index: 0, code: 1007, reason: "text message is not UTF-8"))
            try await server.waitForUpgrade(1)
            await socket.disconnect()
        }
        await server.stop()
    }

    @Test func sendThrowsWhenNotConnected() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server)
        await #expect { try await socket.send("x") } throws: { ($0 as? SyncError)?.kind == .network }
        await server.stop()
    }

    @Test func aFailedFirstConnectThrowsAndReconnectsUntilTheLimit() async throws {
        let server = try WebSocketTestServer()
        let url = server.url
        await server.stop()  // nothing listens on the port any more
        let socket = try service(server, url: url, maxAttempts: 2)
        try await within {
            let states = StreamRecorder(socket.states)
            await #expect { try await socket.connect() } throws: { ($0 as? SyncError)?.kind == .network }
            let error = try await states.waitForError()
            #expect(error.message.contains("gave up after 2"))
            #expect(states.log.entries.first { $0 == .reconnecting } != nil)
        }
    }

    @Test func wssToAPlainServerIsATLSError() async throws {
        let server = try WebSocketTestServer()
        let socket = try service(server, url: URL(string: "wss://127.0.0.1:\(server.port)/ws")!, maxAttempts: 0)
        try await within {
            await #expect { try await socket.connect() } throws: { ($0 as? SyncError)?.kind == .tls }
        }
        await server.stop()
    }

    @Test func releasingTheServiceClosesTheConnectionAndEndsItsStreams() async throws {
        let server = try WebSocketTestServer()
        var socket: WebSocketService? = try service(server)
        let states = socket!.states
        let messages = socket!.messages
        try await within { [socket] in try await socket!.connect() }
        socket = nil
        try await within {
            for await _ in states {}
            for await _ in messages {}
            try await server.waitFor(.closeReceived(index: 0, code: 1000, reason: ""))
        }
        await server.stop()
    }

    @Test func theURLMustBeAWebSocketOrHTTPURL() {
        #expect(throws: SyncLayerError.self) { try WebSocketService(url: URL(string: "ftp://example.com/ws")!) }
        #expect(throws: SyncLayerError.self) { try WebSocketService(url: URL(string: "wss://example.com/ws")!, heartbeatInterval: .zero) }
        #expect(throws: Never.self) { try WebSocketService(url: URL(string: "https://example.com/ws")!) }
    }

    @Test func urlsMapToTheSchemeEachTransportNeeds() {
        #expect(WebSocketRequest(url: URL(string: "ws://h:1/ws")!).httpURL.absoluteString == "http://h:1/ws")
        #expect(WebSocketRequest(url: URL(string: "wss://h/ws?a=1")!).httpURL.absoluteString == "https://h/ws?a=1")
        #expect(WebSocketRequest(url: URL(string: "https://h/ws")!).httpURL.absoluteString == "https://h/ws")
        #expect(WebSocketRequest(url: URL(string: "http://h/ws")!).webSocketURL.absoluteString == "ws://h/ws")
    }
}
#endif
