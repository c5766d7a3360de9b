import Foundation

/// A WebSocket to the sync server that stays connected: token in the upgrade request,
/// heartbeats that detect a dead connection, and reconnects with backoff.
///
/// ```swift
/// let socket = try WebSocketService(url: URL(string: "wss://api.example.com/ws")!, token: token)
/// Task { for await state in socket.states where state == .connected { try await socket.send(subscribe) } }
/// Task { for await text in socket.messages { handle(text) } }
/// try await socket.connect()          // returns once the handshake is done
/// …
/// await socket.disconnect()           // closes with 1000; nothing reconnects
/// ```
///
/// After ``connect()``, the service reconnects by itself whenever the connection drops, until
/// ``disconnect()``, or until it gives up (state ``State/error(_:)``): after
/// `maxReconnectAttempts` failures in a row, or when the server refuses the token (upgrade
/// answer 401/403, or close code 1008) and the token provider has no new one.
///
/// Threading: every member can be called from any task. ``states`` publishes from one task, in
/// order, starting with the current state. ``messages`` are published in the order they
/// arrived on the connection, from the transport's thread.
public final class WebSocketService: Sendable {
    /// Where the connection is.
    public enum State: Sendable, Hashable {
        /// Not started, or stopped by ``WebSocketService/disconnect()``.
        case disconnected
        /// The first connection is being opened.
        case connecting
        /// The handshake is done; ``WebSocketService/send(_:)`` works.
        case connected
        /// The connection was lost (or could not be opened) and another attempt will follow.
        case reconnecting
        /// Gave up; ``WebSocketService/connect()`` starts over.
        case error(SyncError)
    }

    /// The default limit on an incoming message: 16 MiB.
    public static let defaultMaxMessageBytes = 16 * 1024 * 1024

    /// The endpoint, as given.
    public let url: URL
    private let core: Core

    /// Creates a service for `url`; nothing connects before ``connect()``.
    ///
    /// - Parameters:
    ///   - url: The endpoint: `wss://` (or `https://`); `ws://` and `http://` only for local servers.
    ///   - token: Sent as `Authorization: Bearer <token>` with the upgrade request.
    ///   - tokenProvider: Called for a new token when the server refuses the current one.
    ///   - allowQueryToken: Also put the token in the URL (`?token=`) for servers that only read
    ///     it there (the Dart server). Weaker: URLs end up in proxy and server logs. Default false.
    ///   - heartbeatInterval: Time between heartbeats (a ping frame and a `{"type":"ping"}`
    ///     message, which also keeps the server's idle timer from closing the connection). Default 25 s.
    ///   - pongTimeout: A heartbeat not answered by a pong this soon means the connection is dead. Default 10 s.
    ///   - reconnectDelay: The first reconnect delay ceiling; later ones double (with full jitter).
    ///   - maxReconnectDelay: The cap of the reconnect delay. Default 60 s.
    ///   - maxReconnectAttempts: Failures in a row before giving up; nil (the default) never gives up.
    ///   - maxMessageBytes: A larger incoming message closes the connection with 1009.
    ///   - caBundlePath: A PEM file of the certificate authorities to trust for `wss://` instead of
    ///     the system's (a private CA). Linux only, as ``SyncConfig/caBundlePath``.
    ///   - logger: Receives connection events (never tokens or message contents).
    /// - Throws: ``SyncLayerError`` `invalidConfiguration` for another scheme, no host,
    ///   non-positive durations or sizes, or a `caBundlePath` that is not a readable file (or
    ///   given on Apple platforms).
    public convenience init(url: URL, token: String? = nil, tokenProvider: (@Sendable () async throws -> String)? = nil,
                            allowQueryToken: Bool = false, heartbeatInterval: Duration = .seconds(25),
                            pongTimeout: Duration = .seconds(10), reconnectDelay: Duration = .seconds(1),
                            maxReconnectDelay: Duration = .seconds(60), maxReconnectAttempts: Int? = nil,
                            maxMessageBytes: Int = WebSocketService.defaultMaxMessageBytes, caBundlePath: String? = nil,
                            logger: SyncLogger = .disabled) throws {
        if let caBundlePath { try SyncConfig.validateCABundle(caBundlePath, option: "caBundlePath") }
        try self.init(url: url, tokens: TokenStore(token: token, provider: tokenProvider), allowQueryToken: allowQueryToken,
                      configuration: WebSocketConnectionStateMachine.Configuration(
                          heartbeatInterval: heartbeatInterval, pongTimeout: pongTimeout,
                          backoff: Backoff(initial: reconnectDelay, maximum: max(reconnectDelay, maxReconnectDelay)),
                          maxReconnectAttempts: maxReconnectAttempts),
                      maxMessageBytes: maxMessageBytes, logger: logger,
                      transport: platformWebSocketTransport(caBundlePath: caBundlePath))
    }

    /// With the token store shared with HTTP, and an injectable transport.
    init(url: URL, tokens: TokenStore, allowQueryToken: Bool = false,
         configuration: WebSocketConnectionStateMachine.Configuration = .init(),
         maxMessageBytes: Int = WebSocketService.defaultMaxMessageBytes, logger: SyncLogger = .disabled,
         transport: any WebSocketTransport = platformWebSocketTransport(),
         openTimeout: Duration = .seconds(15), closeTimeout: Duration = .seconds(2)) throws {
        func invalid(_ message: String) -> SyncLayerError { SyncLayerError(.invalidConfiguration, message) }
        guard let scheme = url.scheme?.lowercased(), ["ws", "wss", "http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty else {
            throw invalid("the WebSocket URL must be ws, wss, http or https with a host")
        }
        guard configuration.heartbeatInterval > .zero, configuration.pongTimeout > .zero else {
            throw invalid("heartbeatInterval and pongTimeout must be positive")
        }
        guard configuration.backoff.initial > .zero else { throw invalid("reconnectDelay must be positive") }
        guard (configuration.maxReconnectAttempts ?? 0) >= 0 else { throw invalid("maxReconnectAttempts must not be negative") }
        guard maxMessageBytes > 0, openTimeout > .zero, closeTimeout > .zero else {
            throw invalid("maxMessageBytes and the timeouts must be positive")
        }
        self.url = url
        core = Core(url: url, tokens: tokens, allowQueryToken: allowQueryToken, machine: WebSocketConnectionStateMachine(configuration: configuration),
                    request: WebSocketRequest(url: url, maxMessageBytes: maxMessageBytes, openTimeout: openTimeout, closeTimeout: closeTimeout),
                    transport: transport, logger: logger)
    }

    deinit {
        core.shutdown()
    }

    /// The current state.
    public var state: State { core.states.latest ?? .disconnected }

    /// Why the last connection attempt failed or the last connection ended, if one did.
    public var lastError: SyncError? { core.shared.withLock { $0.lastError } }

    /// The states from now on, starting with the current one. Each access is a new subscriber;
    /// the stream ends when the service is released.
    public var states: AsyncStream<State> { core.states.stream() }

    /// Incoming text messages from now on (binary messages are dropped, as are the server's
    /// answers to the heartbeat, `{"type":"pong",…}`). Each access is a new subscriber.
    public var messages: AsyncStream<String> { core.messages.stream() }

    /// Opens the connection; returns when the handshake is done.
    ///
    /// Returns at once when already connected. When the attempt fails, it throws that failure
    /// and the service goes on reconnecting in the background (state ``State/reconnecting``),
    /// unless it gave up (state ``State/error(_:)``); watch ``states`` for the next
    /// ``State/connected``. Call it once; ``disconnect()`` stops everything.
    ///
    /// - Throws: ``SyncError`` (`network`, `tls`, `http`, `unauthorized`, `invalidResponse`);
    ///   `CancellationError` when ``disconnect()`` comes first or the calling task is cancelled
    ///   (which does not stop the service).
    public func connect() async throws {
        try await core.connect()
    }

    /// Closes the connection with 1000 and stops reconnecting; returns when the connection is
    /// gone. ``connect()`` may be called again later.
    public func disconnect() async {
        await core.disconnect()
    }

    /// Sends a text message.
    ///
    /// - Throws: ``SyncError`` `network` when not connected; nothing is queued.
    public func send(_ text: String) async throws {
        guard let connection = core.shared.withLock({ $0.connected }) else { throw SyncError.webSocketNotConnected }
        try await connection.send(text: text)
    }
}

extension WebSocketService {
    /// Runs the state machine: one loop task reads an inbox of requests, transport events and
    /// timer ticks, and performs the machine's actions in order.
    fileprivate final class Core: Sendable {
        enum Input: Sendable {
            case connect(waiter: Int, CheckedContinuation<Void, any Error>)
            case cancelWaiter(Int)
            case disconnect(CheckedContinuation<Void, Never>)
            case event(WebSocketConnectionStateMachine.Event)
            case transport(connection: Int, WebSocketTransportEvent)
        }

        struct Shared: Sendable {
            var connected: (any WebSocketConnection)?
            var lastError: SyncError?
            var loop: Task<Void, Never>?
            var nextWaiter = 0
        }

        let states = Broadcast<State>(replaysLatest: true, initial: .disconnected)
        let messages = Broadcast<String>(replaysLatest: false)
        let shared = Locked(Shared())
        private let inbox: AsyncStream<Input>
        private let input: AsyncStream<Input>.Continuation
        private let url: URL
        private let tokens: TokenStore
        private let allowQueryToken: Bool
        private let request: WebSocketRequest
        private let transport: any WebSocketTransport
        private let logger: SyncLogger
        /// Owned by the loop task; it is the only one to touch it.
        private let loopState: Locked<LoopState>

        struct LoopState: Sendable {
            var machine: WebSocketConnectionStateMachine
            var connections: [Int: any WebSocketConnection] = [:]
            var tokensUsed: [Int: String?] = [:]
            var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
            /// Waiters whose cancellation overtook their request in the inbox.
            var cancelledWaiters: Set<Int> = []
            var timer: (deadline: Int64, task: Task<Void, Never>)?
        }

        private let origin = ContinuousClock.now

        init(url: URL, tokens: TokenStore, allowQueryToken: Bool, machine: WebSocketConnectionStateMachine,
             request: WebSocketRequest, transport: any WebSocketTransport, logger: SyncLogger) {
            (inbox, input) = AsyncStream<Input>.makeStream()
            self.url = url
            self.tokens = tokens
            self.allowQueryToken = allowQueryToken
            self.request = request
            self.transport = transport
            self.logger = logger
            loopState = Locked(LoopState(machine: machine))
        }

        // MARK: Requests

        func connect() async throws {
            startLoop()
            let waiter = shared.withLock { shared in
                defer { shared.nextWaiter += 1 }
                return shared.nextWaiter
            }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    if case .terminated = input.yield(.connect(waiter: waiter, continuation)) {
                        continuation.resume(throwing: CancellationError())
                    }
                }
            } onCancel: {
                input.yield(.cancelWaiter(waiter))
            }
        }

        func disconnect() async {
            guard shared.withLock({ $0.loop != nil }) else { return }
            await withCheckedContinuation { continuation in
                if case .terminated = input.yield(.disconnect(continuation)) { continuation.resume() }
            }
        }

        func shutdown() {
            input.finish()
            // Without a loop nobody else finishes the streams.
            if shared.withLock({ $0.loop == nil }) {
                states.finish()
                messages.finish()
            }
        }

        private func startLoop() {
            shared.withLock { shared in
                guard shared.loop == nil else { return }
                shared.loop = Task { [self] in await run() }
            }
        }

        // MARK: The loop

        private var now: Int64 { (ContinuousClock.now - origin).milliseconds }

        private func run() async {
            for await item in inbox {
                switch item {
                case .connect(let waiter, let continuation):
                    let cancelled = loopState.withLock { state in
                        if state.cancelledWaiters.remove(waiter) != nil { return true }
                        state.waiters[waiter] = continuation
                        return false
                    }
                    if cancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        await handle(.connectRequested)
                    }
                case .cancelWaiter(let waiter):
                    let continuation = loopState.withLock { state in
                        guard let continuation = state.waiters.removeValue(forKey: waiter) else {
                            state.cancelledWaiters.insert(waiter)
                            return nil as CheckedContinuation<Void, any Error>?
                        }
                        return continuation
                    }
                    continuation?.resume(throwing: CancellationError())
                case .disconnect(let continuation):
                    await handle(.disconnectRequested)
                    continuation.resume()
                case .event(let event):
                    await handle(event)
                case .transport(let connection, let event):
                    await handle(transportEvent: event, connection: connection)
                }
            }
            // The service was released: stop without a trace.
            await handle(.disconnectRequested)
            loopState.withLock { $0.timer?.task.cancel() }
            states.finish()
            messages.finish()
        }

        private func handle(transportEvent event: WebSocketTransportEvent, connection: Int) async {
            switch event {
            case .opened:
                logger.log(.info, "connected to \(url.host ?? "?")", source: "realtime")
                await handle(.opened(connection: connection))
            case .pong:
                await handle(.pongReceived(connection: connection))
            case .closed(let closure):
                let tracked = loopState.withLock { $0.connections.removeValue(forKey: connection) != nil }
                // A connection we closed or aborted ourselves is already accounted for.
                guard tracked else { return }
                if closure.wasOpen {
                    logger.log(.info, "connection closed (\(closure.code.map(String.init(describing:)) ?? "no code"))"
                               + (closure.error.map { ": \($0.message)" } ?? ""), source: "realtime")
                    await handle(.closed(connection: connection, code: closure.code, error: closure.error))
                } else {
                    let error = closure.error ?? .network("the WebSocket could not be opened")
                    logger.log(.warning, "connecting failed: \(error)", source: "realtime")
                    await handle(.openFailed(connection: connection, error: error))
                }
            case .text, .binary:
                break  // delivered directly by the transport callback
            }
        }

        /// What one step of the machine produced.
        private struct Step {
            let actions: [WebSocketConnectionStateMachine.Action]
            let lastError: SyncError?
            let connected: (any WebSocketConnection)?
        }

        private func handle(_ event: WebSocketConnectionStateMachine.Event) async {
            let step = loopState.withLock { state -> Step in
                let actions = state.machine.handle(event, now: now, jitter: Double.random(in: 0...1))
                // No closure capturing the inout `state` here: swiftc 6.3.1 crashes optimising one
                // in release builds ("Found outside of lifetime use" in CopyPropagation).
                var open: (any WebSocketConnection)?
                if let id = state.machine.openConnection { open = state.connections[id] }
                return Step(actions: actions, lastError: state.machine.lastError, connected: open)
            }
            // Only an open connection takes sends, from before `.connected` is published on.
            shared.withLock { shared in
                shared.lastError = step.lastError
                shared.connected = step.connected
            }
            for action in step.actions { await perform(action) }
            armTimer()
        }

        private func perform(_ action: WebSocketConnectionStateMachine.Action) async {
            switch action {
            case .open(let id):
                await open(id)
            case .sendHeartbeat(let id):
                guard let connection = loopState.withLock({ $0.connections[id] }) else { return }
                Task {
                    try? await connection.sendPing()
                    try? await connection.send(text: #"{"type":"ping"}"#)
                }
            case .close(let id):
                let connection = loopState.withLock { $0.connections.removeValue(forKey: id) }
                shared.withLock { $0.connected = nil }
                await connection?.close(.normal, reason: "")
            case .abort(let id):
                logger.log(.warning, "no pong in time: dropping the connection", source: "realtime")
                let connection = loopState.withLock { $0.connections.removeValue(forKey: id) }
                shared.withLock { $0.connected = nil }
                await connection?.abort()
            case .refreshToken(let id):
                let rejected = loopState.withLock { $0.tokensUsed[id] ?? nil }
                logger.log(.notice, "the server refused the token: refreshing it", source: "realtime")
                Task { [tokens, input] in
                    let fresh = await tokens.refresh(after: rejected)
                    input.yield(.event(.tokenRefreshed(connection: id, newToken: fresh != nil)))
                }
            case .publish(let state):
                logger.log(.debug, "state \(state)", source: "realtime")
                if case .error(let error) = state { logger.log(.error, "gave up: \(error)", source: "realtime") }
                states.yield(state)
            case .settleConnect(let outcome):
                let waiters = loopState.withLock { state in
                    defer { state.waiters = [:] }
                    return Array(state.waiters.values)
                }
                for waiter in waiters {
                    switch outcome {
                    case .connected: waiter.resume()
                    case .failed(let error): waiter.resume(throwing: error)
                    case .cancelled: waiter.resume(throwing: CancellationError())
                    }
                }
            }
        }

        private func open(_ id: Int) async {
            let token = await tokens.token
            var request = request
            if let token {
                request.headers.append(("Authorization", "Bearer \(token)"))
                if allowQueryToken { request.url = Self.url(url, addingToken: token) }
            }
            logger.log(.debug, "opening connection \(id) to \(url.host ?? "?")", source: "realtime")
            let connection = transport.open(request) { [weak self] event in
                guard let self else { return }
                switch event {
                case .text(let text):
                    if !Self.isHeartbeatAnswer(text) { messages.yield(text) }
                case .binary:
                    logger.log(.debug, "dropped a binary message", source: "realtime")
                default:
                    input.yield(.transport(connection: id, event))
                }
            }
            loopState.withLock { state in
                state.connections[id] = connection
                state.tokensUsed = [id: token]  // only the latest connection can be refused
            }
        }

        private func armTimer() {
            loopState.withLock { state in
                let deadline = state.machine.deadline
                guard deadline != state.timer?.deadline else { return }
                state.timer?.task.cancel()
                state.timer = nil
                guard let deadline else { return }
                let instant = origin + .milliseconds(deadline)
                let task = Task { [input] in
                    guard (try? await Task.sleep(until: instant, clock: .continuous)) != nil else { return }
                    input.yield(.event(.timeElapsed))
                }
                state.timer = (deadline, task)
            }
        }

        // MARK: Helpers

        /// The server's answer to our `{"type":"ping"}`: the service's business, not the app's.
        static func isHeartbeatAnswer(_ text: String) -> Bool {
            guard text.utf8.count < 256, text.contains("\"pong\"") else { return false }
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return false }
            return object["type"] as? String == "pong"
        }

        /// `url` with `token=<token>` added to its query (the legacy Dart way).
        static func url(_ url: URL, addingToken token: String) -> URL {
            guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return url }
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            let encoded = token.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
            let query = components.percentEncodedQuery.map { $0.isEmpty ? "" : $0 + "&" } ?? ""
            components.percentEncodedQuery = query + "token=" + encoded
            return components.url ?? url
        }
    }
}
