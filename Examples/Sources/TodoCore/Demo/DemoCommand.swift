import ArgumentParser
import Foundation
import Logging
import SyncLayer
import SyncServer

/// `todo demo`: two devices, one server, realtime, offline edits and a conflict strategy.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "See sync at work: a server and two devices (laptop, phone), in a few seconds.",
        discussion: """
            Starts the reference server in this process on a free loopback port and opens two \
            clients on their own temporary stores, then shows, timing each step:
              1. a todo added on one device appears on the other in real time (both ways);
              2. both devices go offline (closed and reopened without the server) and edit the \
            same todos;
              3. back online, both converge by the conflict strategy (--strategy);
              4. a delete propagates.
            Everything is removed at the end. Exit status 0 when every step was observed, 1 (with \
            the step that failed) otherwise; each wait is bounded by --timeout.

            EXAMPLES
              todo demo
              todo demo --strategy merge
              todo demo --strategy serverWins --json
            """)

    @Option(help: ArgumentHelp("The conflict strategy both devices use.",
                               valueName: StrategyOption.allCases.map(\.rawValue).joined(separator: "|")))
    var strategy: StrategyOption = .lastWriteWins

    @Option(help: ArgumentHelp("Seconds to wait for each step before giving up.", valueName: "seconds"))
    var timeout: Double = 10

    @Flag(name: [.short, .long], help: "Show the SDK's and the server's logs on stderr.")
    var verbose = false

    @Flag(help: "Keep the temporary folder (server and device databases) for inspection.")
    var keep = false

    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be between 0 and 600 seconds.") }
    }

    func run() async throws {
        let printer = output.printer()
        let demo = DemoRun(strategy: strategy.strategy, timeout: .milliseconds(Int(timeout * 1000)), verbose: verbose, keep: keep,
                           reporter: DemoReporter(printer: printer), console: printer.console)
        try await demo.run()
    }
}

/// One run of the demo.
struct DemoRun: Sendable {
    typealias Device = DemoScenario.Device

    let strategy: ConflictStrategy
    let timeout: Duration
    let verbose: Bool
    let keep: Bool
    let reporter: DemoReporter
    let console: Console

    func run() async throws {
        let started = ContinuousClock.now
        reporter.header(strategy: strategy)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("todo-demo-\(Todo.newID().prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let resources = DemoResources()
        do {
            try await scenario(in: directory, resources: resources)
        } catch {
            await resources.release()
            if !keep { try? FileManager.default.removeItem(at: directory) }
            if let failure = error as? DemoFailure {
                reporter.failed(failure.message)
                throw TodoError("demo failed: \(failure.message)", hint: failure.hint ?? "run again with --verbose to see the logs")
            }
            throw error
        }
        await resources.release()
        if !keep { try? FileManager.default.removeItem(at: directory) }
        reporter.finish(elapsed: ContinuousClock.now - started, kept: keep ? directory.path : nil)
    }

    // MARK: The scenario

    private func scenario(in directory: URL, resources: DemoResources) async throws {
        let clock = ContinuousClock()

        // The server, as `todo serve` would run it, on a free loopback port.
        var start = clock.now
        let token = "demo-\(Todo.newID().prefix(12))"
        let server: InProcessServer
        do {
            server = try await InProcessServer.start(
                configuration: ServerConfiguration(host: "127.0.0.1", port: 0, databasePath: directory.appendingPathComponent("server.sqlite").path,
                                                   tokens: [token], logLevel: verbose ? .info : .critical),
                logger: serverLogger())
        } catch {
            throw DemoFailure("the server could not start on 127.0.0.1: \(error)")
        }
        await resources.hold(server)
        guard let baseURL = URL(string: server.baseURL) else { throw DemoFailure("the server gave no usable URL") }
        let settings = ServerSettings(url: baseURL, token: token, strategy: strategy)
        let probe = await ServerProbe.probe(settings)
        guard let webSocketURL = probe.webSocketURL else {
            throw DemoFailure("the server does not advertise a realtime endpoint (\(probe.failure ?? "no endpoints.websocket"))")
        }
        reporter.step("server started at \(server.baseURL)", elapsed: clock.now - start)

        let devices = Devices(directory: directory, settings: settings, webSocketURL: webSocketURL, resources: resources,
                              logger: { verbose ? sdkLogger($0) : .disabled })

        // Two devices, online with realtime.
        start = clock.now
        var laptop = try await devices.open(.laptop, online: true)
        var phone = try await devices.open(.phone, online: true)
        try await connected(laptop, .laptop)
        try await connected(phone, .phone)
        reporter.step("laptop and phone connected over WebSocket", elapsed: clock.now - start)

        // Realtime, both ways.
        start = clock.now
        let milk = try await laptop.add(DemoScenario.milk)
        try await wait(for: phone, .phone, "see \"\(DemoScenario.milk)\" added on the laptop") { $0.contains { $0.id == milk.id } }
        reporter.step("laptop added \"\(DemoScenario.milk)\" → phone saw it", elapsed: clock.now - start)

        start = clock.now
        let mum = try await phone.add(DemoScenario.mum)
        try await wait(for: laptop, .laptop, "see \"\(DemoScenario.mum)\" added on the phone") { $0.contains { $0.id == mum.id } }
        reporter.step("phone added \"\(DemoScenario.mum)\" → laptop saw it", elapsed: clock.now - start)

        // Offline: both devices close, reopen without the server, and edit the same todos.
        try await settled(laptop, .laptop)
        try await settled(phone, .phone)
        await resources.close(laptop)
        await resources.close(phone)
        laptop = try await devices.open(.laptop, online: false)
        phone = try await devices.open(.phone, online: false)
        reporter.action("both devices go offline (closed, reopened without the server) and edit:")
        for edit in DemoScenario.edits {
            try await apply(edit, on: edit.device == .laptop ? laptop : phone)
            reporter.detail(edit.description)
            // Distinct clock stamps, so "later" is well defined for lastWriteWins and merge.
            try await Task.sleep(for: .milliseconds(5))
        }
        await resources.close(laptop)
        await resources.close(phone)

        // Back online: the laptop first, then the phone, whose edits conflict.
        start = clock.now
        laptop = try await devices.open(.laptop, online: true)
        try await connected(laptop, .laptop)
        try await settled(laptop, .laptop)
        phone = try await devices.open(.phone, online: true)
        try await connected(phone, .phone)
        let expected = DemoScenario.expected(strategy)
        let converged: @Sendable ([Todo]) -> Bool = { todos in
            todos.count == 3 && todos.allSatisfy { $0.syncState == .synced }
                && todos.contains { $0.id == milk.id && $0.text == expected.milk.text && $0.done == expected.milk.done }
                && todos.contains { $0.id == mum.id && $0.text == expected.mum.text && $0.done == expected.mum.done }
                && todos.contains { $0.text == DemoScenario.plants && !$0.done }
        }
        try await wait(for: phone, .phone, "converge by \(strategy.rawValue)", until: converged)
        try await wait(for: laptop, .laptop, "converge by \(strategy.rawValue)", until: converged)
        reporter.step("back online: laptop and phone converged (\(strategy.rawValue))", elapsed: clock.now - start)
        for todo in try await laptop.list() {
            let reason = todo.id == milk.id ? expected.milk.reason : todo.id == mum.id ? expected.mum.reason : "added offline on the phone"
            reporter.detail("\(todo.done ? "[x]" : "[ ]") \(todo.text)", note: reason)
        }

        // A delete propagates.
        start = clock.now
        guard let plants = try await laptop.list().first(where: { $0.text == DemoScenario.plants }) else {
            throw DemoFailure("the laptop lost \"\(DemoScenario.plants)\"")
        }
        _ = try await laptop.remove(plants)
        try await wait(for: phone, .phone, "see \"\(DemoScenario.plants)\" deleted on the laptop") { !$0.contains { $0.id == plants.id } }
        reporter.step("laptop deleted \"\(DemoScenario.plants)\" → phone saw it", elapsed: clock.now - start)
    }

    private func apply(_ edit: DemoScenario.Edit, on store: TodoStore) async throws {
        let todos = try await store.list()
        func find(_ text: String) throws -> Todo {
            guard let todo = todos.first(where: { $0.text == text }) else { throw DemoFailure("no \"\(text)\" to edit") }
            return todo
        }
        switch edit {
        case .rename(_, let from, let to): _ = try await store.update(find(from), ["text": .string(to)])
        case .tick(_, let text): _ = try await store.update(find(text), ["done": true])
        case .add(_, let text): _ = try await store.add(text)
        }
    }

    // MARK: Waiting, bounded

    /// Waits until `device`'s todos satisfy `condition` (checked on every change).
    private func wait(for store: TodoStore, _ device: Device, _ what: String,
                      until condition: @escaping @Sendable ([Todo]) -> Bool) async throws {
        let seen = try await firstElement(of: store.todos.orderBy("createdAt").watch(), within: timeout) { documents in
            condition(documents.map(Todo.init))
        }
        guard seen == nil else { return }
        let now = try await store.list().map { "\($0.done ? "[x]" : "[ ]") \($0.text)\($0.syncState == .synced ? "" : " (\(TodoRendering.name($0.syncState)))")" }
        throw DemoFailure("the \(device.rawValue) did not \(what) within \(seconds(timeout)); it has: "
                          + (now.isEmpty ? "nothing" : now.joined(separator: ", ")))
    }

    private func connected(_ store: TodoStore, _ device: Device) async throws {
        guard let realtime = store.sync.realtime else { throw DemoFailure("the \(device.rawValue) has no realtime connection") }
        let state = try await firstElement(of: realtime.states, within: timeout) { state in
            if case .error = state { return true }
            return state == .connected
        }
        if case .error(let error)? = state { throw DemoFailure("the \(device.rawValue) could not connect over WebSocket: \(error.message)") }
        guard state == .connected else {
            throw DemoFailure("the \(device.rawValue) did not connect over WebSocket within \(seconds(timeout))")
        }
        // Connected is not enough: a change made before the subscriptions are confirmed is missed.
        guard try await withDeadline(timeout, { await realtime.waitUntilLive() }) != nil else {
            throw DemoFailure("the \(device.rawValue) did not subscribe over WebSocket within \(seconds(timeout))")
        }
    }

    /// Waits until every change of `device` is acknowledged by the server.
    private func settled(_ store: TodoStore, _ device: Device) async throws {
        guard try await withDeadline(timeout, { [sync = store.sync] in try await sync.waitForPendingWrites() }) != nil else {
            let pending = (try? await store.sync.pendingOperationCount()) ?? 0
            throw DemoFailure("the \(device.rawValue) could not push its changes within \(seconds(timeout)) (\(plural(pending, "change")) queued)")
        }
    }

    private func seconds(_ duration: Duration) -> String {
        "\((Double(duration.wholeMilliseconds) / 1000).formatted()) s"
    }

    // MARK: Logs (--verbose)

    private func serverLogger() -> Logger {
        var logger = Logger(label: "server") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = verbose ? .info : .critical
        return logger
    }

    private func sdkLogger(_ device: Device) -> SyncLogger {
        SyncLogger(minimumLevel: .debug) { [console] record in
            console.write("[\(device.rawValue)] \(record.level) \(record.source): \(record.message)\n", to: .error)
        }
    }
}

/// The two devices' stores, opened online or offline on their own files.
private struct Devices: Sendable {
    let directory: URL
    let settings: ServerSettings
    let webSocketURL: URL
    let resources: DemoResources
    let logger: @Sendable (DemoScenario.Device) -> SyncLogger

    func open(_ device: DemoScenario.Device, online: Bool) async throws -> TodoStore {
        let store = try await TodoStore.open(
            storage: .file(directory.appendingPathComponent("\(device.rawValue).sqlite").path),
            server: online ? settings : nil, realtime: online ? webSocketURL : nil, autoSync: online,
            reconnectDelay: .milliseconds(100), logger: logger(device))
        await resources.hold(store)
        return store
    }
}

/// What the demo opened, released in reverse at the end whatever happens.
private actor DemoResources {
    private var server: InProcessServer?
    private var stores: [TodoStore] = []

    func hold(_ server: InProcessServer) { self.server = server }
    func hold(_ store: TodoStore) { stores.append(store) }

    func close(_ store: TodoStore) async {
        stores.removeAll { $0 === store }
        await store.close()
    }

    func release() async {
        for store in stores.reversed() { await store.close() }
        stores.removeAll()
        await server?.stop()
        server = nil
    }
}

/// A step that was not observed.
struct DemoFailure: Error {
    let message: String
    let hint: String?

    init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
}
