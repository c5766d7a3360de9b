import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SyncServer

/// `swift run --package-path Examples synclayer-server --host 127.0.0.1 --port 8080 --data PATH [--token T ...]`
///
/// Every option can also come from the environment: SYNCLAYER_HOST, SYNCLAYER_PORT, SYNCLAYER_DATA,
/// SYNCLAYER_TOKENS (comma-separated), SYNCLAYER_ALLOW_QUERY_TOKEN=1, SYNCLAYER_RATE_LIMIT,
/// SYNCLAYER_LOG_LEVEL. Command-line options win.
@main
struct SyncLayerServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synclayer-server",
        abstract: "The SyncLayer reference sync server (protocol v1 and v2, see doc/PROTOCOL.md).")

    @Option(help: "Address to bind (env SYNCLAYER_HOST).")
    var host: String?

    @Option(help: "Port to bind; 0 picks a free port (env SYNCLAYER_PORT).")
    var port: Int?

    @Option(help: "SQLite database file (env SYNCLAYER_DATA). Without it, data lives in memory.")
    var data: String?

    @Option(name: .customLong("token"), help: "An accepted bearer token; repeat for several (env SYNCLAYER_TOKENS).")
    var tokens: [String] = []

    @Flag(help: "Accept ?token= on the WebSocket upgrade, as the Dart client sends it (env SYNCLAYER_ALLOW_QUERY_TOKEN=1).")
    var allowQueryToken = false

    @Option(help: "Requests per second allowed per token; off by default (env SYNCLAYER_RATE_LIMIT).")
    var rateLimit: Double?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env SYNCLAYER_LOG_LEVEL).")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        configuration.host = host ?? environment["SYNCLAYER_HOST"] ?? configuration.host
        if let port = try port ?? environment["SYNCLAYER_PORT"].map(Self.integer) { configuration.port = port }
        configuration.databasePath = data ?? environment["SYNCLAYER_DATA"]
        let tokenList = tokens.isEmpty ? (environment["SYNCLAYER_TOKENS"] ?? "").split(separator: ",").map(String.init) : tokens
        configuration.tokens = Set(tokenList.filter { !$0.isEmpty })
        configuration.allowQueryToken = allowQueryToken || environment["SYNCLAYER_ALLOW_QUERY_TOKEN"] == "1"
        configuration.rateLimitPerSecond = rateLimit ?? environment["SYNCLAYER_RATE_LIMIT"].flatMap(Double.init)
        if let levelName = logLevel ?? environment["SYNCLAYER_LOG_LEVEL"] {
            guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown log level \(levelName)") }
            configuration.logLevel = level
        }
        let app = try buildApplication(configuration: configuration)
        try await app.runService()
    }

    private static func integer(_ text: String) throws -> Int {
        guard let value = Int(text) else { throw ValidationError("SYNCLAYER_PORT must be an integer") }
        return value
    }
}
