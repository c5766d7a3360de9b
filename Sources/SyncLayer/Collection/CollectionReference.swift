/// A collection of JSON documents: save, read, update, delete, query and watch.
///
/// Cheap to make: `sync.collection("todos")` returns a new reference each time, all over the
/// same store. Every write commits locally (document and outbox entry in one transaction)
/// and returns without waiting for the network.
///
/// ```swift
/// let todos = sync.collection("todos")
/// let id = try await todos.save(["text": "Buy milk", "done": false])
/// try await todos.update(id, ["done": true])
/// for try await open in todos.where("done", isEqualTo: false).watch() { render(open) }
/// ```
///
/// A collection that is not in `SyncConfig.collections` throws
/// ``SyncLayerError/Code/unknownCollection`` from every call.
public struct CollectionReference: QueryBuilding {
    /// The collection name.
    public let name: String
    let source: CollectionSource

    init(source: CollectionSource) {
        self.source = source
        self.name = source.name
    }

    /// All documents of the collection, as a query to refine.
    public var query: Query<Document> { Query(spec: QuerySpec(collection: name), source: source) { $0 } }

    /// Saves a document: inserts it, or replaces the whole document when the id exists
    /// (a deleted id is brought back).
    ///
    /// - Parameters:
    ///   - data: The fields. An `id` field, if present, must be the document id.
    ///   - id: The document id; default: the data's `id` string, else a new UUID.
    /// - Returns: The document id.
    /// - Throws: ``SyncLayerError`` for an invalid id or data, ``StoreError`` when SQLite fails.
    @discardableResult
    public func save(_ data: [String: JSONValue], id: String? = nil) async throws -> String {
        try source.store().save(name, id: id, data: data).id
    }

    /// The document with this id, or nil (also for a deleted one).
    public func get(_ id: String) async throws -> Document? {
        try source.store().document(name, id: id)
    }

    /// Every document, in insertion order.
    public func getAll() async throws -> [Document] {
        try await query.get()
    }

    /// Sets fields of an existing document; other fields stay. A key with dots sets a nested
    /// field (`["meta.priority": 3]`), creating objects on the way. A `null` value stores null
    /// (it does not remove the field). The change is queued as a patch of the top-level fields
    /// it touched.
    ///
    /// - Throws: ``SyncLayerError/Code/documentNotFound`` when there is no such document;
    ///   ``SyncLayerError/Code/invalidDocument`` when a change would alter the `id` field
    ///   (which, as in ``save(_:id:)``, is the document id or absent).
    public func update(_ id: String, _ changes: [String: JSONValue]) async throws {
        _ = try source.store().update(name, id: id, changes: changes)
    }

    /// Deletes a document. Returns false when there was none (nothing is queued then).
    @discardableResult
    public func delete(_ id: String) async throws -> Bool {
        try source.store().delete(name, id: id)
    }

    /// Saves many documents in one transaction: all are stored, or none.
    ///
    /// Each document's id is its `id` string field, else a new UUID.
    @discardableResult
    public func saveAll(_ documents: [[String: JSONValue]]) async throws -> [String] {
        try source.store().saveAll(name, documents.map { (id: nil, data: $0) })
    }

    /// Deletes many documents in one transaction; returns how many existed.
    @discardableResult
    public func deleteAll(_ ids: [String]) async throws -> Int {
        try source.store().deleteAll(name, ids: ids)
    }

    /// The documents now, then after every change to the collection.
    public func watch() -> QueryObservation<Document> { query.watch() }

    /// How many documents the collection holds.
    public func count() async throws -> Int { try await query.count() }

    /// Indexes a field (a dot path) so queries filtering or sorting on it use the index.
    /// Idempotent; the index serves that field in every collection.
    public func createIndex(on field: String) async throws {
        let store = try source.store()
        guard let sql = try QuerySQL.createIndex(on: field) else { return }
        try store.read { db in try db.execute(sql) }
    }
}
