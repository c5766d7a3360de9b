import ArgumentParser
import Foundation
import SyncLayer

/// `todo list [--all] [--json]`, also what `todo` alone runs.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the open todos (oldest first); --all includes done ones.",
        discussion: """
            Each row shows the short id (enough characters to be unique, at least 8), the state \
            ([ ] open, [x] done), the text, and ↑ while a change waits to be pushed to the \
            server (! when the server rejected it). With a server configured, it syncs first; \
            when the server cannot be reached it shows the local data and warns on stderr.

            JSON (--json): {"version": 1, "todos": [{"id", "shortId", "text", "done", \
            "createdAt", "syncState": "synced|pending|rejected"}], "sync": {"state", "pending"}}

            EXAMPLES
              todo list
              todo list --all
              todo list --json | jq -r '.todos[] | select(.done | not) | .text'
            """,
        aliases: ["ls"])

    @Flag(name: [.short, .long], help: "Include done todos.")
    var all = false

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func run() async throws {
        let printer = output.printer()
        try await withTodoStore(store, server) { store in
            let state = try await refresh(store, printer: printer)
            let todos = try await store.list(includeDone: all)
            let everything = try await store.list()
            let idLength = ShortID.length(for: everything.map(\.id))
            if printer.json {
                printer.document([
                    "version": .int(TodoRendering.schemaVersion),
                    "todos": .array(todos.map { TodoRendering.json($0, idLength: idLength) }),
                    "sync": ["state": .string(state), "pending": .int(try await store.sync.pendingOperationCount())],
                ])
                return
            }
            if let rows = TodoRendering.rows(todos, idLength: idLength, style: printer.style) {
                printer.line(rows)
            } else if everything.isEmpty {
                printer.note("No todos yet. Add one: todo add \"Buy milk\"")
            } else {
                printer.note("Nothing open: \(plural(everything.count, "done todo")) (todo list --all).")
            }
            let hidden = everything.count - todos.count
            if hidden > 0, !todos.isEmpty, TodoContext.current.console.errorIsTerminal {
                printer.note(printer.errorStyle.dim("\(hidden) done not shown (todo list --all)"))
            }
        }
    }

    /// Syncs first when a server is configured; returns the sync state for JSON.
    private func refresh(_ store: TodoStore, printer: Printer) async throws -> String {
        switch try await store.syncNow(timeout: .seconds(5)) {
        case .noServer:
            return "local"
        case .synced:
            return "synced"
        case .failed(let error):
            let server = store.server?.displayURL ?? "the server"
            printer.warning(error.kind == .unauthorized
                ? "\(server) refused the token; showing local data"
                : "\(server) is unreachable; showing local data (\(error.message))")
            return "offline"
        }
    }
}
