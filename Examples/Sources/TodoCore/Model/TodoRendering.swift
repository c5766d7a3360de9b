import Foundation
import SyncLayer

/// How todos look: as rows for people, as JSON for scripts.
enum TodoRendering {
    /// The version of every JSON document the CLI prints; bumped on incompatible changes.
    static let schemaVersion = 1

    /// `a1b2c3d4  [ ] Buy milk ↑`: short id, box, text, and a marker while not synced.
    static func row(_ todo: Todo, idLength: Int, style: Style) -> String {
        let box = todo.done ? style.green("[x]") : "[ ]"
        let text = todo.done ? style.dim(todo.text) : todo.text
        return "\(style.yellow(String(todo.id.prefix(idLength))))  \(box) \(text)\(marker(todo.syncState, style: style))"
    }

    /// ` ↑` pending, ` !` rejected, nothing when synced.
    static func marker(_ state: SyncState, style: Style) -> String {
        switch state {
        case .synced: ""
        case .pending: " " + style.cyan("↑")
        case .rejected: " " + style.red("!")
        }
    }

    /// The rows of a list, one per line (no trailing newline), or nil when there are none.
    static func rows(_ todos: [Todo], idLength: Int, style: Style) -> String? {
        todos.isEmpty ? nil : todos.map { row($0, idLength: idLength, style: style) }.joined(separator: "\n")
    }

    static func json(_ todo: Todo, idLength: Int = ShortID.minimumLength) -> JSONValue {
        [
            "id": .string(todo.id),
            "shortId": .string(String(todo.id.prefix(idLength))),
            "text": .string(todo.text),
            "done": .bool(todo.done),
            "createdAt": todo.createdAt.map { .string(Todo.formatDate($0)) } ?? .null,
            "syncState": .string(name(todo.syncState)),
        ]
    }

    static func json(_ todos: [Todo]) -> JSONValue {
        let length = ShortID.length(for: todos.map(\.id))
        return .array(todos.map { json($0, idLength: length) })
    }

    static func name(_ state: SyncState) -> String {
        switch state {
        case .synced: "synced"
        case .pending: "pending"
        case .rejected: "rejected"
        }
    }

    /// `3 s ago`, `5 min ago`, `2 h ago`, or the date.
    static func ago(_ date: Date, now: Date = Date()) -> String {
        let seconds = Int(now.timeIntervalSince(date).rounded())
        switch seconds {
        case ..<0: return "just now"
        case ..<60: return "\(seconds) s ago"
        case ..<3600: return "\(seconds / 60) min ago"
        case ..<86_400: return "\(seconds / 3600) h ago"
        default: return date.formatted(date: .abbreviated, time: .shortened)
        }
    }
}
