// Doc-comment samples that need the Examples package's modules (the todo CLI's, and swift-log for the
// SDK's `SyncLogger` sample), word for word, so that the compiler checks them (the root package's
// DocSampleTests finds them here). Nothing calls these functions.
import Foundation
import Logging
import SyncLayer
import TodoCore

private func consoleDocComment() async {
    let (console, captured) = Console.capturing()
    let code = await TodoCLI.run(["list", "--json"], context: TodoContext(console: console, environment: [:]))
    print(captured.output)
    _ = code
}

private func todoCLIDocComment(path: String) async {
    let (console, captured) = Console.capturing()
    let code = await TodoCLI.run(["add", "Buy milk", "--db", path],
                                 context: TodoContext(console: console, environment: [:]))
    _ = (code, captured)
}

/// SyncLayer's `SyncLogger` doc comment: the SDK's log records forwarded to swift-log.
private func syncLoggerDocComment(config: inout SyncConfig) {
    let logger = Logger(label: "sync")
    config.logger = SyncLogger(minimumLevel: .debug) { record in
        logger.log(level: .init(rawValue: record.level.description)!, "\(record.message)")
    }
}
