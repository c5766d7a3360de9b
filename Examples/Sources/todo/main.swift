import Dispatch
import Foundation
import Synchronization
import TodoCore

// `todo`: the commands live in TodoCore (tested in-process); this file only wires the process:
// arguments, environment, standard streams, Ctrl-C, and the exit code.

// Ctrl-C (and SIGTERM) cancel the running command, which then cleans up (closes the store,
// stops a server, removes the demo's files) and exits; a second Ctrl-C exits at once.
signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)

let command = Task {
    await TodoCLI.run(Array(CommandLine.arguments.dropFirst()),
                      context: TodoContext(console: .standard, environment: ProcessInfo.processInfo.environment))
}

let interrupts = Atomic<Int>(0)
let signalQueue = DispatchQueue(label: "todo.signals")
let signalSources = [SIGINT, SIGTERM].map { number in
    let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
    source.setEventHandler {
        if interrupts.add(1, ordering: .relaxed).newValue > 1 { exit(130) }
        command.cancel()
    }
    source.resume()
    return source
}

let status = await command.value
withExtendedLifetime(signalSources) {}
exit(status)
