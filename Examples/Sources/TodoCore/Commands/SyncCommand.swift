import ArgumentParser
import Foundation
import Synchronization
import SyncLayer

/// `todo sync`: push every queued change and pull, now.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Push queued changes and pull the server's, now.",
        discussion: """
            Prints what moved (pushed, pulled, conflicts resolved). On a terminal, a progress line \
            on stderr counts the changes pushed and pulled while a long sync runs.

            Exit status: 0 synced; 75 the server is unreachable and changes stay queued; 69 the \
            server is unreachable (nothing queued); 77 the token was refused; 65 the server \
            rejected some changes for good (listed on stderr).

            JSON (--json): {"version": 1, "server", "pushed", "pulled", "conflicts", "rejected", \
            "pending", "durationMs"}

            EXAMPLES
              todo sync --server http://127.0.0.1:8080 --token secret
              SYNCLAYER_SERVER=http://127.0.0.1:8080 todo sync --json
            """)

    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Sync") var server: ServerOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func run() async throws {
        let printer = output.printer()
        let environment = TodoContext.current.environment
        guard try server.configured(environment: environment) != nil else {
            throw TodoError.usage("todo sync needs a server",
                                  hint: "pass --server URL (and --token) or set SYNCLAYER_SERVER; `todo serve` starts one")
        }
        guard !server.offline else { throw TodoError.usage("todo sync cannot run with --offline") }
        try await withTodoStore(store, server) { store in
            guard let settings = store.server else { return }
            let before = try await store.sync.outboxCounts()
            let progress = SyncProgress(total: before.pending, printer: printer,
                                        live: TodoContext.current.console.errorIsTerminal && !printer.json)
            let watcher = Task { [events = store.sync.events] in await progress.follow(events) }
            let started = ContinuousClock.now
            let attempt: TodoStore.SyncAttempt
            do {
                attempt = try await store.syncNow(timeout: .seconds(3600))
            } catch {
                watcher.cancel()
                progress.clear()
                throw error
            }
            // The events of this run are all emitted before syncNow returns; give the stream a
            // moment to deliver the last of them.
            _ = try await withDeadline(.seconds(2)) { await watcher.value }
            watcher.cancel()
            progress.clear()
            let elapsed = ContinuousClock.now - started
            let after = try await store.sync.outboxCounts()
            if case .failed(let error) = attempt {
                throw TodoError.sync(error, server: settings.displayURL, queued: after.pending)
            }
            let counts = progress.counts
            let rejected = after.rejected > before.rejected
                ? try await store.sync.rejectedOperations().suffix(after.rejected - before.rejected) : []
            let milliseconds = elapsed.wholeMilliseconds
            if printer.json {
                printer.document([
                    "version": .int(TodoRendering.schemaVersion), "server": .string(settings.displayURL),
                    "pushed": .int(counts.pushed), "pulled": .int(counts.pulled), "conflicts": .int(counts.conflicts),
                    "rejected": .array(rejected.map(\.json)),
                    "pending": .int(after.pending), "durationMs": .int(milliseconds),
                ])
            } else {
                let style = printer.style
                printer.line("\(style.green("✓")) synced with \(settings.displayURL): pushed \(counts.pushed), pulled \(counts.pulled), "
                             + "\(plural(counts.conflicts, "conflict")) resolved \(style.dim("(\(milliseconds) ms)"))")
            }
            if !rejected.isEmpty {
                throw TodoError.rejected(rejected, hint: "the todos were brought back to the server's version")
            }
        }
    }
}

/// Counts what one sync run moved, from the SDK's events, and draws a progress line.
final class SyncProgress: Sendable {
    struct Counts: Sendable {
        var pushed = 0
        var pulled = 0
        var conflicts = 0
    }

    private let total: Int
    private let printer: Printer
    private let live: Bool
    private let state = Mutex((counts: Counts(), drawn: false, lastDraw: ContinuousClock.now))

    init(total: Int, printer: Printer, live: Bool) {
        self.total = total
        self.printer = printer
        self.live = live
    }

    var counts: Counts { state.withLock { $0.counts } }

    /// Follows events until the run completes or fails.
    func follow(_ events: AsyncStream<SyncEvent>) async {
        for await event in events {
            switch event.type {
            case .operationSynced:
                state.withLock { $0.counts.pushed += 1 }
                draw()
            case .pagePulled:
                let count = event.metadata["count"]?.intValue ?? 0
                // The first page that changed something is drawn at once: the line gains its pulled count.
                let first = state.withLock { state in
                    defer { state.counts.pulled += count }
                    return state.counts.pulled == 0 && count > 0
                }
                draw(now: first)
            case .conflictDetected:
                state.withLock { $0.counts.conflicts += 1 }
            case .syncCompleted:
                state.withLock { $0.counts.pulled = event.metadata["pulled"]?.intValue ?? 0 }
                return
            case .syncFailed:
                return
            default:
                break
            }
        }
    }

    /// `syncing… pushed 120 of 2000, pulled 300` on stderr, at most ten times a second unless `now`.
    private func draw(now drawNow: Bool = false) {
        guard live else { return }
        let line: String? = state.withLock { state in
            let now = ContinuousClock.now
            let counts = state.counts
            var parts: [String] = []
            if total > 0 || counts.pushed > 0 { parts.append("pushed \(counts.pushed) of \(max(total, counts.pushed))") }
            if counts.pulled > 0 { parts.append("pulled \(counts.pulled)") }
            guard !parts.isEmpty, drawNow || now - state.lastDraw > .milliseconds(100) else { return nil }
            state.lastDraw = now
            state.drawn = true
            return "\r\u{1B}[2Ksyncing… " + parts.joined(separator: ", ")
        }
        if let line { printer.console.write(line, to: .error) }
    }

    /// Erases the progress line, if one was drawn.
    func clear() {
        let drawn = state.withLock { state in
            defer { state.drawn = false }
            return state.drawn
        }
        if drawn { printer.console.write("\r\u{1B}[2K", to: .error) }
    }
}
