import Foundation

/// Sends local changes and receives remote ones over the WebSocket as they happen.
///
/// Opt-in (``SyncConfig/enableRealtimeSync``). It is an accelerator on top of HTTP sync, never
/// a second source of truth:
/// - Local changes go out as protocol v2 change messages carrying their outbox op id, so the
///   server applies each once whether it arrives by WebSocket or by HTTP. An op leaves the
///   outbox only when acknowledged (the same transaction as over HTTP); without an ack it stays
///   for the next push. Pushes over both paths share one lock, so a document's operations
///   reach the server in order.
/// - Remote changes are applied like pulled records: idempotent by server version (a repeated or
///   older message never regresses a document), conflicts go through the resolver and the
///   result is pushed, deltas merge into the server copy and never replace a document, the
///   client's own echoes only move the server version.
/// - The pull cursor moves only with HTTP pulls, so a message lost while the socket was down
///   is never skipped: every (re)connection subscribes from that cursor, and a reconnect or an
///   out-of-order message triggers a catch-up sync.
public actor RealtimeSyncManager: PushChannel {
    /// The WebSocket underneath.
    public nonisolated let socket: WebSocketService
    let store: LocalStore
    let engine: SyncEngine
    let config: SyncConfig
    private var tasks: [Task<Void, Never>] = []
    private var connectedBefore = false
    private var isUp = false
    /// Collections whose `subscribed` answer has not arrived on this connection.
    private var awaitingSubscribed: Set<String> = []
    private var connection = 0
    private nonisolated let liveness = Broadcast<Bool>(replaysLatest: true, initial: false)
    private var lastSeq: [String: Int] = [:]
    private var awaitingAcks: [String: CheckedContinuation<JSONValue?, Never>] = [:]
    private var arrivedAcks: [String: JSONValue] = [:]
    private nonisolated let pushSignal = ChangeSignal()

    /// How long a pushed operation may wait for its ack before HTTP takes over.
    static let ackTimeout: Duration = .seconds(5)

    init(socket: WebSocketService, store: LocalStore, engine: SyncEngine, config: SyncConfig) {
        self.socket = socket
        self.store = store
        self.engine = engine
        self.config = config
    }

    /// The connection's state.
    public nonisolated var state: WebSocketService.State { socket.state }

    /// The connection's states, current first.
    public nonisolated var states: AsyncStream<WebSocketService.State> { socket.states }

    nonisolated var isConnected: Bool { socket.state == .connected }

    /// Whether the connection is up and every collection's subscription is confirmed: from now
    /// on, every remote change reaches this device.
    public nonisolated var isLive: Bool { liveness.latest ?? false }

    /// Returns once ``isLive`` is true (at once when it is); also when the manager stops.
    public nonisolated func waitUntilLive() async {
        for await live in liveness.stream() where live { return }
    }

    /// How long to wait for `subscribed` answers before going live anyway (a server that does
    /// not send them).
    static let subscribeTimeout: Duration = .seconds(2)

    /// Local changes were queued: push them over the socket soon (coalesced).
    nonisolated func localChangesQueued() { pushSignal.raise() }

    // MARK: Lifecycle

    func start() async {
        await engine.setPushChannel(self)
        let states = socket.states
        let messages = socket.messages
        tasks.append(Task { [weak self] in
            for await state in states { await self?.handle(state) }
        })
        tasks.append(Task { [weak self] in
            for await text in messages { await self?.handle(message: text) }
        })
        tasks.append(Task { [weak self, pushSignal] in
            while await pushSignal.wait() {
                guard let self else { return }
                await self.pushQueued()
            }
        })
        tasks.append(Task { [socket] in try? await socket.connect() })
    }

    func stop() async {
        await engine.setPushChannel(nil)
        pushSignal.finish()
        liveness.finish()
        await socket.disconnect()
        for task in tasks { task.cancel() }
        tasks.removeAll()
        failPendingAcks()
    }

    private func pushQueued() async {
        guard isConnected else {
            engine.post(.localWrite)
            return
        }
        do {
            try await engine.pushNow()
        } catch {
            store.logger.log(.debug, "realtime push failed, HTTP will retry: \(error)", source: "realtime")
            engine.post(.localWrite)
        }
    }

    // MARK: Connection states

    private func handle(_ state: WebSocketService.State) async {
        switch state {
        case .connected:
            isUp = true
            connection += 1
            let current = connection
            awaitingSubscribed = Set(config.collections)
            pushSignal.raise()
            for collection in config.collections { await subscribe(collection) }
            Task { [weak self] in
                try? await Task.sleep(for: RealtimeSyncManager.subscribeTimeout)
                await self?.goLive(connection: current)
            }
        case .reconnecting, .disconnected, .error:
            if isUp {
                store.events.emit(SyncEvent(.realtimeDisconnected, metadata: ["state": .string(Self.name(state))]))
            }
            if case .error(let error) = state {
                store.events.emit(SyncEvent(.error, metadata: ["messageType": "connection"], error: error.description))
            }
            isUp = false
            awaitingSubscribed.removeAll()
            liveness.yield(false)
            lastSeq.removeAll()
            failPendingAcks()
        case .connecting:
            break
        }
    }

    /// Every subscription of `connection` is confirmed (or the wait timed out).
    private func goLive(connection: Int) {
        guard isUp, connection == self.connection, !isLive else { return }
        awaitingSubscribed.removeAll()
        liveness.yield(true)
        store.events.emit(SyncEvent(.realtimeConnected, metadata: ["collections": .array(config.collections.map(JSONValue.string))]))
        if connectedBefore {
            engine.post(.requested)  // catch up on what happened while the socket was down
        }
        connectedBefore = true
    }

    private static func name(_ state: WebSocketService.State) -> String {
        switch state {
        case .disconnected: "disconnected"
        case .connecting: "connecting"
        case .connected: "connected"
        case .reconnecting: "reconnecting"
        case .error: "error"
        }
    }

    private func subscribe(_ collection: String) async {
        var message: [String: JSONValue] = ["type": "subscribe", "collection": .string(collection)]
        if let cursor = try? store.pullCursor(collection, protocolVersion: 2) {
            message["metadata"] = ["cursor": .string(cursor)]
        }
        try? await socket.send(JSONText.encode(message))
    }

    // MARK: Pushing over the socket (PushChannel)

    func push(_ batch: PushBatch) async throws -> [PushResult]? {
        guard isConnected else { return nil }
        let timestamp = JSONValue.string(RESTBackend.formatTimestamp(Date()))
        for op in batch.operations {
            var message: [String: JSONValue] = [
                "type": .string(op.kind == .patch ? "update" : op.kind.rawValue),
                "collection": .string(op.collection), "recordId": .string(op.recordID), "timestamp": timestamp,
                "metadata": ["opId": .string(op.opID), "clientId": .string(batch.clientID),
                             "baseVersion": op.baseVersion.map { .int($0) } ?? .null, "hlc": .string(op.hlc),
                             "delta": .bool(op.kind == .patch)],
            ]
            if let payload = op.payload { message["data"] = .object(payload) }
            try await socket.send(JSONText.encode(message))
        }
        let deadline = ContinuousClock.now + RealtimeSyncManager.ackTimeout
        var results: [PushResult] = []
        for op in batch.operations {
            guard let ack = await ack(for: op.opID, deadline: deadline),
                  let result = try? RESTBackend.pushResult(ack, for: op) else { break }
            results.append(result)
        }
        if results.isEmpty && !isConnected { throw SyncError.webSocketNotConnected }
        return results
    }

    private func ack(for opID: String, deadline: ContinuousClock.Instant) async -> JSONValue? {
        if let arrived = arrivedAcks.removeValue(forKey: opID) { return arrived }
        guard isUp else { return nil }
        let timeout = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            await self?.resolveAck(opID, with: nil)
        }
        defer { timeout.cancel() }
        return await withCheckedContinuation { awaitingAcks[opID] = $0 }
    }

    private func resolveAck(_ opID: String, with result: JSONValue?) {
        if let waiter = awaitingAcks.removeValue(forKey: opID) {
            waiter.resume(returning: result)
        } else if let result {
            arrivedAcks[opID] = result
        }
    }

    private func failPendingAcks() {
        let waiters = awaitingAcks
        awaitingAcks.removeAll()
        arrivedAcks.removeAll()
        for waiter in waiters.values { waiter.resume(returning: nil) }
    }

    // MARK: Incoming messages

    private func handle(message text: String) async {
        guard case .object(let message)? = try? JSONText.parse(text), let type = message["type"]?.stringValue else {
            store.logger.log(.debug, "ignored a WebSocket message that is not a JSON object with a type", source: "realtime")
            return
        }
        let collection = message["collection"]?.stringValue
        let metadata = message["metadata"]?.objectValue ?? [:]
        switch type {
        case "insert", "update", "delete":
            await applyChange(type: type, message: message, metadata: metadata)
        case "ack":
            if let result = message["data"], let opID = result["opId"]?.stringValue { resolveAck(opID, with: result) }
        case "sync":
            applySnapshot(collection: collection, message: message)
        case "error":
            let code = message["code"]?.stringValue ?? "UNKNOWN"
            store.events.emit(SyncEvent(.error, collection: collection, recordID: message["recordId"]?.stringValue,
                                        metadata: ["code": .string(code), "messageType": "error"],
                                        error: String((message["error"]?.stringValue ?? code).prefix(300))))
            if let opID = metadata["opId"]?.stringValue { resolveAck(opID, with: nil) }
        case "subscribed":
            if let collection { awaitingSubscribed.remove(collection) }
            if awaitingSubscribed.isEmpty { goLive(connection: connection) }
        case "unsubscribed", "pong", "ping":
            break
        default:
            store.logger.log(.debug, "ignored WebSocket message of type \(type.prefix(40))", source: "realtime")
        }
    }

    private func applyChange(type: String, message: [String: JSONValue], metadata: [String: JSONValue]) async {
        guard let collection = message["collection"]?.stringValue, config.collections.contains(collection),
              let recordID = message["recordId"]?.stringValue else { return }
        guard let version = metadata["version"]?.intValue else {
            // A v1 server (no versions): the message cannot be ordered safely, so it only
            // triggers a pull.
            engine.post(.requested)
            return
        }
        let seq = metadata["seq"]?.intValue
        if let seq, let last = lastSeq[collection], seq < last {
            engine.post(.requested)  // out of order: something may be missing
        }
        if let seq { lastSeq[collection] = max(seq, lastSeq[collection] ?? 0) }
        let data = type == "delete" ? nil : message["data"]?.objectValue
        if type != "delete" && data == nil { return }
        let updatedAt = message["timestamp"]?.stringValue.flatMap(RESTBackend.parseTimestamp) ?? Date()
        let record = RemoteRecord(collection: collection, recordID: recordID, data: data, version: version, seq: seq,
                                  updatedAt: updatedAt, hlc: metadata["hlc"]?.stringValue,
                                  clientID: metadata["clientId"]?.stringValue)
        let deltas: Set<String> = metadata["delta"] == true ? [recordID] : []
        do {
            let outcomes = try store.applyRealtime([record], deltas: deltas, filter: { self.config.syncFilters[$0] },
                                                   resolver: { self.resolver($0) })
            guard let (_, outcome) = outcomes.first, outcome != .skipped else { return }
            let eventType: SyncEvent.EventType = type == "delete" ? .realtimeDelete : type == "insert" ? .realtimeInsert : .realtimeUpdate
            store.events.emit(SyncEvent(eventType, collection: collection, recordID: recordID,
                                        metadata: ["version": .int(version)]))
            if outcome == .conflict { pushSignal.raise() }
        } catch {
            store.logger.log(.info, "could not apply a realtime change: \(error)", source: "realtime")
            engine.post(.requested)
        }
    }

    private func applySnapshot(collection: String?, message: [String: JSONValue]) {
        guard let collection, config.collections.contains(collection),
              let items = message["data"]?["records"]?.arrayValue else { return }
        let records = items.compactMap { item -> RemoteRecord? in
            guard let id = item["id"]?.stringValue ?? item["recordId"]?.stringValue, let data = item["data"]?.objectValue,
                  let version = item["version"]?.intValue else { return nil }
            return RemoteRecord(collection: collection, recordID: id, data: data, version: version,
                                updatedAt: item["updatedAt"]?.stringValue.flatMap(RESTBackend.parseTimestamp) ?? Date())
        }
        do {
            _ = try store.applyRealtime(records, deltas: [], filter: { self.config.syncFilters[$0] },
                                        resolver: { self.resolver($0) })
            store.events.emit(SyncEvent(.realtimeSync, collection: collection, metadata: ["recordCount": .int(records.count)]))
        } catch {
            store.logger.log(.info, "could not apply a realtime snapshot: \(error)", source: "realtime")
        }
    }

    private nonisolated func resolver(_ collection: String) -> ConflictResolver {
        ConflictResolver(config: config, collection: collection)
    }
}
