import Foundation

/// Where a document stands with the server.
public enum SyncState: Int, Sendable, Hashable, CaseIterable {
    /// The server has every local change.
    case synced = 0
    /// Local changes wait to be pushed.
    case pending = 1
    /// The server rejected the last change for good.
    case rejected = 2
}

/// A stored document: its id, its data, and its sync metadata.
///
/// ```swift
/// if let doc = try await todos.get(id) {
///     print(doc.id, doc["text"] ?? "", doc.syncState)
/// }
/// ```
public struct Document: Sendable, Hashable, Identifiable {
    /// The document id, unique within its collection.
    public let id: String
    /// The fields.
    public var data: [String: JSONValue]
    /// Whether the server has every local change.
    public let syncState: SyncState
    /// Local version: 1 on creation, +1 for each local write.
    public let version: Int
    /// The last version the server confirmed, `nil` if the server has never had it.
    public let serverVersion: Int?
    /// When the document last changed (local wall clock for local changes).
    public let updatedAt: Date

    public init(id: String, data: [String: JSONValue], syncState: SyncState = .pending, version: Int = 1,
                serverVersion: Int? = nil, updatedAt: Date = Date()) {
        self.id = id
        self.data = data
        self.syncState = syncState
        self.version = version
        self.serverVersion = serverVersion
        self.updatedAt = updatedAt
    }

    /// The field named `field`.
    public subscript(field: String) -> JSONValue? { data[field] }

    /// Whether local changes wait to be pushed.
    public var hasPendingWrites: Bool { syncState == .pending }

    /// Decodes the data into a model; the document id fills an `id` field the data lacks.
    ///
    /// - Throws: ``SyncLayerError/Code/modelCoding`` when the data does not fit `T`.
    public func decode<T: Decodable>(as type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        var object = data
        if object["id"] == nil { object["id"] = .string(id) }
        do {
            return try decoder.decode(T.self, from: Data(JSONText.encode(object).utf8))
        } catch {
            throw SyncLayerError(.modelCoding, "document \(Identifiers.describe(id)) does not decode as \(T.self): \(error)")
        }
    }
}
