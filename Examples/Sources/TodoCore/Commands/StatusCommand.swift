import ArgumentParser
import Foundation
import SyncLayer

/// `todo status`: the store, the queue, the server and the realtime connection.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the store, queued and rejected changes, the last sync, the server and realtime.",
        discussion: """
            Read-only: it asks the server about itself and tries its realtime endpoint, but pushes \
            and pulls nothing (that is `todo sync`).

            JSON (--json): {"version": 1, "store", "todos": {"open", "done"}, "pending", \
            "rejected": [{"id", "operation", "reason"}], "failed", "lastSync": {"at", "server"} | null, \
            "server": {"url", "reachable", "name", "versions", "error"} | null, \
            "realtime": {"state", "url", "error"}}

            EXAMPLES
              todo status
              todo status --server http://127.0.0.1:8080 --json
            """)

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func run() async throws {
        let printer = output.printer()
        let environment = TodoContext.current.environment
        let settings = try server.settings(environment: environment)
        // The store is opened without the server: status must not sync.
        let report = try await withTodoStore(storage: try store.storage(environment: environment), server: nil) { store in
            let todos = try await store.list()
            return Report(
                store: store.sync.databasePath ?? "in memory",
                open: todos.count(where: { !$0.done }), done: todos.count(where: \.done),
                counts: try await store.sync.outboxCounts(), rejected: try await store.sync.rejectedOperations(),
                lastSync: store.lastSync())
        }
        let probe = await settings.asyncMap { await ServerProbe.probe($0) }
        let realtime = await realtimeState(settings: settings, probe: probe)
        if printer.json {
            printer.document(report.json(settings: settings, probe: probe, realtime: realtime))
        } else {
            report.print(to: printer, settings: settings, probe: probe, realtime: realtime)
        }
    }

    /// Tries the advertised WebSocket endpoint for a moment, without subscribing to anything.
    private func realtimeState(settings: ServerSettings?, probe: ServerProbe?) async -> RealtimeState {
        guard let settings, let probe else { return RealtimeState(state: "off", detail: "no server configured") }
        guard probe.reachable else { return RealtimeState(state: "unavailable", detail: "the server is unreachable") }
        guard let url = probe.webSocketURL else { return RealtimeState(state: "unsupported", detail: "the server offers no realtime endpoint") }
        do {
            let socket = try WebSocketService(url: url, token: settings.token, maxReconnectAttempts: 0)
            var connected = false
            do {
                connected = try await withDeadline(.seconds(5)) { try await socket.connect() } != nil
            } catch {
                // The state and lastError below say why.
            }
            let state = socket.state
            let error = socket.lastError
            await socket.disconnect()
            if connected, state == .connected { return RealtimeState(state: "available", url: url) }
            return RealtimeState(state: "unavailable", url: url, detail: error?.message ?? "could not connect within 5 s")
        } catch {
            return RealtimeState(state: "unavailable", url: url, detail: "\(error)")
        }
    }

    struct RealtimeState {
        var state: String
        var url: URL?
        var detail: String?
    }

    struct Report: Sendable {
        var store: String
        var open: Int
        var done: Int
        var counts: OutboxCounts
        var rejected: [RejectedOperation]
        var lastSync: TodoStore.LastSync?

        func json(settings: ServerSettings?, probe: ServerProbe?, realtime: RealtimeState) -> JSONValue {
            var serverJSON: JSONValue = .null
            if let settings, let probe {
                serverJSON = [
                    "url": .string(settings.displayURL), "reachable": .bool(probe.reachable),
                    "name": probe.name.map(JSONValue.string) ?? .null,
                    "versions": .array(probe.versions.map { .int($0) }),
                    "error": probe.failure.map(JSONValue.string) ?? .null,
                ]
            }
            return [
                "version": .int(TodoRendering.schemaVersion), "store": .string(store),
                "todos": ["open": .int(open), "done": .int(done)],
                "pending": .int(counts.pending), "failed": .int(counts.failed),
                "rejected": .array(rejected.map(\.json)),
                "lastSync": lastSync.map { ["at": .string(Todo.formatDate($0.date)), "server": .string($0.server)] } ?? .null,
                "server": serverJSON,
                "realtime": ["state": .string(realtime.state), "url": realtime.url.map { .string($0.absoluteString) } ?? .null,
                             "error": realtime.detail.map(JSONValue.string) ?? .null],
            ]
        }

        func print(to printer: Printer, settings: ServerSettings?, probe: ServerProbe?, realtime: RealtimeState) {
            let style = printer.style
            func row(_ label: String, _ value: String) {
                printer.line(style.bold(label.padding(toLength: 10, withPad: " ", startingAt: 0)) + value)
            }
            row("store", "\(store) (\(open) open, \(done) done)")
            if let settings, let probe {
                if probe.reachable {
                    let about = [probe.name, probe.versions.max().map { "protocol v\($0)" }].compactMap { $0 }.joined(separator: ", ")
                    row("server", "\(settings.displayURL) \(style.green("reachable"))\(about.isEmpty ? "" : " (\(about))")")
                } else {
                    row("server", "\(settings.displayURL) \(style.red("unreachable"))\(probe.failure.map { " (\($0))" } ?? "")")
                }
            } else {
                row("server", style.dim("none: todos stay on this machine (--server URL or SYNCLAYER_SERVER)"))
            }
            row("pending", counts.pending == 0 ? "nothing queued"
                : style.cyan("\(plural(counts.pending, "change")) not yet pushed") + (settings == nil ? "" : " (todo sync)"))
            if counts.failed > 0 { row("failed", style.red("\(plural(counts.failed, "change")) parked after repeated failures")) }
            if rejected.isEmpty {
                row("rejected", "none")
            } else {
                row("rejected", style.red("\(plural(rejected.count, "change")) refused by the server:"))
                for operation in rejected {
                    printer.line("          \(operation.kind.rawValue) \(operation.recordID.prefix(ShortID.minimumLength)): \(operation.reason)")
                }
            }
            if let lastSync {
                row("last sync", "\(lastSync.date.formatted(date: .abbreviated, time: .standard)) "
                    + style.dim("(\(TodoRendering.ago(lastSync.date)), with \(lastSync.server))"))
            } else {
                row("last sync", "never")
            }
            let realtimeText: String
            switch realtime.state {
            case "available": realtimeText = style.green("available") + " at \(realtime.url?.absoluteString ?? "")" + style.dim(" (todo watch uses it)")
            case "off": realtimeText = style.dim("off (no server)")
            default: realtimeText = style.yellow(realtime.state) + (realtime.detail.map { " (\($0))" } ?? "")
            }
            row("realtime", realtimeText)
        }
    }
}

extension Optional {
    func asyncMap<U>(_ transform: (Wrapped) async throws -> U) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
