import ArgumentParser
import Foundation
import SyncLayer

/// `todo add TEXT…`
struct AddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a todo.",
        discussion: """
            Saved locally at once; pushed to the server when one is configured (exit 75 when it \
            cannot be reached: the todo stays queued for the next sync).

            EXAMPLES
              todo add "Buy milk"
              todo add Call mum about Sunday        (words are joined with spaces)
              todo add -- "-5 °C tonight: cover the plants"
              todo add "Water plants" --json
            """)

    @Argument(help: ArgumentHelp("The text of the todo.", valueName: "text"))
    var words: [String] = []

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        guard !text.isEmpty else { throw ValidationError("Missing the todo's text, e.g. todo add \"Buy milk\".") }
    }

    var text: String { words.joined(separator: " ").trimmingCharacters(in: .whitespacesAndNewlines) }

    func run() async throws {
        let printer = output.printer()
        try await withTodoStore(store, server) { store in
            let todo = try await store.add(text)
            try await finishWrite(store, action: "added", todos: [todo], changed: 1, printer: printer)
        }
    }
}

/// `todo done ID…`
struct DoneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "done",
        abstract: "Mark todos as done.",
        discussion: """
            EXAMPLES
              todo done a1b2c3d4
              todo done a1b 9f                       (unique id prefixes, several at once)
            """)

    @Argument(help: ArgumentHelp("Ids or unique id prefixes.", valueName: "id"))
    var ids: [String] = []

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("Missing the id of a todo (see `todo list`).") }
    }

    func run() async throws {
        try await setDone(true, ids: ids, store: store, server: server, output: output)
    }
}

/// `todo undo ID…`
struct UndoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undo",
        abstract: "Mark done todos as open again.",
        discussion: """
            EXAMPLES
              todo undo a1b2c3d4
              todo list --all                        (done todos are hidden otherwise)
            """)

    @Argument(help: ArgumentHelp("Ids or unique id prefixes.", valueName: "id"))
    var ids: [String] = []

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("Missing the id of a todo (see `todo list --all`).") }
    }

    func run() async throws {
        try await setDone(false, ids: ids, store: store, server: server, output: output)
    }
}

private func setDone(_ done: Bool, ids: [String], store storeOptions: StoreOptions, server: ServerOptions,
                     output: OutputOptions) async throws {
    let printer = output.printer()
    try await withTodoStore(storeOptions, server) { store in
        let todos = try await store.resolve(ids)
        var changed = 0
        var result: [Todo] = []
        for todo in todos {
            if todo.done == done {
                result.append(todo)
                printer.note("\(todo.id.prefix(ShortID.minimumLength)) is already \(done ? "done" : "open")")
            } else {
                result.append(try await store.update(todo, ["done": .bool(done)]))
                changed += 1
            }
        }
        try await finishWrite(store, action: done ? "done" : "reopened", todos: result, changed: changed, printer: printer)
    }
}

/// `todo edit ID TEXT…`
struct EditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Change the text of a todo.",
        discussion: """
            Only the text changes: an edit on another device to another field (done) is kept.

            EXAMPLES
              todo edit a1b2 "Buy oat milk"
              todo edit a1b2 Buy oat milk
            """)

    @Argument(help: ArgumentHelp("An id or unique id prefix.", valueName: "id"))
    var id: String

    @Argument(help: ArgumentHelp("The new text.", valueName: "text"))
    var words: [String] = []

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    var text: String { words.joined(separator: " ").trimmingCharacters(in: .whitespacesAndNewlines) }

    func validate() throws {
        guard !text.isEmpty else { throw ValidationError("Missing the new text, e.g. todo edit \(id) \"Buy oat milk\".") }
    }

    func run() async throws {
        let printer = output.printer()
        try await withTodoStore(store, server) { store in
            guard let todo = try await store.resolve([id]).first else { return }
            let changed = todo.text != text
            let result = changed ? try await store.update(todo, ["text": .string(text)]) : todo
            try await finishWrite(store, action: "edited", todos: [result], changed: changed ? 1 : 0, printer: printer)
        }
    }
}

/// `todo rm ID…`
struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Delete todos.",
        discussion: """
            The delete reaches the other devices at their next sync (at once for `todo watch`).

            EXAMPLES
              todo rm a1b2c3d4
              todo rm a1b 9f
            """,
        aliases: ["remove", "delete"])

    @Argument(help: ArgumentHelp("Ids or unique id prefixes.", valueName: "id"))
    var ids: [String] = []

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        guard !ids.isEmpty else { throw ValidationError("Missing the id of a todo (see `todo list --all`).") }
    }

    func run() async throws {
        let printer = output.printer()
        try await withTodoStore(store, server) { store in
            let todos = try await store.resolve(ids)
            var changed = 0
            for todo in todos {
                if try await store.remove(todo) { changed += 1 }
            }
            try await finishWrite(store, action: "removed", todos: todos, changed: changed, printer: printer)
        }
    }
}

/// After a write: sync when a server is configured, print what changed, then report a sync
/// failure or a rejection (the write itself is saved either way).
private func finishWrite(_ store: TodoStore, action: String, todos: [Todo], changed: Int, printer: Printer) async throws {
    let summary: TodoStore.SyncSummary
    do {
        summary = changed > 0 ? try await store.syncAfterWrite() : TodoStore.SyncSummary(
            state: store.server == nil ? .local : .unchanged, pending: try await store.sync.pendingOperationCount())
    } catch {
        summary = .failure(error, pending: try await store.sync.pendingOperationCount())
    }
    let removed = action == "removed"
    var shown: [Todo] = []
    for todo in todos {
        shown.append(removed ? todo : try await store.todos.get(todo.id).map(Todo.init) ?? todo)
    }
    let idLength = ShortID.length(for: try await store.list().map(\.id) + todos.map(\.id))
    if printer.json {
        printer.document([
            "version": .int(TodoRendering.schemaVersion), "action": .string(action), "changed": .int(changed),
            "todos": .array(shown.map { TodoRendering.json($0, idLength: idLength) }), "sync": summary.json,
        ])
    } else {
        for todo in shown {
            let row = removed ? "\(printer.style.yellow(String(todo.id.prefix(idLength))))  \(printer.style.dim(todo.text))"
                : TodoRendering.row(todo, idLength: idLength, style: printer.style)
            printer.line("\(action.padding(toLength: 8, withPad: " ", startingAt: 0)) \(row)")
        }
    }
    if let error = summary.error { throw error }
}
