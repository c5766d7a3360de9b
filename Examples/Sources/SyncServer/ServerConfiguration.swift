import Logging

/// Everything the reference server can be told at start.
///
/// ```swift
/// var configuration = ServerConfiguration(port: 0, databasePath: nil)
/// configuration.tokens = ["secret"]
/// let server = try await InProcessServer.start(configuration: configuration)
/// ```
public struct ServerConfiguration: Sendable {
    /// Address to bind; loopback by default.
    public var host: String
    /// Port to bind; 0 picks a free one (read it from `InProcessServer.port`).
    public var port: Int
    /// SQLite file; nil keeps the data in memory (lost on stop).
    public var databasePath: String?
    /// Accepted bearer tokens. Empty accepts every request (development only).
    public var tokens: Set<String>
    /// Accept `?token=` on the WebSocket upgrade (the Dart client's way).
    public var allowQueryToken: Bool
    public var limits: Limits
    /// Requests a second allowed per token, or per client address for a request without one (burst of the
    /// same size, at least 1); nil disables rate limiting. Must be finite and above 0.
    public var rateLimitPerSecond: Double?
    /// A WebSocket that sends nothing for this long is closed with 4408.
    public var webSocketIdleTimeout: Duration
    /// Serve HTTPS and `wss://` with this certificate instead of plain HTTP and `ws://`; nil (the
    /// default) serves plain HTTP.
    public var tls: TLSFiles?
    public var logLevel: Logger.Level

    public init(
        host: String = "127.0.0.1", port: Int = 8080, databasePath: String? = nil, tokens: Set<String> = [],
        allowQueryToken: Bool = false, limits: Limits = Limits(), rateLimitPerSecond: Double? = nil,
        webSocketIdleTimeout: Duration = .seconds(60), tls: TLSFiles? = nil, logLevel: Logger.Level = .info
    ) {
        self.host = host
        self.port = port
        self.databasePath = databasePath
        self.tokens = tokens
        self.allowQueryToken = allowQueryToken
        self.limits = limits
        self.rateLimitPerSecond = rateLimitPerSecond
        self.webSocketIdleTimeout = webSocketIdleTimeout
        self.tls = tls
        self.logLevel = logLevel
    }

    /// The server's certificate and key, as PEM files, read once at start.
    public struct TLSFiles: Sendable, Equatable {
        /// The server certificate first, then the intermediate certificates that lead to the CA.
        public var certificateChainPath: String
        /// The certificate's private key (not encrypted).
        public var privateKeyPath: String

        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// Size limits, advertised in the capabilities document.
    public struct Limits: Sendable, Equatable {
        public var maxBodyBytes: Int
        public var maxOpsPerBatch: Int
        public var document: DocumentLimits
        public var maxPullLimit: Int

        public init(maxBodyBytes: Int = 4 << 20, maxOpsPerBatch: Int = 2_000, document: DocumentLimits = DocumentLimits(), maxPullLimit: Int = 1000) {
            self.maxBodyBytes = maxBodyBytes
            self.maxOpsPerBatch = maxOpsPerBatch
            self.document = document
            self.maxPullLimit = maxPullLimit
        }

        /// A WebSocket message holds one document plus its envelope.
        public var maxWebSocketMessageBytes: Int { document.maxBytes + 64 * 1024 }

        /// The nesting around a document in the deepest request body, a v2 push: body, `ops`, op.
        static let envelopeDepth = 3
        /// The deepest nesting a request body is built to, whatever the document limit (the parser and the
        /// encoder recurse). With a document limit above this less `envelopeDepth`, a body that nests
        /// deeper is refused whole.
        static let maxBodyDepth = 512
    }
}
