import Foundation
import SyncLayer

/// One todo: a document `{text, done, createdAt}` in the `todos` collection, plus where it
/// stands with the server.
public struct Todo: Sendable, Hashable, Identifiable {
    public var id: String
    public var text: String
    public var done: Bool
    /// When it was added (ISO 8601 in the document, so it sorts as text).
    public var createdAt: Date?
    public var syncState: SyncState

    public init(id: String, text: String, done: Bool = false, createdAt: Date? = Date(), syncState: SyncState = .pending) {
        self.id = id
        self.text = text
        self.done = done
        self.createdAt = createdAt
        self.syncState = syncState
    }

    /// Reads a stored document; tolerates documents written by other apps (missing fields).
    init(_ document: Document) {
        id = document.id
        text = document["text"]?.stringValue ?? ""
        done = document["done"]?.boolValue ?? false
        createdAt = document["createdAt"]?.stringValue.flatMap(Todo.parseDate)
        syncState = document.syncState
    }

    /// The document's fields.
    var data: [String: JSONValue] {
        var data: [String: JSONValue] = ["text": .string(text), "done": .bool(done)]
        if let createdAt { data["createdAt"] = .string(Todo.formatDate(createdAt)) }
        return data
    }

    static let collection = "todos"

    /// A new id: a lowercase UUID, so the short form reads well and prefixes are easy to type.
    static func newID() -> String { UUID().uuidString.lowercased() }

    static func formatDate(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    static func parseDate(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}
