import Hummingbird
import Synchronization

/// Test hooks for the SDK's fault tests (PROTOCOL.md §6). Off until a test switches one on.
///
/// "Writes" are v1 `POST`/`PATCH`/`DELETE` and v2 push. WebSocket faults apply to server→client change
/// and ack messages.
///
/// ```swift
/// let faults = FaultInjector()
/// let server = try await InProcessServer.start(configuration: configuration, faults: faults)
/// faults.failNextWrites(2, status: .serviceUnavailable, retryAfter: 1)
/// ```
public final class FaultInjector: Sendable {
    public enum WebSocketFault: Sendable, Equatable {
        /// The message is never sent.
        case drop
        /// The message is sent twice.
        case duplicate
        /// The message is held and sent after the next one.
        case reorder
    }

    private struct State {
        var failures = 0
        var failureStatus: HTTPResponse.Status = .serviceUnavailable
        var failureRetryAfter: Int?
        var dropsAfterCommit = 0
        var responseDelay: Duration?
        var webSocketFault: WebSocketFault?
        var webSocketFaults = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The next `count` writes answer `status` (with `Retry-After` when given) and apply nothing.
    public func failNextWrites(_ count: Int, status: HTTPResponse.Status = .serviceUnavailable, retryAfter: Int? = nil) {
        state.withLock {
            $0.failures = count
            $0.failureStatus = status
            $0.failureRetryAfter = retryAfter
        }
    }

    /// The next `count` writes commit, then the connection is closed without an answer.
    public func dropConnectionAfterCommit(nextWrites count: Int = 1) {
        state.withLock { $0.dropsAfterCommit = count }
    }

    /// Every HTTP answer waits this long after it was computed (after any commit); nil stops delaying.
    public func delayResponses(by delay: Duration?) {
        state.withLock { $0.responseDelay = delay }
    }

    /// The next `count` server→client change or ack messages suffer `fault`.
    public func disturbNextWebSocketMessages(_ count: Int, with fault: WebSocketFault) {
        state.withLock {
            $0.webSocketFault = fault
            $0.webSocketFaults = count
        }
    }

    /// Switches every hook off.
    public func reset() {
        state.withLock { $0 = State() }
    }

    func takeWriteFailure() -> APIError? {
        state.withLock { state in
            guard state.failures > 0 else { return nil }
            state.failures -= 1
            let status = state.failureStatus
            let code = status == .tooManyRequests ? "RATE_LIMIT_EXCEEDED" : APIError.from(status: status).code
            return APIError(status, code: code, message: "injected failure", retryAfter: state.failureRetryAfter)
        }
    }

    func takeDropAfterCommit() -> Bool {
        state.withLock { state in
            guard state.dropsAfterCommit > 0 else { return false }
            state.dropsAfterCommit -= 1
            return true
        }
    }

    var responseDelay: Duration? { state.withLock { $0.responseDelay } }

    func takeWebSocketFault() -> WebSocketFault? {
        state.withLock { state in
            guard state.webSocketFaults > 0, let fault = state.webSocketFault else { return nil }
            state.webSocketFaults -= 1
            return fault
        }
    }
}
