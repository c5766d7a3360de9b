import ArgumentParser
import Foundation
import SyncLayer

/// `--db`: where the todos live.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("db"), help: ArgumentHelp(
        "The database file (env TODO_DB). Default: the SDK's store, synclayer/synclayer.sqlite under "
            + "Application Support on Apple platforms, under $XDG_DATA_HOME (or ~/.local/share) on Linux.",
        valueName: "path"))
    var path: String?

    /// The storage to open: `--db`, else `TODO_DB`, else the SDK's default location.
    func storage(environment: [String: String]) throws -> SyncConfig.Storage {
        guard let given = path ?? environment["TODO_DB"].flatMap({ $0.isEmpty ? nil : $0 }) else { return .default }
        let expanded = (given as NSString).expandingTildeInPath
        let url = URL(fileURLWithPath: expanded, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        let folder = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TodoError.usage("--db \(given) is a directory; give a file path such as \(given)/todos.sqlite")
        }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw TodoError("cannot create the folder \(folder.path) for the database: \(error.localizedDescription)")
        }
        return .file(url.standardizedFileURL.path)
    }
}

/// The conflict strategies a user can pick (the SDK's `custom` needs code).
enum StrategyOption: String, CaseIterable, ExpressibleByArgument, Sendable {
    case lastWriteWins, serverWins, clientWins, merge

    var strategy: ConflictStrategy {
        switch self {
        case .lastWriteWins: .lastWriteWins
        case .serverWins: .serverWins
        case .clientWins: .clientWins
        case .merge: .merge
        }
    }
}

/// `--server`, `--token`, `--strategy`, `--offline`: whether and how to sync.
struct ServerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The sync server, e.g. http://127.0.0.1:8080 (env SYNCLAYER_SERVER). Without one, todos stay local.",
                               valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("The bearer token for the server (env SYNCLAYER_TOKEN).", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("How conflicting edits from two devices are resolved (env SYNCLAYER_STRATEGY).",
                               valueName: StrategyOption.allCases.map(\.rawValue).joined(separator: "|")))
    var strategy: StrategyOption?

    @Flag(help: "Do not contact the server, even when one is configured.")
    var offline = false

    /// The server to sync with, or nil (none configured, or `--offline`).
    func settings(environment: [String: String]) throws -> ServerSettings? {
        guard !offline else { return nil }
        return try configured(environment: environment)
    }

    /// The server configured by options or environment, even with `--offline`.
    func configured(environment: [String: String]) throws -> ServerSettings? {
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let text = server ?? nonEmpty("SYNCLAYER_SERVER") else { return nil }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              url.host?.isEmpty == false else {
            throw TodoError.usage("\(text) is not a server URL", hint: "give an http or https URL, e.g. http://127.0.0.1:8080")
        }
        let token = token ?? nonEmpty("SYNCLAYER_TOKEN")
        if let token, token.contains(where: \.isNewline) { throw TodoError.usage("the token must be on one line") }
        let strategy: StrategyOption
        if let chosen = self.strategy {
            strategy = chosen
        } else if let name = nonEmpty("SYNCLAYER_STRATEGY") {
            guard let parsed = StrategyOption(rawValue: name) else {
                throw TodoError.usage("SYNCLAYER_STRATEGY=\(name) is not a strategy",
                                      hint: "one of \(StrategyOption.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            strategy = parsed
        } else {
            strategy = .lastWriteWins
        }
        return ServerSettings(url: url, token: token, strategy: strategy.strategy)
    }
}

/// `--json`, `--no-color`.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON on stdout, for scripts (diagnostics stay on stderr).")
    var json = false

    @Flag(help: "No colour (also when NO_COLOR is set or output is not a terminal).")
    var noColor = false

    /// The printer for the running command.
    func printer() -> Printer {
        let context = TodoContext.current
        return Printer(console: context.console, json: json,
                       style: Style(enabled: Style.colorEnabled(isTerminal: context.console.outputIsTerminal,
                                                                environment: context.environment, noColorFlag: noColor)),
                       errorStyle: Style(enabled: Style.colorEnabled(isTerminal: context.console.errorIsTerminal,
                                                                     environment: context.environment, noColorFlag: noColor)))
    }
}

/// The server a store syncs with.
struct ServerSettings: Sendable, Hashable {
    var url: URL
    var token: String?
    var strategy: ConflictStrategy

    /// The URL as the user reads it (no trailing slash).
    var displayURL: String {
        var text = url.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
