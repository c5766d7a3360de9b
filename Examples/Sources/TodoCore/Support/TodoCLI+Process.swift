import Dispatch
import Foundation
import Synchronization

extension TodoCLI {
    /// Runs `todo` as the process: its arguments, environment and standard streams. Returns the
    /// exit code.
    ///
    /// Ctrl-C (SIGINT) and SIGTERM cancel the running command, which cleans up (closes the
    /// store, stops a server, removes the demo's files) before returning; `watch` and `serve`
    /// end normally that way. A second signal exits at once with 130.
    public static func runProcess() async -> Int32 {
        let command = Task {
            await run(Array(CommandLine.arguments.dropFirst()),
                      context: TodoContext(console: .standard, environment: ProcessInfo.processInfo.environment))
        }
        let sources = interruptHandlers { command.cancel() }
        let status = await command.value
        for source in sources { source.cancel() }
        return status
    }

    /// Installs SIGINT and SIGTERM handlers that call `interrupt` once, then exit.
    private static func interruptHandlers(_ interrupt: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        let count = Atomic<Int>(0)
        let queue = DispatchQueue(label: "todo.signals")
        return [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)  // delivered to the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { @Sendable in
                if count.add(1, ordering: .relaxed).newValue > 1 { exit(ExitStatus.interrupted.rawValue) }
                interrupt()
            }
            source.resume()
            return source
        }
    }
}
