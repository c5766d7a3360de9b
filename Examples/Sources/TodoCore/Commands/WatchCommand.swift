import ArgumentParser
import Foundation
import SyncLayer

/// `todo watch`: the list, redrawn whenever it changes.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show the list and redraw it whenever it changes, here or on another device.",
        discussion: """
            Changes made by other `todo` commands on this machine show up at once; changes from \
            other devices arrive over the server's realtime connection when it offers one (else \
            by syncing every 5 seconds). Queued changes are pushed as soon as the server is back. \
            Ctrl-C quits.

            On a terminal the screen is redrawn; otherwise each change prints a new block. With \
            --json, one line per change: {"version": 1, "at", "todos": [...], "sync": {"server", \
            "state", "realtime", "pending"}}.

            EXAMPLES
              todo watch
              todo watch --all --server http://127.0.0.1:8080
              todo watch --json | jq -c '[.todos[].text]'
            """)

    @Flag(name: [.short, .long], help: "Include done todos.")
    var all = false

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func run() async throws {
        let printer = output.printer()
        let environment = TodoContext.current.environment
        let storage = try store.storage(environment: environment)
        let settings = try server.settings(environment: environment)
        let probe = await settings.asyncMap { await ServerProbe.probe($0) }
        if let settings, let probe, !probe.reachable {
            printer.warning("\(settings.displayURL) is unreachable (\(probe.failure ?? "no answer")); "
                            + "showing local data and retrying every 5 s")
        }
        let realtimeURL = probe?.webSocketURL
        let todoStore = try await TodoStore.open(storage: storage, server: settings, realtime: realtimeURL, autoSync: settings != nil,
                                                 syncInterval: realtimeURL == nil ? .seconds(5) : .seconds(60))
        let view = WatchView(store: todoStore, printer: printer, includeDone: all,
                             redraw: TodoContext.current.console.outputIsTerminal && !printer.json)
        do {
            try await view.run()
            await todoStore.close()
        } catch {
            await todoStore.close()
            throw error
        }
    }
}

/// Renders the list on every change until the task is cancelled.
struct WatchView: Sendable {
    let store: TodoStore
    let printer: Printer
    let includeDone: Bool
    /// Clear the screen and draw in place (a terminal), instead of printing a block per change.
    let redraw: Bool

    func run() async throws {
        let (ticks, tick) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            let sync = store.sync
            group.addTask { for try await _ in sync.collection(Todo.collection).watch() { tick.yield() } }
            group.addTask { for await _ in sync.statusUpdates { tick.yield() } }
            if let realtime = sync.realtime {
                group.addTask { for await _ in realtime.states { tick.yield() } }
            }
            if let path = sync.databasePath {
                // Other `todo` processes write to the same file: their commits do not reach this
                // process's observers, so the file is polled.
                group.addTask { await FileChangeMonitor(paths: [path, path + "-wal"]).run { tick.yield() } }
            }
            var last: String?
            for await _ in ticks {
                let frame = try await render()
                if frame.comparable != last {
                    last = frame.comparable
                    printer.console.write(frame.text)
                }
            }
            group.cancelAll()
        }
        if redraw { printer.console.write("\n") }
    }

    struct Frame {
        /// What is written.
        var text: String
        /// What decides whether anything changed (no clock).
        var comparable: String
    }

    func render() async throws -> Frame {
        let everything = try await store.list()
        let todos = includeDone ? everything : everything.filter { !$0.done }
        let pending = try await store.sync.pendingOperationCount()
        let state = connectionState()
        let idLength = ShortID.length(for: everything.map(\.id))
        if printer.json {
            let sync: JSONValue = [
                "server": store.server.map { .string($0.displayURL) } ?? .null, "state": .string(state.name),
                "realtime": store.sync.realtime.map { .string(WatchView.name($0.state)) } ?? .null, "pending": .int(pending),
            ]
            let body: JSONValue = ["todos": TodoRendering.json(todos), "sync": sync]
            var record = body.objectValue ?? [:]
            record["version"] = .int(TodoRendering.schemaVersion)
            record["at"] = .string(Todo.formatDate(Date()))
            return Frame(text: Printer.encode(.object(record), pretty: false) + "\n", comparable: Printer.encode(body, pretty: false))
        }
        let style = printer.style
        var header = "todo watch · \(todos.filter { !$0.done }.count) open"
        if includeDone { header += ", \(everything.count(where: \.done)) done" }
        header += " · " + state.styled(style)
        if pending > 0 { header += " · " + style.cyan("\(plural(pending, "change")) queued") }
        var body = TodoRendering.rows(todos, idLength: idLength, style: style)
            ?? style.dim(everything.isEmpty ? "no todos yet: todo add \"Buy milk\"" : "nothing open")
        let hidden = everything.count - todos.count
        if hidden > 0 { body += "\n" + style.dim("(\(hidden) done not shown; --all shows them)") }
        let comparable = header + "\n" + body
        if redraw {
            return Frame(text: "\u{1B}[H\u{1B}[2J" + header + "\n\n" + body + "\n\n" + style.dim("Ctrl-C to quit") + "\n",
                         comparable: comparable)
        }
        let time = Date().formatted(date: .omitted, time: .standard)
        return Frame(text: style.dim("── \(time) ") + header + "\n" + body + "\n", comparable: comparable)
    }

    /// How the store is connected, as shown in the header.
    enum ConnectionState {
        case local, live, connecting, http, offline(String), unauthorized

        var name: String {
            switch self {
            case .local: "local"
            case .live: "live"
            case .connecting: "connecting"
            case .http: "polling"
            case .offline: "offline"
            case .unauthorized: "unauthorized"
            }
        }

        func styled(_ style: Style) -> String {
            switch self {
            case .local: style.dim("local only (no server)")
            case .live: style.green("live")
            case .connecting: style.yellow("connecting…")
            case .http: style.green("syncing every 5 s") + style.dim(" (the server offers no realtime)")
            case .offline(let reason): style.red("offline") + style.dim(", retrying (\(reason))")
            case .unauthorized: style.red("the server refused the token")
            }
        }
    }

    func connectionState() -> ConnectionState {
        guard store.server != nil else { return .local }
        let status = store.sync.status
        if let realtime = store.sync.realtime {
            switch realtime.state {
            case .connected: return .live
            case .error(let error): return error.kind == .unauthorized ? .unauthorized : .offline(error.message)
            case .connecting, .reconnecting, .disconnected:
                if status.phase == .authRequired { return .unauthorized }
                if let error = status.lastError, status.phase == .offline || status.phase == .error { return .offline(error.message) }
                return .connecting
            }
        }
        switch status.phase {
        case .authRequired: return .unauthorized
        case .offline, .error: return .offline(status.lastError?.message ?? "no answer")
        case .idle, .syncing, .disabled: return .http
        }
    }

    static func name(_ state: WebSocketService.State) -> String {
        switch state {
        case .disconnected: "disconnected"
        case .connecting: "connecting"
        case .connected: "connected"
        case .reconnecting: "reconnecting"
        case .error: "error"
        }
    }
}

/// Calls back when any of some files changes (size or modification time), by polling.
struct FileChangeMonitor: Sendable {
    let paths: [String]
    var interval: Duration = .milliseconds(250)

    func run(_ changed: @Sendable () -> Void) async {
        var last = signature()
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let now = signature()
            if now != last {
                last = now
                changed()
            }
        }
    }

    private func signature() -> [String] {
        paths.map { path in
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return "-" }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            let date = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(size)@\(date)"
        }
    }
}
