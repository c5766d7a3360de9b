import Foundation
import SyncLayer

/// The todos of one store, over a `SyncLayer` instance: reading, writing, and syncing now.
final class TodoStore: Sendable {
    let sync: SyncLayer
    /// The server this store syncs with, when one is configured and not `--offline`.
    let server: ServerSettings?

    var todos: CollectionReference { sync.collection(Todo.collection) }

    private init(sync: SyncLayer, server: ServerSettings?) {
        self.sync = sync
        self.server = server
    }

    /// Opens (or creates) the store.
    ///
    /// - Parameters:
    ///   - realtime: the WebSocket endpoint to keep a realtime connection to, when wanted.
    ///   - autoSync: let the SDK sync by itself (long-running commands); one-shot commands
    ///     sync explicitly with ``syncNow(timeout:)``.
    ///   - syncInterval: how often the SDK syncs by itself with `autoSync`.
    static func open(storage: SyncConfig.Storage, server: ServerSettings?, realtime: URL? = nil, autoSync: Bool = false,
                     syncInterval: Duration = .seconds(300), reconnectDelay: Duration = .milliseconds(500),
                     logger: SyncLogger = .disabled) async throws -> TodoStore {
        let config = SyncConfig(
            baseURL: server?.url, collections: [Todo.collection], authToken: server?.token, syncInterval: syncInterval,
            enableAutoSync: autoSync,
            conflictStrategy: server?.strategy ?? .lastWriteWins, enableRealtimeSync: server != nil && realtime != nil,
            websocketURL: server == nil ? nil : realtime, websocketReconnectDelay: reconnectDelay, storage: storage,
            logger: logger, transport: SyncConfig.defaultTransport(timeout: 10))
        do {
            return TodoStore(sync: try await SyncLayer(config: config), server: server)
        } catch let error as SyncLayerError where error.code == .invalidConfiguration {
            throw TodoError.usage(error.message)
        } catch {
            throw TodoError("cannot open the todo store \(TodoStore.describe(storage)): \(error)",
                            hint: "pass --db PATH to use another file")
        }
    }

    static func describe(_ storage: SyncConfig.Storage) -> String {
        switch storage {
        case .default: "in the default location"
        case .file(let path): "at \(path)"
        case .inMemory: "in memory"
        }
    }

    func close() async { await sync.close() }

    // MARK: Reading

    /// The todos, oldest first; open ones only unless `includeDone`.
    func list(includeDone: Bool = true) async throws -> [Todo] {
        let query = includeDone ? todos.orderBy("createdAt") : todos.where("done", isNotEqualTo: true).orderBy("createdAt")
        return try await query.get().map(Todo.init)
    }

    /// The todos named by ids or id prefixes, in the order given, each once.
    ///
    /// - Throws: ``TodoError`` (``ExitStatus/dataError``) for an unknown or ambiguous id;
    ///   nothing is resolved then.
    func resolve(_ inputs: [String]) async throws -> [Todo] {
        let all = try await list()
        var seen = Set<String>()
        return try inputs.compactMap { input in
            let todo = try ShortID.resolve(input, among: all)
            return seen.insert(todo.id).inserted ? todo : nil
        }
    }

    // MARK: Writing

    /// Adds a todo; returns it as stored.
    func add(_ text: String) async throws -> Todo {
        let todo = Todo(id: Todo.newID(), text: text)
        try await todos.save(todo.data, id: todo.id)
        return try await reload(todo)
    }

    /// Sets fields of a todo (a delta: other fields stay); returns it as stored.
    func update(_ todo: Todo, _ changes: [String: JSONValue]) async throws -> Todo {
        try await todos.update(todo.id, changes)
        return try await reload(todo)
    }

    /// Deletes a todo; returns whether it was still there.
    func remove(_ todo: Todo) async throws -> Bool {
        try await todos.delete(todo.id)
    }

    private func reload(_ todo: Todo) async throws -> Todo {
        try await todos.get(todo.id).map(Todo.init) ?? todo
    }

    // MARK: Syncing

    /// How a sync attempt went.
    enum SyncAttempt: Sendable {
        /// No server configured (or `--offline`): nothing to do.
        case noServer
        case synced
        case failed(SyncError)
    }

    /// Pushes queued changes and pulls, bounded by `timeout` (a server that does not answer
    /// counts as unreachable).
    func syncNow(timeout: Duration = .seconds(10)) async throws -> SyncAttempt {
        guard server != nil else { return .noServer }
        do {
            guard try await withDeadline(timeout, { [sync] in try await sync.syncNow() }) != nil else {
                return .failed(SyncError(kind: .network, message: "no answer within \(timeout)", isRetryable: true))
            }
            return .synced
        } catch let error as SyncError {
            return .failed(error)
        }
    }

    /// After a write: sync when a server is configured; report how it went.
    ///
    /// A sync that fails or a change the server refuses is not thrown: the summary says so and
    /// carries the error to exit with (``SyncSummary/error``), so the write can be shown first.
    ///
    /// - Throws: when the local store cannot be read, or for an error that is not a sync
    ///   failure (the store closed, the task cancelled).
    func syncAfterWrite(timeout: Duration = .seconds(10)) async throws -> SyncSummary {
        guard let server else { return SyncSummary(state: .local, pending: try await sync.pendingOperationCount()) }
        let rejectedBefore = try await sync.outboxCounts().rejected
        let attempt = try await syncNow(timeout: timeout)
        let counts = try await sync.outboxCounts()
        switch attempt {
        case .noServer:
            return SyncSummary(state: .local, pending: counts.pending)
        case .synced where counts.rejected > rejectedBefore:
            let rejected = try await sync.rejectedOperations().suffix(counts.rejected - rejectedBefore)
            return SyncSummary(state: .rejected, pending: counts.pending, rejected: Array(rejected),
                               error: TodoError.rejected(rejected, hint: "the todo was brought back to the server's version"))
        case .synced:
            return SyncSummary(state: counts.pending == 0 ? .synced : .queued, pending: counts.pending)
        case .failed(let error):
            return .failure(TodoError.sync(error, server: server.displayURL, queued: counts.pending), pending: counts.pending)
        }
    }

    /// What a write command reports about syncing (`"sync"` in its `--json` output).
    struct SyncSummary: Sendable {
        enum State: String, Sendable {
            /// No server configured, or `--offline`: the change stays on this machine.
            case local
            /// The command changed nothing, so there was nothing to push.
            case unchanged
            /// The change reached the server and nothing is left to push.
            case synced
            /// Saved and waiting to be pushed: the server was unreachable, refused the token,
            /// or more changes are queued.
            case queued
            /// The server refused the change for good (``SyncSummary/rejected`` says why).
            case rejected
            /// The sync failed with nothing left queued (the push went through, the pull did not).
            case failed
        }

        var state: State
        var pending: Int
        /// The changes the server refused in this sync, for ``State/rejected``.
        var rejected: [RejectedOperation] = []
        /// What the command exits with once it has shown the write: the sync failure or the rejection.
        var error: (any Error)?

        /// A sync that failed: the change is queued unless nothing is left to push.
        static func failure(_ error: any Error, pending: Int) -> SyncSummary {
            SyncSummary(state: pending == 0 ? .failed : .queued, pending: pending, error: error)
        }

        var json: JSONValue {
            var fields: [String: JSONValue] = ["state": .string(state.rawValue), "pending": .int(pending)]
            if state == .rejected { fields["rejected"] = .array(rejected.map(\.json)) }
            return .object(fields)
        }
    }

    // MARK: Last sync

    /// When this store last synced successfully (the SDK keeps it in the database across runs),
    /// and the server it is configured with now.
    func lastSync() -> LastSync? {
        guard let date = sync.status.lastSyncedAt else { return nil }
        return LastSync(date: date, server: server?.displayURL ?? "no server configured now")
    }

    struct LastSync: Sendable, Hashable {
        var date: Date
        var server: String
    }
}
