import Foundation

/// Sends local changes and receives remote ones over the WebSocket as they happen.
///
/// Opt-in (``SyncConfig/enableRealtimeSync``). It is an accelerator on top of HTTP sync, never
/// a second source of truth:
/// - Local changes go out as protocol v2 change messages carrying their outbox op id, so the
///   server applies each once whether it arrives by WebSocket or by HTTP. An op leaves the
///   outbox only when acknowledged (the same transaction as over HTTP). Operations go over the
///   socket only to a server that acknowledges them (protocol v2; on each connection, the first
///   op alone until an ack proves it); when no ack comes within the ack timeout, the same
///   operations go over HTTP at once. Pushes over both paths share one lock, so a document's
///   operations reach the server in order.
/// - Remote changes are applied like pulled records: idempotent by server version (a repeated or
///   older message never regresses a document), conflicts go through the resolver and the
///   result is pushed, deltas merge into the server copy and never replace a document, the
///   client's own echoes only move the server version.
/// - The pull cursor moves only with HTTP pulls, so a message lost while the socket was down
///   is never skipped: every (re)connection subscribes from that cursor and, once subscribed,
///   pulls to catch up; a lost message (`prevSeq` of the next one) or an out-of-order one also
///   triggers a pull. A subscription refused for its cursor is made again after a pull.
public actor RealtimeSyncManager: PushChannel {
    /// The WebSocket underneath.
    public nonisolated let socket: WebSocketService
    let store: LocalStore
    let engine: SyncEngine
    let config: SyncConfig
    /// How long a pushed operation may wait for its ack before HTTP takes over.
    let ackTimeout: Duration
    /// How long to wait for `subscribed` answers before going live anyway (a server that does
    /// not send them).
    let subscribeTimeout: Duration
    private var tasks: [Task<Void, Never>] = []
    /// What this manager knows of the current connection; starts over with each one.
    private var link = Link()
    private nonisolated let liveness = Broadcast<Bool>(replaysLatest: true, initial: false)
    private var awaitingAcks: [String: CheckedContinuation<JSONValue?, Never>] = [:]
    /// Acks of ops being pushed that arrived before their turn to be awaited.
    private var arrivedAcks: [String: JSONValue] = [:]
    /// The op ids of the push in progress; acks of other ops (late, duplicated) are dropped.
    private var expectedAcks: Set<String> = []
    private nonisolated let pushSignal = ChangeSignal()

    /// The state of one connection.
    private struct Link {
        /// Counts connections, so a timer or a task of an earlier one does nothing.
        var number = 0
        var isUp = false
        /// Whether `realtimeConnected` was emitted for this connection.
        var announced = false
        /// Collections whose `subscribed` answer has not arrived on this connection.
        var awaitingSubscribed: Set<String> = []
        /// Collections whose subscription was refused for its cursor, being made again after a pull.
        var resubscribing: Set<String> = []
        /// The cursor each collection was last subscribed with (nil: none).
        var cursors: [String: String?] = [:]
        /// Whether the server acknowledges ops (v2); nil until the first push over this connection.
        var acknowledges: Bool?
        var sequence = ChangeSequence()
    }

    init(socket: WebSocketService, store: LocalStore, engine: SyncEngine, config: SyncConfig,
         ackTimeout: Duration = .seconds(5), subscribeTimeout: Duration = .seconds(2)) {
        self.socket = socket
        self.store = store
        self.engine = engine
        self.config = config
        self.ackTimeout = ackTimeout
        self.subscribeTimeout = subscribeTimeout
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
            link = Link(number: link.number + 1, isUp: true, awaitingSubscribed: Set(config.collections))
            let current = link.number
            pushSignal.raise()
            for collection in config.collections {
                await subscribe(collection, cursor: try? store.pullCursor(collection, protocolVersion: 2))
            }
            Task { [weak self, subscribeTimeout] in
                try? await Task.sleep(for: subscribeTimeout)
                await self?.subscribeTimedOut(connection: current)
            }
        case .reconnecting, .disconnected, .error:
            if link.isUp {
                store.events.emit(SyncEvent(.realtimeDisconnected, metadata: ["state": .string(Self.name(state))]))
            }
            if case .error(let error) = state {
                store.events.emit(SyncEvent(.error, metadata: ["messageType": "connection"], error: error.description))
            }
            link.isUp = false
            link.awaitingSubscribed.removeAll()
            liveness.yield(false)
            failPendingAcks()
        case .connecting:
            break
        }
    }

    /// No `subscribed` came in time: a server that does not send them. A subscription being
    /// made again after a refused cursor still waits for its answer (the server sends them).
    private func subscribeTimedOut(connection: Int) {
        guard link.isUp, connection == link.number, link.resubscribing.isEmpty else { return }
        link.awaitingSubscribed.removeAll()
        goLive()
    }

    /// Every subscription of the connection is confirmed (or the wait timed out): live, then a
    /// pull catches up on what changed before the subscriptions took effect (while the socket
    /// was down, between the last pull and a subscription without cursor) or was lost in the
    /// replay.
    private func goLive() {
        guard link.isUp, link.awaitingSubscribed.isEmpty, !isLive else { return }
        liveness.yield(true)
        if !link.announced {
            link.announced = true
            store.events.emit(SyncEvent(.realtimeConnected, metadata: ["collections": .array(config.collections.map(JSONValue.string))]))
        }
        engine.post(.requested)
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

    private func subscribe(_ collection: String, cursor: String?) async {
        var message: [String: JSONValue] = ["type": "subscribe", "collection": .string(collection)]
        if let cursor { message["metadata"] = ["cursor": .string(cursor)] }
        link.cursors[collection] = .some(cursor)
        link.sequence.forget(collection)
        try? await socket.send(JSONText.encode(message))
    }

    /// The server refused the cursor of `collection`'s subscription (`CURSOR_EXPIRED`,
    /// `INVALID_CURSOR`): not live for it until a pull (which starts the cursor over when the
    /// server refuses it too) and a new subscription from the cursor that pull stored.
    private func resubscribeAfterPull(_ collection: String) {
        guard link.isUp, link.resubscribing.insert(collection).inserted else { return }
        link.awaitingSubscribed.insert(collection)
        liveness.yield(false)
        let current = link.number, refused = link.cursors[collection] ?? nil
        Task { [weak self, engine] in
            do {
                try await engine.syncNow()
            } catch {
                self?.store.logger.log(.info, "the pull after a refused cursor failed: \(error)", source: "realtime")
            }
            await self?.resubscribe(collection, connection: current, refused: refused)
        }
    }

    private func resubscribe(_ collection: String, connection: Int, refused: String?) async {
        guard link.isUp, connection == link.number else { return }
        // The same cursor again (the pull failed, or the server's HTTP side took it): subscribe
        // from now; the pull after `subscribed` covers the rest.
        let cursor = try? store.pullCursor(collection, protocolVersion: 2)
        await subscribe(collection, cursor: cursor == refused ? nil : cursor)
    }

    // MARK: Pushing over the socket (PushChannel)

    /// Sends the batch as change messages and returns the acknowledged prefix; nil, so that the
    /// engine sends the batch over HTTP at once, when the socket is down, the server does not
    /// speak v2, or no ack came in time.
    func push(_ batch: PushBatch) async throws -> [PushResult]? {
        guard isConnected, link.isUp, link.acknowledges != false, await serverSpeaksV2() else { return nil }
        let current = link.number
        // Until an ack proves the server acknowledges ops, one op: a server that does not (v1)
        // applies it once more than HTTP will, never a batch again and again.
        let operations = link.acknowledges == true ? batch.operations : Array(batch.operations.prefix(1))
        expectedAcks.formUnion(operations.map(\.opID))
        defer {
            for op in operations {
                expectedAcks.remove(op.opID)
                arrivedAcks[op.opID] = nil
            }
        }
        let timestamp = JSONValue.string(RESTBackend.formatTimestamp(Date()))
        do {
            for op in operations {
                try await socket.send(JSONText.encode(Self.message(op, clientID: batch.clientID, timestamp: timestamp)))
            }
        } catch {
            return nil
        }
        let deadline = ContinuousClock.now + ackTimeout
        var results: [PushResult] = []
        for op in operations {
            guard let ack = await ack(for: op.opID, deadline: deadline),
                  let result = try? RESTBackend.pushResult(ack, for: op) else { break }
            results.append(result)
        }
        guard !results.isEmpty else {
            if link.acknowledges == nil, link.isUp, current == link.number {
                link.acknowledges = false
                store.logger.log(.info, "the server did not acknowledge an op: pushing over HTTP on this connection",
                                 source: "realtime")
            }
            return nil
        }
        return results
    }

    private static func message(_ op: PushOperation, clientID: String, timestamp: JSONValue) -> [String: JSONValue] {
        var message: [String: JSONValue] = [
            "type": .string(op.kind == .patch ? "update" : op.kind.rawValue),
            "collection": .string(op.collection), "recordId": .string(op.recordID), "timestamp": timestamp,
            "metadata": ["opId": .string(op.opID), "clientId": .string(clientID),
                         "baseVersion": op.baseVersion.map { .int($0) } ?? .null, "hlc": .string(op.hlc),
                         "delta": .bool(op.kind == .patch)],
        ]
        if let payload = op.payload { message["data"] = .object(payload) }
        return message
    }

    /// Whether the backend negotiated protocol v2 (op ids): a v1 server would apply a change
    /// sent over both paths twice.
    private func serverSpeaksV2() async -> Bool {
        guard let capabilities = try? await engine.backend.capabilities() else { return false }
        return capabilities.protocolVersion >= 2
    }

    private func ack(for opID: String, deadline: ContinuousClock.Instant) async -> JSONValue? {
        if let arrived = arrivedAcks.removeValue(forKey: opID) { return arrived }
        guard link.isUp else { return nil }
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
        } else if let result, expectedAcks.contains(opID) {
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
            if let result = message["data"], let opID = result["opId"]?.stringValue {
                link.acknowledges = true
                resolveAck(opID, with: result)
            }
        case "sync":
            applySnapshot(collection: collection, message: message)
        case "error":
            let code = message["code"]?.stringValue ?? "UNKNOWN"
            store.events.emit(SyncEvent(.error, collection: collection, recordID: message["recordId"]?.stringValue,
                                        metadata: ["code": .string(code), "messageType": "error"],
                                        error: String((message["error"]?.stringValue ?? code).prefix(300))))
            if let opID = metadata["opId"]?.stringValue {
                link.acknowledges = true  // an answer naming the op: the server speaks v2
                resolveAck(opID, with: .null)  // refused over the socket; HTTP gets the verdict
            }
            if code == "CURSOR_EXPIRED" || code == "INVALID_CURSOR", let collection, config.collections.contains(collection) {
                resubscribeAfterPull(collection)
            }
        case "subscribed":
            guard let collection, config.collections.contains(collection) else { return }
            link.awaitingSubscribed.remove(collection)
            link.resubscribing.remove(collection)
            if let seq = metadata["seq"]?.intValue, link.sequence.subscribed(collection, seq: seq) == .missing {
                engine.post(.requested)  // a replayed change was lost
            }
            goLive()
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
        if let seq, link.sequence.change(collection, seq: seq, prevSeq: metadata["prevSeq"]?.intValue) == .missing {
            engine.post(.requested)  // a message was lost (or overtaken): the pull brings it
        }
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
