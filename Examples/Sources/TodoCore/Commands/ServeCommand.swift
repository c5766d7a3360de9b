import ArgumentParser
import Foundation
import Logging
import SyncServer

/// `todo serve`: the reference sync server, for a quick try.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the reference sync server, to sync todos between terminals or machines.",
        discussion: """
            The same server as `synclayer-server` (protocol v1 and v2, realtime over WebSocket), \
            started with defaults for trying the app. Ctrl-C stops it. For anything longer lived, \
            use `synclayer-server` (Examples/README.md).

            With --json it prints one line, {"version": 1, "url", "websocket", "data", "tokens"}, \
            then nothing: handy with --port 0 in scripts.

            EXAMPLES
              todo serve                                   http://127.0.0.1:8080, data in memory
              todo serve --port 9000 --data ~/todo-server.sqlite --token secret
              todo serve --host 0.0.0.0 --token secret     reachable from other machines
            """)

    @Option(help: "The address to listen on; 0.0.0.0 for other machines.")
    var host = "127.0.0.1"

    @Option(help: "The port; 0 picks a free one.")
    var port = 8080

    @Option(help: ArgumentHelp("An SQLite file for the server's data. Default: in memory, lost when it stops.", valueName: "path"))
    var data: String?

    @Option(name: .customLong("token"), help: ArgumentHelp("A token clients must send; repeat for several. Default: none, every request is accepted.",
                                                           valueName: "token"))
    var tokens: [String] = []

    @Flag(name: [.short, .long], help: "Log every request on stderr.")
    var verbose = false

    @OptionGroup(title: "Output") var output: OutputOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be between 0 and 65535.") }
        if tokens.contains(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) {
            throw ValidationError("--token must be non-empty, without spaces.")
        }
    }

    func run() async throws {
        let printer = output.printer()
        let path = try data.map(Self.prepare)
        var logger = Logger(label: "todo-serve") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .info : .error
        let server: InProcessServer
        do {
            server = try await InProcessServer.start(
                configuration: ServerConfiguration(host: host, port: port, databasePath: path, tokens: Set(tokens),
                                                   logLevel: logger.logLevel),
                logger: logger)
        } catch {
            throw TodoError("cannot start the server on \(host):\(port): \(error)", status: .unavailable,
                            hint: port == 0 ? nil : "is the port in use? try --port 0 for a free one")
        }
        let url = server.baseURL
        if printer.json {
            printer.record([
                "version": .int(TodoRendering.schemaVersion), "url": .string(url), "websocket": .string(server.webSocketURL),
                "data": path.map { .string($0) } ?? .null, "tokens": .int(tokens.count),
            ])
        } else {
            let style = printer.style
            printer.line("\(style.green("●")) SyncLayer reference server listening on \(style.bold(url))")
            printer.line("  realtime  \(server.webSocketURL)")
            printer.line("  data      " + (path ?? style.yellow("in memory") + style.dim(" (lost when it stops; --data PATH keeps it)")))
            printer.line("  tokens    " + (tokens.isEmpty ? style.yellow("none") + style.dim(": every request is accepted (development only)")
                                                      : "\(tokens.count) accepted"))
            printer.line("")
            printer.line("Point clients at it (in another terminal):")
            let clientHost = host == "0.0.0.0" || host == "::" ? "<this machine's address>" : nil
            printer.line("  export SYNCLAYER_SERVER=\(clientHost.map { "http://\($0):\(server.port)" } ?? url)")
            if let token = tokens.first { printer.line("  export SYNCLAYER_TOKEN=\(token)") }
            printer.line("  todo add \"Buy milk\"")
            printer.line("  todo watch")
            printer.line("")
            printer.line(style.dim("Ctrl-C stops the server."))
        }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
        await server.stop()
        if !printer.json { printer.note("server stopped") }
    }

    /// An absolute path for `--data`, its folder created.
    private static func prepare(_ given: String) throws -> String {
        let url = URL(fileURLWithPath: (given as NSString).expandingTildeInPath,
                      relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw TodoError("cannot create the folder for --data \(given): \(error.localizedDescription)")
        }
        return url.path
    }
}
