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
    ///
    /// A document read from the store keeps its stored JSON text (checked when read) and parses
    /// it on first access, so a query pays only for the fields it uses.
    public var data: [String: JSONValue] {
        get {
            switch fields {
            case .values(let values): values
            case .stored(let stored): stored.values
            }
        }
        set { fields = .values(newValue) }
    }
    /// Whether the server has every local change.
    public let syncState: SyncState
    /// Local version: 1 when the document is first stored on this device, then +1 for each
    /// change to the local copy: a local write, a server copy stored by sync, a resolved
    /// conflict, a rejected change rolled back. An acknowledgement leaves it as it is.
    public let version: Int
    /// The last version the server confirmed, `nil` if the server has never had it.
    public let serverVersion: Int?
    /// When the document last changed (local wall clock for local changes).
    public let updatedAt: Date

    private var fields: Fields

    public init(id: String, data: [String: JSONValue], syncState: SyncState = .pending, version: Int = 1,
                serverVersion: Int? = nil, updatedAt: Date = Date()) {
        self.init(id: id, fields: .values(data), syncState: syncState, version: version,
                  serverVersion: serverVersion, updatedAt: updatedAt)
    }

    init(id: String, fields: Fields, syncState: SyncState, version: Int, serverVersion: Int?, updatedAt: Date) {
        self.id = id
        self.fields = fields
        self.syncState = syncState
        self.version = version
        self.serverVersion = serverVersion
        self.updatedAt = updatedAt
    }

    public static func == (lhs: Document, rhs: Document) -> Bool {
        guard lhs.id == rhs.id, lhs.syncState == rhs.syncState, lhs.version == rhs.version,
              lhs.serverVersion == rhs.serverVersion, lhs.updatedAt == rhs.updatedAt else { return false }
        if case .stored(let a) = lhs.fields, case .stored(let b) = rhs.fields, a.text == b.text { return true }
        return lhs.data == rhs.data
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(version)
        hasher.combine(updatedAt)
    }

    /// Parsed fields, or the stored JSON text of a document read from the store.
    enum Fields: Sendable {
        case values([String: JSONValue])
        case stored(StoredFields)
    }

    /// A stored document's JSON text (already checked by ``JSONText/validateObject(_:)``) and,
    /// once read, its parsed fields.
    final class StoredFields: @unchecked Sendable {
        // @unchecked: `parsed` is only touched while holding the lock of its stripe.
        let text: String
        private var parsed: [String: JSONValue]?
        /// Striped locks: one lock per object would cost more than the parse it guards.
        private static let locks = (0..<32).map { _ in NSLock() }

        init(text: String) { self.text = text }

        var values: [String: JSONValue] {
            let lock = Self.locks[Int(bitPattern: UInt(bitPattern: ObjectIdentifier(self).hashValue) >> 4) & 31]
            lock.lock()
            defer { lock.unlock() }
            if let parsed { return parsed }
            // The text passed validation with the same parser when it was read, so this cannot fail.
            let values = (try? JSONText.parseObject(text)) ?? [:]
            parsed = values
            return values
        }
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
