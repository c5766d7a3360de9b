import Foundation

/// The entry point: opens the local store and hands out collections.
///
/// ```swift
/// let sync = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(path)))
/// let todos = sync.collection("todos")
/// let id = try await todos.save(["text": "Buy milk", "done": false])
/// ```
///
/// Everything works on instances; open one per database. Call ``close()`` when done: it ends
/// every `watch()` and the ``events`` streams.
public final class SyncLayer: Sendable {
    /// The configuration this instance was opened with.
    public let config: SyncConfig
    let store: LocalStore
    private let knownCollections: Set<String>

    /// Validates `config` and opens (or creates and migrates) the local database.
    ///
    /// - Throws: ``SyncLayerError`` for invalid configuration or a database from a newer
    ///   version; ``StoreError`` when the file cannot be opened.
    public init(config: SyncConfig) async throws {
        try config.validate()
        self.config = config
        self.knownCollections = Set(config.collections)
        self.store = try LocalStore(storage: config.storage, durability: config.durability, logger: config.logger)
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

    /// This installation's client id, created with the database and kept with it.
    public var clientID: String { store.clientID }

    /// The path of the database file (`nil` when in memory).
    public var databasePath: String? { store.path }

    /// Changes queued for the server and not yet acknowledged.
    public func pendingOperationCount() async throws -> Int {
        try store.scalar(sql: "SELECT count(*) FROM sl_outbox WHERE state = 0", bindings: [])
    }

    /// Closes the database; ends every observation and event stream. Further calls throw
    /// ``SyncLayerError/Code/closed``.
    public func close() async {
        store.close()
    }
}
