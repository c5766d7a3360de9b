#if canImport(CCurl)
import CCurl
import Foundation
import Glibc

/// WebSockets over libcurl on Linux: curl opens TCP or TLS (`CURLOPT_CONNECT_ONLY`) with its
/// certificate and host-name checks and the proxy from the environment, and our RFC 6455 code
/// does the upgrade and the framing over `curl_easy_send`/`curl_easy_recv`.
///
/// Debian's libcurl has no ws/wss support, so `URLSessionWebSocketTask` fails on Linux; this
/// needs only the http(s) part every libcurl has. Each connection runs one I/O thread that
/// waits in `poll()` on the socket and a wake-up `eventfd`; nothing spins.
struct CurlWebSocketTransport: WebSocketTransport {
    /// A PEM bundle of CA certificates to trust instead of the system's (tests, private CAs).
    var caBundlePath: String?

    init(caBundlePath: String? = nil) {
        self.caBundlePath = caBundlePath
    }

    func open(_ request: WebSocketRequest, events: @escaping @Sendable (WebSocketTransportEvent) -> Void) -> any WebSocketConnection {
        let connection = CurlWebSocketConnection(request: request, caBundlePath: caBundlePath, events: events)
        connection.start()
        return connection
    }
}

/// One libcurl WebSocket connection and its I/O thread.
///
/// `@unchecked Sendable` is safe because the curl handle, the socket, the decoder and the write
/// queue (`io`) are touched only by the connection's own I/O thread (libcurl forbids using one
/// easy handle from two threads at once); other threads talk to it only through `shared`,
/// which is `Locked`, and the wake-up `eventfd`, written and closed only under that lock.
final class CurlWebSocketConnection: WebSocketConnection, @unchecked Sendable {
    private struct Shared {
        enum Phase { case opening, open, closing, finished }
        enum CloseRequest { case close(WebSocketCloseCode, String), abort }

        var phase = Phase.opening
        /// Encoded frames waiting for the I/O thread, each with its sender (nil for our own pongs).
        var outbound: [(bytes: [UInt8], sender: CheckedContinuation<Void, any Error>?)] = []
        var closeRequest: CloseRequest?
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// State of the I/O thread only.
    private struct IO {
        var handle: UnsafeMutableRawPointer?
        var socket: Int32 = -1
        var writes: [(bytes: [UInt8], sent: Int, sender: CheckedContinuation<Void, any Error>?)] = []
        var closeSent = false
        var closeReceived: (code: WebSocketCloseCode?, reason: String)?
        /// Set when the connection must end once the writes are flushed.
        var closing: WebSocketClosure?
        var deadline: ContinuousClock.Instant?
    }

    private let request: WebSocketRequest
    private let caBundlePath: String?
    private let events: @Sendable (WebSocketTransportEvent) -> Void
    private let shared = Locked(Shared())
    private let wakeDescriptor: Int32
    private var io = IO()
    private var decoder: WebSocketFrameDecoder
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)

    init(request: WebSocketRequest, caBundlePath: String?, events: @escaping @Sendable (WebSocketTransportEvent) -> Void) {
        self.request = request
        self.caBundlePath = caBundlePath
        self.events = events
        self.decoder = WebSocketFrameDecoder(role: .client, maxMessageBytes: request.maxMessageBytes)
        self.wakeDescriptor = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
        readBuffer.deallocate()
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "SyncLayer.WebSocket"
        thread.start()
    }

    // MARK: Other threads

    func send(text: String) async throws {
        try await enqueue(WebSocketFrame.text(text))
    }

    func sendPing() async throws {
        try await enqueue(WebSocketFrame(opcode: .ping, payload: Array("synclayer".utf8)))
    }

    func close(_ code: WebSocketCloseCode, reason: String) async {
        await finish(.close(code, reason))
    }

    func abort() async {
        await finish(.abort)
    }

    private func enqueue(_ frame: WebSocketFrame) async throws {
        let bytes = frame.encoded(maskKey: WebSocketFrame.randomMaskKey())
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = shared.withLock { shared in
                guard shared.phase == .open else { return false }
                shared.outbound.append((bytes, continuation))
                wake()
                return true
            }
            if !accepted { continuation.resume(throwing: SyncError.webSocketNotConnected) }
        }
    }

    private func finish(_ request: Shared.CloseRequest) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = shared.withLock { shared in
                guard shared.phase != .finished else { return true }
                shared.closeWaiters.append(continuation)
                if case .abort = request { shared.closeRequest = request } else if shared.closeRequest == nil { shared.closeRequest = request }
                if shared.phase == .open { shared.phase = .closing }
                wake()
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Wakes the I/O thread. Called with `shared` locked: the thread closes the descriptor
    /// under the same lock, so a late wake-up never writes to a closed (or reused) descriptor.
    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeDescriptor, &one, 8)
    }

    // MARK: I/O thread

    private func run() {
        let closure = runConnection()
        if let handle = io.handle { curl_easy_cleanup(handle) }
        io.handle = nil
        let (waiters, unsent) = shared.withLock { shared in
            shared.phase = .finished
            Glibc.close(wakeDescriptor)
            defer { shared.closeWaiters = []; shared.outbound = [] }
            return (shared.closeWaiters, shared.outbound.compactMap(\.sender))
        }
        for sender in unsent + io.writes.compactMap(\.sender) { sender.resume(throwing: SyncError.webSocketNotConnected) }
        io.writes = []
        events(.closed(closure))
        for waiter in waiters { waiter.resume() }
    }

    private func runConnection() -> WebSocketClosure {
        guard wakeDescriptor >= 0, Curl.isReady, let handle = curl_easy_init() else {
            return WebSocketClosure(code: nil, wasOpen: false, error: .network("libcurl could not start a connection"))
        }
        io.handle = handle
        let openDeadline = ContinuousClock.now + request.openTimeout
        if let failure = connect(handle) { return failure }
        var socket: curl_socket_t = -1
        guard ccurl_active_socket(handle, &socket) == CURLE_OK, socket >= 0 else {
            return WebSocketClosure(code: nil, wasOpen: false, error: .network("libcurl gave no socket"))
        }
        io.socket = socket
        if let failure = upgrade(until: openDeadline) { return failure }

        let opened = shared.withLock { shared in
            guard shared.closeRequest == nil else { return false }
            shared.phase = .open
            return true
        }
        guard opened else { return WebSocketClosure(code: nil, wasOpen: false, error: .network("the WebSocket was closed while opening")) }
        events(.opened)
        return loop()
    }

    /// TCP, TLS and proxy, by libcurl. Returns the failure, or nil when connected.
    private func connect(_ handle: UnsafeMutableRawPointer) -> WebSocketClosure? {
        ccurl_setopt_string(handle, CURLOPT_URL, request.httpURL.absoluteString)
        ccurl_setopt_long(handle, CURLOPT_CONNECT_ONLY, 1)
        ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        // A ws:// connection through an HTTP proxy must be a CONNECT tunnel too (wss always is).
        ccurl_setopt_long(handle, CURLOPT_HTTPPROXYTUNNEL, 1)
        ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(request.openTimeout.milliseconds)))
        ccurl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
        // TLS offers only http/1.1 in ALPN: a server that picked h2 could not take our upgrade.
        ccurl_setopt_long(handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        // curl's defaults, stated: the certificate chain and the host name are checked.
        ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        if let caBundlePath { ccurl_setopt_string(handle, CURLOPT_CAINFO, caBundlePath) }
        // The progress callback lets close() stop a slow connect.
        ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, Unmanaged.passUnretained(self).toOpaque())
        ccurl_setopt_xferinfo(handle) { context, _, _, _, _ in
            guard let context else { return 0 }
            let connection = Unmanaged<CurlWebSocketConnection>.fromOpaque(context).takeUnretainedValue()
            return connection.shared.withLock { $0.closeRequest == nil } ? 0 : 1
        }
        let code = curl_easy_perform(handle)
        guard code != CURLE_OK else { return nil }
        return WebSocketClosure(code: nil, wasOpen: false, error: Curl.error(code, detail: errorBuffer))
    }

    /// Sends the upgrade request and reads the 101 answer; frames after it go to the decoder.
    private func upgrade(until deadline: ContinuousClock.Instant) -> WebSocketClosure? {
        func failed(_ error: SyncError) -> WebSocketClosure { WebSocketClosure(code: nil, wasOpen: false, error: error) }
        let handshake = WebSocketHandshake()
        do {
            io.writes = [(try handshake.request(for: request.url, headers: request.headers), 0, nil)]
        } catch {
            return failed(error)
        }
        io.deadline = deadline
        var received: [UInt8] = []
        while true {
            if shared.withLock({ $0.closeRequest != nil }) { return failed(.network("the WebSocket was closed while opening")) }
            if let error = flushWrites() { return failed(error) }
            switch readAvailable() {
            case .failed(let error): return failed(error)
            case .bytes(let bytes, let more):
                received += bytes
                do {
                    if case .complete(let response, let remainder) = try WebSocketHandshake.parse(received) {
                        try handshake.validate(response)
                        decoder.append(remainder)
                        io.deadline = nil
                        return nil
                    }
                } catch {
                    return failed(error)
                }
                if more { continue }
            case .endOfStream:
                return failed(.network("the server closed the connection during the WebSocket upgrade"))
            }
            if !wait() { return failed(.network("the WebSocket upgrade timed out")) }
        }
    }

    /// The open connection: writes, reads, control frames and the close handshake.
    private func loop() -> WebSocketClosure {
        while true {
            takeRequests()
            if let error = flushWrites() {
                return io.closing ?? WebSocketClosure(code: .abnormal, wasOpen: true, error: error)
            }
            if let closing = io.closing {
                // Only our last frames (a close, a pong) are left to write.
                if io.writes.isEmpty { return closing }
                if io.deadline == nil { io.deadline = .now + request.closeTimeout }
                if !wait() { return closing }
                continue
            }
            var more = false
            switch readAvailable() {
            case .failed(let error):
                return WebSocketClosure(code: .abnormal, wasOpen: true, error: error)
            case .endOfStream:
                return WebSocketClosure(code: .abnormal, wasOpen: true, error: .network("the server dropped the WebSocket connection"))
            case .bytes(let bytes, let hasMore):
                more = hasMore
                decoder.append(bytes)
                drainDecoder()
            }
            if io.closing != nil || more { continue }
            if !wait() {
                // The server did not answer our close frame in time.
                return WebSocketClosure(code: closeRequestCode(), wasOpen: true)
            }
        }
    }

    private func closeRequestCode() -> WebSocketCloseCode {
        if case .close(let code, _)? = shared.withLock({ $0.closeRequest }) { return code }
        return .abnormal
    }

    private func takeRequests() {
        let (frames, closeRequest) = shared.withLock { shared in
            defer { shared.outbound = [] }
            return (shared.outbound, shared.closeRequest)
        }
        for frame in frames {
            if io.closeSent {
                frame.sender?.resume(throwing: SyncError.webSocketNotConnected)
            } else {
                io.writes.append((frame.bytes, 0, frame.sender))
            }
        }
        switch closeRequest {
        case .abort?:
            if io.closing == nil {
                io.closing = WebSocketClosure(code: .abnormal, wasOpen: true, error: .network("the WebSocket connection was abandoned"))
            }
            for write in io.writes { write.sender?.resume(throwing: SyncError.webSocketNotConnected) }
            io.writes = []
        case .close(let code, let reason)? where !io.closeSent:
            sendClose(code, reason: reason)
            io.deadline = .now + request.closeTimeout
            if io.closeReceived != nil { io.closing = WebSocketClosure(code: code, reason: reason, wasOpen: true) }
        default:
            break
        }
    }

    private func sendClose(_ code: WebSocketCloseCode, reason: String) {
        io.closeSent = true
        io.writes.append((WebSocketFrame.close(code, reason: reason).encoded(maskKey: WebSocketFrame.randomMaskKey()), 0, nil))
    }

    private func drainDecoder() {
        while io.closing == nil {
            let message: WebSocketFrameDecoder.Message?
            do {
                message = try decoder.next()
            } catch {
                // Fail the connection (RFC 6455 §7.1.7): our close frame with the code, then the socket.
                if !io.closeSent { sendClose(error.closeCode, reason: error.reason) }
                io.closing = WebSocketClosure(code: error.closeCode, reason: error.reason, wasOpen: true,
                                              error: SyncError(kind: .invalidResponse, code: String(error.closeCode.rawValue),
                                                               message: error.reason, isRetryable: true))
                return
            }
            guard let message else { return }
            switch message {
            case .text(let text): events(.text(text))
            case .binary(let bytes): events(.binary(bytes))
            case .pong: events(.pong)
            case .ping(let payload):
                if !io.closeSent { io.writes.append((WebSocketFrame(opcode: .pong, payload: payload).encoded(maskKey: WebSocketFrame.randomMaskKey()), 0, nil)) }
            case .close(let code, let reason):
                io.closeReceived = (code, reason)
                shared.withLock { if $0.phase == .open { $0.phase = .closing } }
                if !io.closeSent { sendClose(code ?? .normal, reason: "") }
                io.closing = WebSocketClosure(code: code ?? .noStatus, reason: reason, wasOpen: true)
            }
        }
    }

    private enum ReadResult {
        case bytes([UInt8], more: Bool)
        case endOfStream
        case failed(SyncError)
    }

    /// Reads what is available without blocking (libcurl first: TLS may hold decrypted bytes
    /// that `poll()` cannot see). `more` says the read stopped early to let writes through.
    private func readAvailable() -> ReadResult {
        guard let handle = io.handle else { return .endOfStream }
        var bytes: [UInt8] = []
        for _ in 0..<16 {
            var count = 0
            let code = curl_easy_recv(handle, readBuffer.baseAddress, readBuffer.count, &count)
            if code == CURLE_AGAIN { return .bytes(bytes, more: false) }
            guard code == CURLE_OK else {
                if !bytes.isEmpty { return .bytes(bytes, more: true) }
                return .failed(.network("reading the WebSocket failed: \(String(cString: curl_easy_strerror(code)))"))
            }
            if count == 0 { return bytes.isEmpty ? .endOfStream : .bytes(bytes, more: true) }
            bytes += readBuffer[0..<count]
        }
        return .bytes(bytes, more: true)
    }

    /// Writes queued bytes until done or the socket is full; resumes each sender once its frame is out.
    private func flushWrites() -> SyncError? {
        guard let handle = io.handle else { return .network("no connection") }
        while !io.writes.isEmpty {
            let (frame, sent, sender) = io.writes[0]
            var count = 0
            let code = frame.withUnsafeBytes { curl_easy_send(handle, $0.baseAddress! + sent, $0.count - sent, &count) }
            if code == CURLE_AGAIN { return nil }
            guard code == CURLE_OK else {
                return .network("writing to the WebSocket failed: \(String(cString: curl_easy_strerror(code)))")
            }
            if sent + count < frame.count {
                io.writes[0].sent = sent + count
                continue
            }
            io.writes.removeFirst()
            sender?.resume()
        }
        return nil
    }

    /// Waits for the socket (readable, or writable when writes are pending), a wake-up, or the
    /// deadline. Returns false when the deadline passed (or `poll` itself failed).
    private func wait() -> Bool {
        var descriptors = [
            pollfd(fd: io.socket, events: Int16(POLLIN) | (io.writes.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
            pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        var timeout: Int32 = -1
        if let deadline = io.deadline {
            let remaining = (deadline - .now).milliseconds
            if remaining <= 0 { return false }
            timeout = Int32(clamping: remaining + 1)
        }
        let result = poll(&descriptors, 2, timeout)
        if result < 0 && errno != EINTR { return false }
        if descriptors[1].revents != 0 {
            var value: UInt64 = 0
            _ = Glibc.read(wakeDescriptor, &value, 8)
        }
        if result == 0, let deadline = io.deadline, deadline <= .now { return false }
        return true
    }
}
#endif
