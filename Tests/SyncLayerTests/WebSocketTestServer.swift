#if os(Linux)
// POSIX sockets through Glibc; the integration tests use the libcurl transport (Linux).
import Foundation
import Glibc
@testable import SyncLayer

/// Thrown by ``within(_:_:)`` when the body takes too long.
struct TestTimeout: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "timed out after \(seconds) s" }
}

/// Runs `body`, failing with ``TestTimeout`` after `seconds` so a broken test stops by itself.
@discardableResult
func within<T: Sendable>(_ seconds: Double = 10, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestTimeout(seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// An append-only log that tests can await entries of.
final class AsyncLog<Element: Sendable>: Sendable {
    private struct State {
        var entries: [Element] = []
        var waiters: [Int: (match: @Sendable ([Element]) -> Bool, continuation: CheckedContinuation<[Element], any Error>)] = [:]
        var next = 0
    }

    private let state = Locked(State())

    var entries: [Element] { state.withLock { $0.entries } }

    func append(_ element: Element) {
        let ready = state.withLock { state in
            state.entries.append(element)
            let entries = state.entries
            let matched = state.waiters.filter { $0.value.match(entries) }
            for key in matched.keys { state.waiters.removeValue(forKey: key) }
            return (entries, matched.values.map(\.continuation))
        }
        for continuation in ready.1 { continuation.resume(returning: ready.0) }
    }

    /// Waits until `match` holds for the whole log; returns the log at that point.
    @discardableResult
    func wait(until match: @escaping @Sendable ([Element]) -> Bool) async throws -> [Element] {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let entries: [Element]? = state.withLock { state in
                    if match(state.entries) { return state.entries }
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return nil
                    }
                    state.waiters[id] = (match, continuation)
                    return nil
                }
                if let entries { continuation.resume(returning: entries) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }
}

/// A WebSocket server for the transport tests: POSIX sockets on 127.0.0.1 (a free port), one
/// thread per connection, and the library's own codec in server mode.
///
/// It echoes text and binary messages, answers pings (or not, or late), and lets a test send raw
/// bytes, fragmented messages, pings and close frames, drop connections, and refuse upgrades.
/// Everything it sees lands in ``log``.
final class WebSocketTestServer: Sendable {
    enum Event: Sendable, Hashable {
        /// Connection `index` upgraded; `target` is the request target, `headers` lowercased names.
        case upgraded(index: Int, target: String, headers: [String: String])
        case refused(index: Int, status: Int)
        /// Connection `index` sent its upgrade request and gets no answer (``Upgrade/hang``).
        case hanging(index: Int)
        case text(index: Int, String)
        case binary(index: Int, [UInt8])
        case ping(index: Int, [UInt8])
        case pong(index: Int, [UInt8])
        case closeReceived(index: Int, code: UInt16?, reason: String)
        case protocolError(index: Int, code: UInt16)
        case disconnected(index: Int)
    }

    /// What to answer an upgrade request with.
    enum Upgrade: Sendable {
        case accept
        /// A non-101 HTTP answer.
        case refuse(status: Int)
        /// 101, then (in the same write) an `error` AUTH_FAILED message and close 1008, as the
        /// reference server does on a bad token.
        case acceptThenRefuseToken
        /// 101 followed, in the same write, by these frames.
        case acceptWith([WebSocketFrame])
        /// No answer at all; the connection stays until the client goes.
        case hang
    }

    enum PongPolicy: Sendable {
        case immediate
        case never
        case after(Duration)
    }

    struct Behavior: Sendable {
        var upgrade: @Sendable (_ index: Int, _ headers: [String: String]) -> Upgrade = { _, _ in .accept }
        var pongs = PongPolicy.immediate
        var echo = true
    }

    let log = AsyncLog<Event>()
    let behavior = Locked(Behavior())
    private let listener: LoopbackListener
    private let connections = Locked<[Int: TestConnection]>([:])

    var port: Int { listener.port }
    var url: URL { URL(string: "ws://127.0.0.1:\(port)/ws")! }

    init() throws {
        listener = try LoopbackListener()
        listener.start { [self] socket, index in
            let connection = TestConnection(fd: socket, index: index, server: self)
            connections.withLock { $0[index] = connection }
            connection.run()
        }
    }

    /// Stops accepting, drops every connection and waits for every server thread to end.
    func stop() async {
        await listener.stop()
    }

    func connection(_ index: Int) -> TestConnection? { connections.withLock { $0[index] } }

    /// How many connections upgraded so far.
    var upgradeCount: Int {
        log.entries.filter { if case .upgraded = $0 { true } else { false } }.count
    }

    /// Waits for upgrade number `index` (0-based) and returns its headers.
    @discardableResult
    func waitForUpgrade(_ index: Int) async throws -> (target: String, headers: [String: String]) {
        let entries = try await log.wait { $0.contains { if case .upgraded(index, _, _) = $0 { true } else { false } } }
        for case .upgraded(index, let target, let headers) in entries { return (target, headers) }
        fatalError("unreachable")
    }

    func waitFor(_ event: Event) async throws {
        try await log.wait { $0.contains(event) }
    }
}

/// One server-side connection; its thread reads, any thread may write.
final class TestConnection: Sendable {
    let index: Int
    private let fd: Int32
    private let server: WebSocketTestServer
    /// Guards writes; `closeSent` once our close frame is out, `finished` once ``run()`` returned
    /// (the listener closes the fd after that).
    private let writeLock = Locked((closeSent: false, finished: false))

    fileprivate init(fd: Int32, index: Int, server: WebSocketTestServer) {
        self.fd = fd
        self.index = index
        self.server = server
    }

    // MARK: Test controls

    func sendRaw(_ bytes: [UInt8]) {
        writeLock.withLock { state in
            if !state.finished { writeAll(bytes) }
        }
    }

    func send(_ frames: [WebSocketFrame]) {
        sendRaw(frames.flatMap { $0.encoded(maskKey: nil) })
    }

    func sendText(_ text: String) { send([.text(text)]) }

    /// Sends a close frame (the connection ends when the client answers).
    func close(_ code: UInt16, reason: String = "") {
        writeLock.withLock { state in
            guard !state.closeSent && !state.finished else { return }
            state.closeSent = true
            writeAll(WebSocketFrame.close(WebSocketCloseCode(code), reason: reason).encoded(maskKey: nil))
        }
    }

    /// Ends the TCP connection without a close frame.
    func drop() {
        writeLock.withLock { state in
            if !state.finished { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    // MARK: Thread

    fileprivate func run() {
        defer {
            writeLock.withLock { state in
                state.finished = true
                shutdown(fd, Int32(SHUT_RDWR))  // the client sees the end now; the listener closes the fd
            }
            server.log.append(.disconnected(index: index))
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // The upgrade request.
        var requestEnd: Range<Int>?
        while requestEnd == nil {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            received += buffer[0..<count]
            if received.count >= 4 && !received.starts(with: Array("GET ".utf8)) { return }  // a TLS hello, say
            requestEnd = received.firstRange(of: [13, 10, 13, 10])
        }
        let head = String(decoding: received[..<requestEnd!.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let target = lines.removeFirst().split(separator: " ").dropFirst().first.map(String.init) ?? ""
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let remainder = Array(received[requestEnd!.upperBound...])
        let behavior = server.behavior.withLock { $0 }
        let accept = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(WebSocketHandshake.accept(for: headers["sec-websocket-key"] ?? ""))\r\n\r\n"
        switch behavior.upgrade(index, headers) {
        case .accept:
            sendRaw(Array(accept.utf8))
        case .refuse(let status):
            server.log.append(.refused(index: index, status: status))
            sendRaw(Array("HTTP/1.1 \(status) Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            return
        case .acceptThenRefuseToken:
            writeLock.withLock { state in
                state.closeSent = true
                let frames: [WebSocketFrame] = [.text(#"{"type":"error","error":"authentication failed","code":"AUTH_FAILED"}"#),
                                                .close(.policyViolation, reason: "authentication failed")]
                writeAll(Array(accept.utf8) + frames.flatMap { $0.encoded(maskKey: nil) })
            }
        case .acceptWith(let frames):
            sendRaw(Array(accept.utf8) + frames.flatMap { $0.encoded(maskKey: nil) })
        case .hang:
            server.log.append(.hanging(index: index))
            while recv(fd, &buffer, buffer.count, 0) > 0 {}
            return
        }
        server.log.append(.upgraded(index: index, target: target, headers: headers))

        var decoder = WebSocketFrameDecoder(role: .server, maxMessageBytes: 1 << 24)
        decoder.append(remainder)
        while true {
            do {
                while let message = try decoder.next() {
                    guard handle(message, behavior: behavior) else { return }
                }
            } catch {
                server.log.append(.protocolError(index: index, code: error.closeCode.rawValue))
                close(error.closeCode.rawValue)
                return
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            decoder.append(buffer[0..<count])
        }
    }

    /// Returns false when the connection is over.
    private func handle(_ message: WebSocketFrameDecoder.Message, behavior: WebSocketTestServer.Behavior) -> Bool {
        switch message {
        case .text(let text):
            server.log.append(.text(index: index, text))
            if behavior.echo { sendText(text) }
        case .binary(let bytes):
            server.log.append(.binary(index: index, bytes))
            if behavior.echo { send([WebSocketFrame(opcode: .binary, payload: bytes)]) }
        case .ping(let payload):
            server.log.append(.ping(index: index, payload))
            let pong = WebSocketFrame(opcode: .pong, payload: payload)
            switch behavior.pongs {
            case .immediate: send([pong])
            case .never: break
            case .after(let delay):
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(delay.components.seconds * 1000
                    + delay.components.attoseconds / 1_000_000_000_000_000))) { [self] in send([pong]) }
            }
        case .pong(let payload):
            server.log.append(.pong(index: index, payload))
        case .close(let code, let reason):
            server.log.append(.closeReceived(index: index, code: code?.rawValue, reason: reason))
            close(code?.rawValue ?? 1000)
            return false
        }
        return true
    }

    private func writeAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 {
                if count < 0 && errno == EINTR { continue }
                return
            }
            offset += count
        }
    }
}
#endif
