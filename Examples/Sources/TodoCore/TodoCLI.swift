import ArgumentParser
import Foundation
import SyncLayer

/// `todo`: the root command. Without a subcommand it lists the open todos.
public struct TodoCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "todo",
        abstract: "An offline-first todo list that syncs between devices, built on SyncLayer.",
        discussion: """
            Todos live in a local SQLite store and work offline. Give a server (--server or \
            SYNCLAYER_SERVER, and --token or SYNCLAYER_TOKEN when it wants one) and every command \
            syncs; `todo watch` also follows changes in real time when the server offers it.

            QUICK TRY
              todo demo                          two devices, realtime, offline edits, conflicts
              todo serve --port 8080             a local server, then in other terminals:
              export SYNCLAYER_SERVER=http://127.0.0.1:8080
              todo add "Buy milk" && todo watch

            ENVIRONMENT
              TODO_DB              the database file (same as --db)
              SYNCLAYER_SERVER     the sync server URL (same as --server)
              SYNCLAYER_TOKEN      its bearer token (same as --token)
              SYNCLAYER_STRATEGY   the conflict strategy (same as --strategy)
              NO_COLOR             no colours when set and not empty
              FORCE_COLOR          colours even when not a terminal (not 0; NO_COLOR wins)

            \(ExitStatus.helpTable)
            """,
        version: "0.1.0",
        subcommands: [
            AddCommand.self, ListCommand.self, DoneCommand.self, UndoCommand.self, EditCommand.self, RemoveCommand.self,
            WatchCommand.self, SyncCommand.self, StatusCommand.self, ServeCommand.self, DemoCommand.self,
        ],
        defaultSubcommand: ListCommand.self)

    public init() {}
}

/// Runs `todo` with arguments and returns the exit code: what `main` does, callable from tests.
///
/// ```swift
/// let (console, captured) = Console.capturing()
/// let code = await TodoCLI.run(["add", "Buy milk", "--db", path],
///                              context: TodoContext(console: console, environment: [:]))
/// ```
public enum TodoCLI {
    public static func run(_ arguments: [String], context: TodoContext) async -> Int32 {
        await TodoContext.$current.withValue(context) { await run(arguments) }
    }

    private static func run(_ arguments: [String]) async -> Int32 {
        let context = TodoContext.current
        let style = Style(enabled: Style.colorEnabled(isTerminal: context.console.errorIsTerminal,
                                                      environment: context.environment, noColorFlag: arguments.contains("--no-color")))
        func fail(_ message: String, hint: String? = nil, status: ExitStatus) -> Int32 {
            var text = "todo: \(style.red("error:")) \(message)\n"
            if let hint { text += "todo: \(style.dim("hint:")) \(hint)\n" }
            context.console.write(text, to: .error)
            return status.rawValue
        }
        do {
            var command = try TodoCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return ExitStatus.ok.rawValue
        } catch let error as TodoError {
            return fail(error.message, hint: error.hint, status: error.status)
        } catch is CancellationError {
            return ExitStatus.interrupted.rawValue
        } catch let error as SyncLayerError {
            let status: ExitStatus = [.invalidConfiguration, .invalidDocument, .invalidDocumentID].contains(error.code) ? .usage : .failure
            return fail(error.message, status: status)
        } catch let error as StoreError {
            return fail("the store failed: \(error)", hint: error.isDiskFull ? "the disk is full" : nil, status: .failure)
        } catch let error as SyncError {
            return fail("\(error)", status: error.isRetryable ? .unavailable : .failure)
        } catch {
            // argument-parser's own: help, version, usage errors.
            let code = TodoCommand.exitCode(for: error)
            let message = TodoCommand.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { context.console.write(message + "\n") }
                return ExitStatus.ok.rawValue
            }
            if !message.isEmpty { context.console.write(message + "\n", to: .error) }
            return code.rawValue
        }
    }
}

/// Opens the store for a command, runs `body`, and closes the store whatever happens.
func withTodoStore<T: Sendable>(
    _ storeOptions: StoreOptions, _ serverOptions: ServerOptions, realtime: URL? = nil, autoSync: Bool = false,
    _ body: (TodoStore) async throws -> T
) async throws -> T {
    let environment = TodoContext.current.environment
    return try await withTodoStore(storage: try storeOptions.storage(environment: environment),
                                   server: try serverOptions.settings(environment: environment),
                                   realtime: realtime, autoSync: autoSync, body)
}

/// Opens the store, runs `body`, and closes the store whatever happens.
func withTodoStore<T: Sendable>(
    storage: SyncConfig.Storage, server: ServerSettings?, realtime: URL? = nil, autoSync: Bool = false,
    _ body: (TodoStore) async throws -> T
) async throws -> T {
    let store = try await TodoStore.open(storage: storage, server: server, realtime: realtime, autoSync: autoSync)
    do {
        let value = try await body(store)
        await store.close()
        return value
    } catch {
        await store.close()
        throw error
    }
}
