import Foundation

/// The entry point: opens the local store, hands out collections, and runs sync.
///
/// ```swift
/// let sync = try await SyncLayer(config: SyncConfig(
///     baseURL: URL(string: "https://api.example.com"), collections: ["todos"], authToken: token))
/// let todos = sync.collection("todos")
/// let id = try await todos.save(["text": "Buy milk", "done": false])   // returns once stored locally
/// try await sync.syncNow()                                             // push and pull now
/// ```
///
/// With a `baseURL` (or a ``SyncConfig/customBackend``) the instance syncs in the background:
/// right after opening, shortly after local writes, and every ``SyncConfig/syncInterval``
/// (when ``SyncConfig/enableAutoSync`` is on). Call ``close()`` when done: it stops sync and
/// ends every `watch()` and ``events`` stream.
public final class SyncLayer: Sendable {
    /// The configuration this instance was opened with.
    public let config: SyncConfig
    let store: LocalStore
    let engine: SyncEngine?
    /// The realtime connection, when ``SyncConfig/enableRealtimeSync`` is on.
    public let realtime: RealtimeSyncManager?
    let tokens: TokenStore
    private let knownCollections: Set<String>
    private let statusBroadcast: Broadcast<SyncStatus>
    private let loop = Locked<Task<Void, Never>?>(nil)

    /// Validates `config`, opens (or creates and migrates) the local database, and starts sync
    /// when a backend is configured.
    ///
    /// - Throws: ``SyncLayerError`` for invalid configuration or a database from a newer
    ///   version; ``StoreError`` when the file cannot be opened.
    public convenience init(config: SyncConfig) async throws {
        try self.init(config: config, wallClock: .system)
    }

    /// With an injected wall clock (tests of clock skew).
    init(config: SyncConfig, wallClock: WallClock) throws {
        try config.validate()
        self.config = config
        self.knownCollections = Set(config.collections)
        let store = try LocalStore(storage: config.storage, durability: config.durability, logger: config.logger,
                                   wallClock: wallClock)
        self.store = store
        let tokens = TokenStore(token: config.authToken, provider: config.tokenProvider)
        self.tokens = tokens
        let backend: (any SyncBackend)? = config.customBackend ?? config.baseURL.map {
            RESTBackend(baseURL: $0, tokens: tokens, version: config.protocolVersion,
                        transport: config.effectiveTransport)
        }
        // The last successful sync survives restarts.
        let lastSync = try store.read { db in try db.scalarText("SELECT value FROM sl_meta WHERE key = 'last_sync_at'") }
            .flatMap(Timestamp.parse)
        statusBroadcast = Broadcast(replaysLatest: true,
                                    initial: SyncStatus(phase: backend == nil ? .disabled : .idle, lastSyncedAt: lastSync))
        guard let backend else {
            engine = nil
            realtime = nil
            return
        }
        // Operations parked by an earlier run get another chance.
        try store.retryFailedOperations()
        let engine = SyncEngine(store: store, backend: backend, config: config, tokens: tokens, status: statusBroadcast)
        self.engine = engine
        let realtime: RealtimeSyncManager?
        if config.enableRealtimeSync, let url = config.websocketURL {
            let socket = try WebSocketService(
                url: url, tokens: tokens,
                configuration: .init(backoff: Backoff(initial: config.websocketReconnectDelay,
                                                      maximum: max(config.websocketReconnectDelay, .seconds(60))),
                                     maxReconnectAttempts: config.maxWebsocketReconnectAttempts),
                logger: config.logger, transport: platformWebSocketTransport(caBundlePath: config.caBundlePath))
            realtime = RealtimeSyncManager(socket: socket, store: store, engine: engine, config: config)
        } else {
            realtime = nil
        }
        self.realtime = realtime
        store.onOperationsQueued.withLock {
            $0 = { [weak engine, weak realtime] in
                // Over the socket at once when it is up; otherwise a debounced HTTP sync.
                if let realtime, realtime.isConnected { realtime.localChangesQueued() } else { engine?.post(.localWrite) }
            }
        }
        loop.withLock {
            $0 = Task {
                await realtime?.start()
                await engine.run()
            }
        }
    }

    /// A collection of untyped documents.
    public func collection(_ name: String) -> CollectionReference {
        CollectionReference(source: CollectionSource(name: name, store: store, known: knownCollections))
    }

    /// A collection seen through a `Codable` model whose `id` is the document id.
    public func collection<Model>(_ name: String, as type: Model.Type, encoder: JSONEncoder = JSONEncoder(),
                                  decoder: JSONDecoder = JSONDecoder()) -> TypedCollectionReference<Model>
    where Model: Codable & Identifiable & Sendable, Model.ID == String {
        TypedCollectionReference(untyped: collection(name), encoder: encoder, decoder: decoder)
    }

    /// Events from now on. Each access returns a new stream; it ends when the instance closes.
    public var events: AsyncStream<SyncEvent> { store.events.stream() }

    /// Counters since this instance opened.
    public var metrics: SyncMetrics { store.events.metrics.withLock { $0 } }

    /// This installation's client id, created with the database and kept with it.
    public var clientID: String { store.clientID }

    /// The path of the database file (`nil` when in memory).
    public var databasePath: String? { store.path }

    // MARK: Sync

    /// Where sync stands now.
    public var status: SyncStatus { statusBroadcast.latest ?? SyncStatus(phase: .disabled) }

    /// The status now, then every change of it. Ends when the instance closes.
    public var statusUpdates: AsyncStream<SyncStatus> { statusBroadcast.stream() }

    /// Pushes every queued change and pulls every collection now, and returns when that sync
    /// is done. A sync already running finishes first; this call waits for a new one, so it
    /// includes every write made before the call.
    ///
    /// - Throws: ``SyncError`` when the sync fails (`.notConfigured` without a backend).
    public func syncNow() async throws {
        guard let engine else {
            throw SyncError(kind: .notConfigured, message: "no baseURL or customBackend is configured", isRetryable: false)
        }
        try await engine.syncNow()
    }

    /// Returns once no change waits for the server: every local change made before the call has
    /// been acknowledged by the server (or rejected by it). Keeps retrying while the server cannot
    /// be reached or answers with a retryable failure; cancel the task to stop waiting.
    ///
    /// Operations parked after ``SyncConfig/maxRetries`` answered failures are never sent by
    /// themselves: once nothing else is queued, this throws `.operationsParked` naming how many
    /// there are (``retryFailedOperations()`` queues them again).
    ///
    /// - Throws: ``SyncError`` for a failure retrying cannot fix (`.operationsParked`,
    ///   `.unauthorized`, `.notConfigured`, a non-retryable HTTP status), `CancellationError`
    ///   when cancelled.
    public func waitForPendingWrites() async throws {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(30))
        var failures = 0
        while true {
            let counts = try await outboxCounts()
            if counts.pending == 0 {
                guard counts.failed == 0 else {
                    throw SyncError(kind: .operationsParked,
                                    message: "\(counts.failed) operation(s) parked after failures; retryFailedOperations() queues them again",
                                    isRetryable: false)
                }
                return
            }
            do {
                try await syncNow()
                failures = 0
            } catch let error as SyncError where error.isRetryable {
                failures += 1
                try await Task.sleep(for: backoff.delay(afterFailures: failures, retryAfter: error.retryAfter,
                                                        unit: Double.random(in: 0.5...1)))
            }
        }
    }

    /// The operations the server refused for good, oldest first, with its reasons. They stay
    /// until ``discardRejectedOperations()``.
    public func rejectedOperations() async throws -> [RejectedOperation] {
        try store.read { db in
            let statement = try db.statement("""
                SELECT op_id, collection, record_id, type, payload, last_error, created_at FROM sl_outbox
                WHERE state = 2 ORDER BY seq
                """)
            var result: [RejectedOperation] = []
            while try statement.step() {
                result.append(RejectedOperation(
                    opID: statement.text(0) ?? "", collection: statement.text(1) ?? "", recordID: statement.text(2) ?? "",
                    kind: PushOperation.Kind(rawValue: statement.text(3) ?? "") ?? .update,
                    payload: statement.text(4).flatMap { try? JSONText.parseObject($0) },
                    reason: statement.text(5) ?? "", createdAt: Date(timeIntervalSince1970: Double(statement.int(6)) / 1000)))
            }
            return result
        }
    }

    /// Forgets the rejected operations; returns how many there were.
    @discardableResult
    public func discardRejectedOperations() async throws -> Int {
        try store.write { context in try context.db.run("DELETE FROM sl_outbox WHERE state = 2") }
    }

    /// Replaces the bearer token (for HTTP and the WebSocket) and resumes a sync paused for
    /// authentication.
    public func updateAuthToken(_ token: String?) async {
        await tokens.set(token)
        engine?.post(.tokenUpdated)
    }

    /// Puts operations parked after `maxRetries` failures, and the changes parked behind them,
    /// back in the queue in their order; returns how many.
    @discardableResult
    public func retryFailedOperations() async throws -> Int {
        try store.retryFailedOperations()
    }

    /// How many queued operations wait, were rejected, or are parked.
    public func outboxCounts() async throws -> OutboxCounts {
        try store.read { db in
            let statement = try db.statement("SELECT state, count(*) FROM sl_outbox GROUP BY state")
            var counts = OutboxCounts()
            while try statement.step() {
                switch OperationState(rawValue: statement.int(0)) {
                case .pending: counts.pending = Int(statement.int(1))
                case .rejected: counts.rejected = Int(statement.int(1))
                case .failed: counts.failed = Int(statement.int(1))
                case nil: break
                }
            }
            return counts
        }
    }

    /// Changes queued for the server and not yet acknowledged.
    public func pendingOperationCount() async throws -> Int {
        try await outboxCounts().pending
    }

    /// Stops sync, closes the database, and ends every observation and event stream. Further
    /// calls throw ``SyncLayerError/Code/closed``.
    public func close() async {
        await realtime?.stop()
        if let task = loop.withLock({ task in defer { task = nil }; return task }) {
            task.cancel()
            await task.value
        }
        store.close()
        statusBroadcast.finish()
    }
}

/// An operation the server refused for good.
public struct RejectedOperation: Sendable, Hashable {
    public let opID: String
    public let collection: String
    public let recordID: String
    public let kind: PushOperation.Kind
    /// What the operation carried (the document or the delta; nil for a delete).
    public let payload: [String: JSONValue]?
    /// The server's code and message.
    public let reason: String
    public let createdAt: Date
}

/// Counts of the outbox by state.
public struct OutboxCounts: Sendable, Hashable {
    /// Waiting to be pushed.
    public var pending = 0
    /// Refused by the server for good.
    public var rejected = 0
    /// Parked after `maxRetries` answered failures, with the later changes of their documents
    /// (queued behind them so that none overtakes them); see ``SyncLayer/retryFailedOperations()``.
    public var failed = 0

    public init(pending: Int = 0, rejected: Int = 0, failed: Int = 0) {
        self.pending = pending
        self.rejected = rejected
        self.failed = failed
    }
}
