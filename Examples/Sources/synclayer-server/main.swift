import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SyncServer

/// `swift run --package-path Examples synclayer-server --host 127.0.0.1 --port 8080 --data PATH [--token T ...]
/// [--tls-cert PATH --tls-key PATH]`
///
/// Every option can also come from the environment: SYNCLAYER_HOST, SYNCLAYER_PORT, SYNCLAYER_DATA,
/// SYNCLAYER_TOKENS (comma-separated), SYNCLAYER_ALLOW_QUERY_TOKEN=1, SYNCLAYER_RATE_LIMIT,
/// SYNCLAYER_TLS_CERT, SYNCLAYER_TLS_KEY, SYNCLAYER_LOG_LEVEL. Command-line options win.
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

    @Option(help: """
        Requests a second allowed per token (per client address for requests without one), a number above 0; \
        off by default (env SYNCLAYER_RATE_LIMIT).
        """)
    var rateLimit: Double?

    @Option(help: """
        PEM certificate chain (server certificate first): serve HTTPS and wss:// instead of HTTP and ws://; \
        needs --tls-key (env SYNCLAYER_TLS_CERT).
        """)
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert (env SYNCLAYER_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env SYNCLAYER_LOG_LEVEL).")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        configuration.host = host ?? environment["SYNCLAYER_HOST"] ?? configuration.host
        if let port = try port ?? Self.value("SYNCLAYER_PORT", in: environment, as: Int.self, "an integer") { configuration.port = port }
        configuration.databasePath = data ?? environment["SYNCLAYER_DATA"]
        let tokenList = tokens.isEmpty ? (environment["SYNCLAYER_TOKENS"] ?? "").split(separator: ",").map(String.init) : tokens
        configuration.tokens = Set(tokenList.filter { !$0.isEmpty })
        configuration.allowQueryToken = allowQueryToken || environment["SYNCLAYER_ALLOW_QUERY_TOKEN"] == "1"
        configuration.rateLimitPerSecond = try Self.rate(
            rateLimit ?? Self.value("SYNCLAYER_RATE_LIMIT", in: environment, as: Double.self, "a number"))
        switch (tlsCert ?? environment["SYNCLAYER_TLS_CERT"], tlsKey ?? environment["SYNCLAYER_TLS_KEY"]) {
        case (nil, nil): break
        case let (certificate?, key?):
            for (option, path) in [("--tls-cert", certificate), ("--tls-key", key)] where !FileManager.default.isReadableFile(atPath: path) {
                throw ValidationError("\(option) \(path) is not a readable file")
            }
            configuration.tls = .init(certificateChainPath: certificate, privateKeyPath: key)
        default: throw ValidationError("--tls-cert and --tls-key (SYNCLAYER_TLS_CERT, SYNCLAYER_TLS_KEY) go together")
        }
        if let levelName = logLevel ?? environment["SYNCLAYER_LOG_LEVEL"] {
            guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown log level \(levelName)") }
            configuration.logLevel = level
        }
        let app = try buildApplication(configuration: configuration)
        try await app.runService()
    }

    /// The variable `name` read as a `Value`; nil when it is not set, an error when it is set to something else.
    private static func value<Value: LosslessStringConvertible>(
        _ name: String, in environment: [String: String], as _: Value.Type, _ kind: String
    ) throws -> Value? {
        guard let text = environment[name] else { return nil }
        guard let value = Value(text) else { throw ValidationError("\(name) must be \(kind) (got \(text))") }
        return value
    }

    /// A rate of 0, below 0, infinite or NaN would leave the limiter no sensible wait to answer.
    private static func rate(_ value: Double?) throws -> Double? {
        guard let value else { return nil }
        guard value.isFinite, value > 0 else {
            throw ValidationError("the rate limit must be a number of requests a second above 0 (got \(value))")
        }
        return value
    }
}
