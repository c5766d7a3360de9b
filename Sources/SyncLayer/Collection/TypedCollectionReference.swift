import Foundation

/// A collection seen through a `Codable` model.
///
/// The same documents as ``CollectionReference``, encoded and decoded with `JSONEncoder` and
/// `JSONDecoder`. The model's `id` is the document id.
///
/// ```swift
/// struct Todo: Codable, Identifiable, Sendable { var id: String; var text: String; var done: Bool }
/// let todos = sync.collection("todos", as: Todo.self)
/// try await todos.save(Todo(id: UUID().uuidString, text: "Call mum", done: false))
/// let open: [Todo] = try await todos.where("done", isEqualTo: false).get()
/// ```
public struct TypedCollectionReference<Model>: QueryBuilding
where Model: Codable & Identifiable & Sendable, Model.ID == String {
    /// The untyped view of the same collection.
    public let untyped: CollectionReference
    private let coder: ModelCoder<Model>

    init(untyped: CollectionReference, encoder: JSONEncoder, decoder: JSONDecoder) {
        self.untyped = untyped
        self.coder = ModelCoder(encoder: encoder, decoder: decoder)
    }

    public var name: String { untyped.name }

    public var query: Query<Model> {
        let coder = coder
        return Query(spec: QuerySpec(collection: untyped.name), source: untyped.source) { try coder.decode($0) }
    }

    /// Saves a model under its id (insert or full replacement).
    @discardableResult
    public func save(_ model: Model) async throws -> String {
        try await untyped.save(try coder.encode(model), id: model.id)
    }

    /// Saves many models in one transaction.
    @discardableResult
    public func saveAll(_ models: [Model]) async throws -> [String] {
        let documents = try models.map { model -> (id: String?, data: [String: JSONValue]) in (model.id, try coder.encode(model)) }
        return try untyped.source.store().saveAll(untyped.name, documents)
    }

    /// The model with this id, or nil.
    public func get(_ id: String) async throws -> Model? {
        try await untyped.get(id).map(coder.decode)
    }

    /// Every model, in insertion order.
    public func getAll() async throws -> [Model] { try await query.get() }

    /// Sets fields of an existing document; a key with dots sets a nested field
    /// (see ``CollectionReference/update(_:_:)``).
    public func update(_ id: String, _ changes: [String: JSONValue]) async throws {
        try await untyped.update(id, changes)
    }

    /// Deletes a document. Returns false when there was none.
    @discardableResult
    public func delete(_ id: String) async throws -> Bool { try await untyped.delete(id) }

    /// Deletes many documents in one transaction; returns how many existed.
    @discardableResult
    public func deleteAll(_ ids: [String]) async throws -> Int { try await untyped.deleteAll(ids) }

    /// The models now, then after every change to the collection.
    public func watch() -> QueryObservation<Model> { query.watch() }
}

/// Model ⇄ document conversion.
///
/// `@unchecked Sendable`: the encoder and decoder are only read (their settings are fixed
/// at creation), and `encode`/`decode` are safe to call concurrently.
struct ModelCoder<Model: Codable>: @unchecked Sendable {
    let encoder: JSONEncoder
    let decoder: JSONDecoder

    func encode(_ model: Model) throws -> [String: JSONValue] {
        do {
            let data = try encoder.encode(model)
            guard case .object(let object) = try JSONText.parse(data) else {
                throw SyncLayerError(.modelCoding, "\(Model.self) does not encode as a JSON object")
            }
            return object
        } catch let error as SyncLayerError {
            throw error
        } catch {
            throw SyncLayerError(.modelCoding, "\(Model.self) does not encode: \(error)")
        }
    }

    func decode(_ document: Document) throws -> Model {
        try document.decode(as: Model.self, decoder: decoder)
    }
}
