#if canImport(Darwin) || SYNCLAYER_URLSESSION_WEBSOCKET
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// WebSockets over `URLSessionWebSocketTask`, for Apple platforms.
///
/// (On Linux it fails with Debian's libcurl, which lacks WebSocket support; there
/// ``CurlWebSocketTransport`` is the transport. Build with `-DSYNCLAYER_URLSESSION_WEBSOCKET`
/// to compile this one on Linux too.)
struct URLSessionWebSocketTransport: WebSocketTransport {
    func open(_ request: WebSocketRequest, events: @escaping @Sendable (WebSocketTransportEvent) -> Void) -> any WebSocketConnection {
        let connection = URLSessionWebSocketConnection(request: request, events: events)
        connection.start()
        return connection
    }
}

/// One `URLSessionWebSocketTask` and the session that owns it.
///
/// `@unchecked Sendable` is safe because the mutable state lives in `state` (`Locked`); the
/// session and task are thread-safe Foundation objects, and the delegate callbacks and the
/// receive loop only go through `state` to decide which single `.closed` event to report.
final class URLSessionWebSocketConnection: NSObject, WebSocketConnection, URLSessionWebSocketDelegate, @unchecked Sendable {
    private struct State {
        var opened = false
        var finished = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let request: WebSocketRequest
    private let events: @Sendable (WebSocketTransportEvent) -> Void
    private let state = Locked(State())
    private var session: URLSession!
    private var task: URLSessionWebSocketTask!

    init(request: WebSocketRequest, events: @escaping @Sendable (WebSocketTransportEvent) -> Void) {
        self.request = request
        self.events = events
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = Double(request.openTimeout.milliseconds) / 1000
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
        var urlRequest = URLRequest(url: request.webSocketURL)
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        task = session.webSocketTask(with: urlRequest)
        task.maximumMessageSize = request.maxMessageBytes
    }

    func start() {
        task.resume()
    }

    func send(text: String) async throws {
        guard state.withLock({ $0.opened && !$0.finished }) else { throw SyncError.webSocketNotConnected }
        do {
            try await task.send(.string(text))
        } catch {
            throw SyncError.network("sending on the WebSocket failed: \(error.localizedDescription)")
        }
    }

    func sendPing() async throws {
        guard state.withLock({ $0.opened && !$0.finished }) else { throw SyncError.webSocketNotConnected }
        task.sendPing { [weak self] error in
            if error == nil { self?.deliver(.pong) }
        }
    }

    func close(_ code: WebSocketCloseCode, reason: String) async {
        await waitForEnd {
            self.task.cancel(with: URLSessionWebSocketTask.CloseCode(rawValue: Int(code.rawValue)) ?? .normalClosure,
                             reason: Data(reason.utf8))
        }
    }

    func abort() async {
        await waitForEnd { self.task.cancel() }
    }

    private func waitForEnd(_ stop: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let finished = state.withLock { state in
                if !state.finished { state.closeWaiters.append(continuation) }
                return state.finished
            }
            if finished { continuation.resume() } else { stop() }
        }
    }

    private func receive() {
        task.receive { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(.string(let text)):
                deliver(.text(text))
                receive()
            case .success(.data(let data)):
                deliver(.binary(Array(data)))
                receive()
            case .success:
                receive()
            case .failure:
                break  // the delegate reports how the connection ended
            }
        }
    }

    private func deliver(_ event: WebSocketTransportEvent) {
        guard state.withLock({ !$0.finished }) else { return }
        events(event)
    }

    private func finish(_ closure: WebSocketClosure) {
        let waiters: [CheckedContinuation<Void, Never>]? = state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.closeWaiters = [] }
            return state.closeWaiters
        }
        guard let waiters else { return }
        session.invalidateAndCancel()
        events(.closed(closure))
        for waiter in waiters { waiter.resume() }
    }

    // MARK: URLSessionWebSocketDelegate

    func urlSession(_ session: URLSession, webSocketTask: URLSessionWebSocketTask, didOpenWithProtocol protocol: String?) {
        state.withLock { $0.opened = true }
        deliver(.opened)
        receive()
    }

    func urlSession(_ session: URLSession, webSocketTask: URLSessionWebSocketTask,
                    didCloseWith closeCode: URLSessionWebSocketTask.CloseCode, reason: Data?) {
        let code = closeCode == .invalid ? WebSocketCloseCode.noStatus : WebSocketCloseCode(UInt16(clamping: closeCode.rawValue))
        finish(WebSocketClosure(code: code, reason: reason.map { String(decoding: $0, as: UTF8.self) } ?? "",
                                wasOpen: state.withLock { $0.opened }))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let opened = state.withLock { $0.opened }
        let status = (task.response as? HTTPURLResponse)?.statusCode
        let syncError: SyncError
        switch status {
        case 401?, 403?:
            syncError = SyncError(kind: .unauthorized, status: status, message: "the server refused the WebSocket token", isRetryable: true)
        case let status? where status != 101:
            syncError = SyncError(kind: .http, status: status, message: "the server answered the WebSocket upgrade with \(status)",
                                  isRetryable: true)
        default:
            syncError = .network(error?.localizedDescription ?? "the WebSocket connection ended")
        }
        finish(WebSocketClosure(code: opened ? .abnormal : nil, wasOpen: opened, error: syncError))
    }
}
#endif
