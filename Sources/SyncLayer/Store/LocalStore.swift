import CSQLite
import Foundation

/// The single owner of the SQLite connection.
///
/// Every read and write runs under one lock, so there is exactly one user of the connection
/// at a time and nothing awaits inside a transaction. A write (`write(_:)`) is one
/// `BEGIN IMMEDIATE … COMMIT`; the document row and its outbox row are written in it together.
/// After the commit, observers of the changed collections are signalled and events emitted.
///
/// `@unchecked Sendable`: all mutable state (the connection, the clock) lives in `state`,
/// a `Locked` value; the other stored properties are immutable or `Sendable` themselves.
final class LocalStore: @unchecked Sendable {
    private struct State {
        var db: Database?
        var clock: HybridLogicalClock
    }

    /// Points where tests inject failures.
    enum FaultPoint: Sendable {
        /// After the document row is written, before its outbox row.
        case betweenDocumentAndOutbox
    }

    private let state: Locked<State>
    let clientID: String
    let wallClock: WallClock
    let changes = ChangeHub()
    let events: EventHub
    let logger: SyncLogger
    let path: String?
    private let faultInjector = Locked<(@Sendable (FaultPoint) throws -> Void)?>(nil)
    /// Called after a commit that queued operations (the sync engine's trigger).
    let onOperationsQueued = Locked<(@Sendable () -> Void)?>(nil)

    private let registration: String?

    init(storage: SyncConfig.Storage, durability: SyncConfig.Durability = .normal, logger: SyncLogger = .disabled,
         events: EventHub = EventHub(), wallClock: WallClock = .system, readOnly: Bool = false) throws {
        let path = try LocalStore.resolvePath(storage)
        let registration = try path.map { try OpenFiles.register($0) }
        let db: Database
        let clientID: String
        let lastStamp: HLCTimestamp?
        do {
            db = try Database(.init(path: path, readOnly: readOnly, synchronousFull: durability == .full))
            if !readOnly {
                try Schema.migrate(db)
                try db.run("INSERT INTO sl_meta (key, value) VALUES ('client_id', ?) ON CONFLICT (key) DO NOTHING",
                           [.text(UUID().uuidString.lowercased())])
            }
            clientID = try db.scalarText("SELECT value FROM sl_meta WHERE key = 'client_id'") ?? "unknown"
            lastStamp = try db.scalarText("SELECT value FROM sl_meta WHERE key = 'hlc'").flatMap(HLCTimestamp.init)
        } catch {
            // Nothing after this block throws: an init that fails has released the file.
            if let registration { OpenFiles.unregister(registration) }
            throw error
        }
        self.registration = registration
        db.finishStatements()
        self.state = Locked(State(db: db, clock: HybridLogicalClock(node: clientID, last: lastStamp)))
        self.clientID = clientID
        self.wallClock = wallClock
        self.events = events
        self.logger = logger
        self.path = path
        logger.log(.debug, "opened store (schema \(Schema.latestVersion))", source: "store")
    }

    /// The database file for a storage choice; creates the default folder (mode 0700).
    static func resolvePath(_ storage: SyncConfig.Storage) throws -> String? {
        switch storage {
        case .inMemory:
            return nil
        case .file(let path):
            return path
        case .default:
            let base: URL
            do {
                base = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                                   appropriateFor: nil, create: true)
            } catch {
                throw StoreError(resultCode: SQLITE_CANTOPEN, message: "no application support folder: \(error)")
            }
            let folder = base.appendingPathComponent("synclayer", isDirectory: true)
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError(resultCode: SQLITE_CANTOPEN, message: "cannot create \(folder.path): \(error)")
            }
            return folder.appendingPathComponent("synclayer.sqlite").path
        }
    }

    deinit {
        if let registration { OpenFiles.unregister(registration) }
    }

    /// Closes the connection and ends every observation. Later calls throw `closed`.
    func close() {
        let wasOpen = state.withLock { state in
            defer {
                state.db?.close()
                state.db = nil
            }
            return state.db != nil
        }
        if wasOpen, let registration { OpenFiles.unregister(registration) }
        changes.finish()
        events.finish()
    }

    private static let closedError = SyncLayerError(.closed, "the SyncLayer instance was closed")

    // MARK: Reading and writing

    /// Runs `body` with the connection, outside any explicit transaction.
    @discardableResult
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try state.withLock { state in
            guard let db = state.db else { throw LocalStore.closedError }
            defer { db.finishStatements() }
            return try body(db)
        }
    }

    /// Runs `body` in one write transaction, then signals observers and emits events.
    @discardableResult
    func write<T>(_ body: (WriteContext) throws -> T) throws -> T {
        let (value, context) = try state.withLock { state -> (T, WriteContext) in
            guard let db = state.db else { throw LocalStore.closedError }
            let context = WriteContext(db: db, clock: state.clock, now: wallClock.milliseconds(),
                                       inject: faultInjector.withLock { $0 })
            let value = try db.transaction {
                let value = try body(context)
                if context.clock.last != state.clock.last {
                    try db.run("INSERT INTO sl_meta (key, value) VALUES ('hlc', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                               [.text(context.clock.last.description)])
                }
                return value
            }
            state.clock = context.clock
            return (value, context)
        }
        if !context.changedCollections.isEmpty { changes.notify(context.changedCollections) }
        for event in context.events { events.emit(event) }
        if context.queuedOperations, let hook = onOperationsQueued.withLock({ $0 }) { hook() }
        return value
    }

    /// Installs a fault injector (tests only).
    func injectFaults(_ injector: (@Sendable (FaultPoint) throws -> Void)?) {
        faultInjector.withLock { $0 = injector }
    }
}

/// The database files open in this process: one `SyncLayer` per file, so every write is seen by
/// every `watch()` and the clock has one owner.
enum OpenFiles {
    private static let paths = Locked<Set<String>>([])

    /// Registers a file; returns the key to unregister with.
    static func register(_ path: String) throws -> String {
        let url = URL(fileURLWithPath: path)
        let key = url.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(url.lastPathComponent).path
        let added = paths.withLock { $0.insert(key).inserted }
        guard added else {
            throw SyncLayerError(.alreadyOpen, "\(path) is already open in this process; share that SyncLayer instance")
        }
        return key
    }

    static func unregister(_ key: String) {
        paths.withLock { _ = $0.remove(key) }
    }
}

/// What one write transaction sees: the connection, the clock, and what it changed.
///
/// Lives only inside `LocalStore.write`, under the store's lock.
final class WriteContext {
    let db: Database
    var clock: HybridLogicalClock
    let now: Int64
    private let inject: (@Sendable (LocalStore.FaultPoint) throws -> Void)?
    private(set) var changedCollections: Set<String> = []
    private(set) var events: [SyncEvent] = []
    /// Whether this transaction added or changed pending outbox rows.
    var queuedOperations = false

    init(db: Database, clock: HybridLogicalClock, now: Int64, inject: (@Sendable (LocalStore.FaultPoint) throws -> Void)?) {
        self.db = db
        self.clock = clock
        self.now = now
        self.inject = inject
    }

    /// A fresh clock stamp for a local change.
    func stamp() -> HLCTimestamp { clock.next(now: now) }

    func changed(_ collection: String) { changedCollections.insert(collection) }

    func emit(_ event: SyncEvent) { events.append(event) }

    func fault(_ point: LocalStore.FaultPoint) throws { try inject?(point) }
}
