/// When ``WebSocketService`` opens, pings, drops and reopens its connection: a pure state
/// machine, events in, actions out (no I/O, no clock of its own; times are milliseconds on any
/// monotonic scale, randomness comes in as `jitter`).
///
/// - `connectRequested` opens a connection; every outcome settles the pending `connect()` calls.
/// - While open: a heartbeat every `heartbeatInterval`; no pong within `pongTimeout` of a
///   heartbeat means the peer is gone: abort and reconnect.
/// - A failed open or a dropped connection reconnects after a full-jitter exponential backoff;
///   after `maxReconnectAttempts` failures in a row it gives up (`.error`). The count restarts
///   once a connection proves healthy: a pong, or a heartbeat interval without dropping. (A
///   server that accepts and drops at once therefore backs off like one that refuses, instead
///   of being hammered at the first delay forever: Dart bug B-RT2.)
/// - An auth refusal (a 401/403 upgrade answer, or close code 1008) asks for a token refresh
///   once and reopens at once; a second refusal in a row, or no new token, is final (`.error`).
/// - `disconnectRequested` closes whatever is open or pending; nothing reconnects after it.
struct WebSocketConnectionStateMachine: Sendable {
    struct Configuration: Sendable, Hashable {
        var heartbeatInterval: Duration = .seconds(25)
        var pongTimeout: Duration = .seconds(10)
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(60))
        /// Failed attempts in a row before giving up; nil never gives up.
        var maxReconnectAttempts: Int?
    }

    enum Event: Sendable, Hashable {
        case connectRequested
        case disconnectRequested
        /// The handshake of `connection` finished.
        case opened(connection: Int)
        /// `connection` failed before its handshake finished.
        case openFailed(connection: Int, error: SyncError)
        /// The open `connection` ended (`code` nil or 1006 when without a close frame).
        case closed(connection: Int, code: WebSocketCloseCode?, error: SyncError?)
        case pongReceived(connection: Int)
        /// The refresh asked after `connection` was refused produced a new token, or not.
        case tokenRefreshed(connection: Int, newToken: Bool)
        /// Time passed: check the heartbeat, pong and reconnect deadlines.
        case timeElapsed
    }

    /// The outcome handed to pending `connect()` calls.
    enum ConnectOutcome: Sendable, Hashable {
        case connected
        case failed(SyncError)
        case cancelled
    }

    enum Action: Sendable, Hashable {
        /// Open a new connection with this id (the current token in the upgrade).
        case open(connection: Int)
        /// Send a ping frame and a `{"type":"ping"}` message.
        case sendHeartbeat(connection: Int)
        /// Close with 1000 (or stop opening).
        case close(connection: Int)
        /// Drop without a close handshake: the peer is not answering.
        case abort(connection: Int)
        /// Ask the token store for a token other than the one `connection` used.
        case refreshToken(rejectedBy: Int)
        case publish(WebSocketService.State)
        case settleConnect(ConnectOutcome)
    }

    enum Phase: Sendable, Hashable {
        case idle
        case opening(connection: Int)
        case refreshingToken(after: Int)
        case open(connection: Int, since: Int64, nextHeartbeat: Int64, pongDeadline: Int64?)
        case waiting(until: Int64)
        case failed(SyncError)
    }

    let configuration: Configuration
    private(set) var phase = Phase.idle
    /// The state last published.
    private(set) var state = WebSocketService.State.disconnected
    /// Failed opens and drops since the last healthy connection.
    private(set) var failures = 0
    /// The last failure, for diagnostics.
    private(set) var lastError: SyncError?
    /// Whether the last outcome was an auth refusal already answered with a refresh.
    private var refreshedAfterRefusal = false
    private var lastConnection = 0

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// When the machine next wants `.timeElapsed`, if ever.
    var deadline: Int64? {
        switch phase {
        case .waiting(let until): until
        case .open(_, _, let nextHeartbeat, let pongDeadline): min(nextHeartbeat, pongDeadline ?? .max)
        default: nil
        }
    }

    /// The open connection, if any.
    var openConnection: Int? {
        if case .open(let connection, _, _, _) = phase { return connection }
        return nil
    }

    mutating func handle(_ event: Event, now: Int64, jitter: Double = 1) -> [Action] {
        switch (event, phase) {
        case (.connectRequested, .idle), (.connectRequested, .failed):
            failures = 0
            refreshedAfterRefusal = false
            return publish(.connecting) + openNext()
        case (.connectRequested, .waiting):
            return openNext()  // an explicit request skips the rest of the backoff
        case (.connectRequested, .open):
            return [.settleConnect(.connected)]
        case (.connectRequested, _):
            return []  // settled by the attempt in flight

        case (.disconnectRequested, .idle):
            return []
        case (.disconnectRequested, _):
            var actions: [Action] = []
            switch phase {
            case .opening(let connection), .open(let connection, _, _, _): actions.append(.close(connection: connection))
            default: break
            }
            phase = .idle
            return actions + publish(.disconnected) + [.settleConnect(.cancelled)]

        case (.opened(let id), .opening(let connection)) where id == connection:
            let nextHeartbeat = now + configuration.heartbeatInterval.milliseconds
            phase = .open(connection: id, since: now, nextHeartbeat: nextHeartbeat, pongDeadline: nil)
            return publish(.connected) + [.settleConnect(.connected)]
        case (.opened(let id), _):
            return [.close(connection: id)]  // stale: nobody wants it any more

        case (.openFailed(let id, let error), .opening(let connection)) where id == connection:
            return error.kind == .unauthorized ? refused(id, error) : failed(error, now: now, jitter: jitter)

        case (.closed(let id, let code, let error), .open(let connection, let since, _, _)) where id == connection:
            let reason = error ?? .webSocketClosed(code ?? .abnormal, reason: "", byServer: true)
            if code == .policyViolation { return refused(id, reason) }
            refreshedAfterRefusal = false
            if now - since >= configuration.heartbeatInterval.milliseconds { failures = 0 }
            return failed(reason, now: now, jitter: jitter)

        case (.pongReceived(let id), .open(let connection, let since, let nextHeartbeat, _)) where id == connection:
            refreshedAfterRefusal = false  // the server talks to this token
            failures = 0
            phase = .open(connection: id, since: since, nextHeartbeat: nextHeartbeat, pongDeadline: nil)
            return []

        case (.tokenRefreshed(let id, let newToken), .refreshingToken(let after)) where id == after:
            guard newToken else {
                return giveUp(SyncError(kind: .unauthorized, message: "the server refused the WebSocket token and no new token is available",
                                        isRetryable: false))
            }
            return openNext()

        case (.timeElapsed, .waiting(let until)) where until <= now:
            return openNext()
        case (.timeElapsed, .open(let connection, let since, let nextHeartbeat, let pongDeadline)):
            if let pongDeadline, pongDeadline <= now {
                let error = SyncError(kind: .network, message: "no pong within \(configuration.pongTimeout); the connection is dead",
                                      isRetryable: true)
                if now - since >= configuration.heartbeatInterval.milliseconds { failures = 0 }
                return [.abort(connection: connection)] + failed(error, now: now, jitter: jitter)
            }
            guard nextHeartbeat <= now else { return [] }
            phase = .open(connection: connection, since: since, nextHeartbeat: now + configuration.heartbeatInterval.milliseconds,
                          pongDeadline: pongDeadline ?? now + configuration.pongTimeout.milliseconds)
            return [.sendHeartbeat(connection: connection)]

        default:
            return []  // stale connection ids, early timers
        }
    }

    // MARK: Transitions

    private mutating func openNext() -> [Action] {
        lastConnection += 1
        phase = .opening(connection: lastConnection)
        return [.open(connection: lastConnection)]
    }

    private mutating func refused(_ connection: Int, _ error: SyncError) -> [Action] {
        lastError = error
        if refreshedAfterRefusal { return giveUp(error) }
        refreshedAfterRefusal = true
        phase = .refreshingToken(after: connection)
        return publish(state == .connected ? .reconnecting : state) + [.refreshToken(rejectedBy: connection)]
    }

    private mutating func failed(_ error: SyncError, now: Int64, jitter: Double) -> [Action] {
        lastError = error
        if let limit = configuration.maxReconnectAttempts, failures >= limit {
            return giveUp(SyncError(kind: error.kind, status: error.status, code: error.code,
                                    message: "gave up after \(limit) reconnect attempts: \(error.message)", isRetryable: true))
        }
        failures += 1
        let delay = configuration.backoff.delay(afterFailures: failures, retryAfter: nil, unit: jitter)
        phase = .waiting(until: now + delay.milliseconds)
        return publish(.reconnecting) + [.settleConnect(.failed(error))]
    }

    private mutating func giveUp(_ error: SyncError) -> [Action] {
        lastError = error
        phase = .failed(error)
        return publish(.error(error)) + [.settleConnect(.failed(error))]
    }

    private mutating func publish(_ new: WebSocketService.State) -> [Action] {
        guard new != state else { return [] }
        state = new
        return [.publish(new)]
    }
}
