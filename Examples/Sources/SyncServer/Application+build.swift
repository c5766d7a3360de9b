import Hummingbird
import HummingbirdCore  // HTTPServerBuilder, which HummingbirdTLS extends
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOWebSocket

/// Builds the reference server: v1 and v2 HTTP routes and the `/ws` endpoint on one port, over
/// TLS (HTTPS and `wss://`) when ``ServerConfiguration/tls`` is set.
///
/// ```swift
/// let app = try buildApplication(configuration: ServerConfiguration(port: 8080, databasePath: "sync.sqlite"))
/// try await app.runService()   // stops on SIGINT/SIGTERM
/// ```
/// - Parameters:
///   - configuration: address, storage, tokens, limits.
///   - faults: test hooks; the default one stays off.
///   - store: storage to use instead of the SQLite file named by the configuration.
///   - onServerRunning: called with the bound port once the server listens.
/// - Throws: when the database cannot be opened, or the TLS certificate or key cannot be read.
public func buildApplication(
    configuration: ServerConfiguration,
    faults: FaultInjector = FaultInjector(),
    store: (any SyncStore)? = nil,
    logger: Logger? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    var logger = logger ?? Logger(label: "synclayer-server")
    logger.logLevel = configuration.logLevel
    let service = SyncService(
        store: try store ?? SQLiteSyncStore(path: configuration.databasePath), hub: RealtimeHub(),
        limits: configuration.limits, faults: faults)
    let authenticator = Authenticator(tokens: configuration.tokens)
    if configuration.tokens.isEmpty {
        logger.warning("no token configured: every request is accepted (development only)")
    }

    let router = Router(context: SyncRequestContext.self)
    router.middlewares.add(RequestLogMiddleware())
    router.middlewares.add(ResponseDelayMiddleware(faults: faults))  // delays error answers too
    router.middlewares.add(ErrorBodyMiddleware())
    router.middlewares.add(AuthMiddleware(authenticator: authenticator))
    if let perSecond = configuration.rateLimitPerSecond {
        router.middlewares.add(RateLimitMiddleware(limiter: RateLimiter(perSecond: perSecond)))
    }
    ProtocolV2Routes(service: service, configuration: configuration).register(on: router)
    LegacyRoutes(service: service).register(on: router)
    // Reached only when a request to /ws was not upgraded.
    router.get("/ws") { _, _ -> Response in
        throw APIError(.upgradeRequired, code: "INVALID_REQUEST", message: "/ws needs a WebSocket upgrade")
    }

    let webSocketRouter = Router(context: BasicWebSocketRequestContext.self)
    let allowQueryToken = configuration.allowQueryToken
    let idleTimeout = configuration.webSocketIdleTimeout
    webSocketRouter.ws("/ws") { _, _ in
        .upgrade([:])
    } onUpgrade: { inbound, outbound, context in
        let request = context.request
        var token = authenticator.authenticate(authorization: request.headers[.authorization])
        if token == nil, allowQueryToken, let query = request.uri.queryParameters["token"] {
            token = authenticator.authenticate(token: String(query))
        }
        guard token != nil else {
            context.logger.info("websocket refused: authentication failed")
            // Hummingbird answers a refused upgrade with a bare 400; an error message and 1008 say why.
            let message = RealtimeMessage.error("AUTH_FAILED", "authentication failed")
            try await outbound.write(.text(message.text))
            try await outbound.close(.policyViolation, reason: "authentication failed")
            return
        }
        let session = WebSocketSession(service: service, idleTimeout: idleTimeout, logger: context.logger)
        context.logger.info("websocket opened", metadata: ["connection": "\(session.id)"])
        defer { context.logger.info("websocket closed", metadata: ["connection": "\(session.id)"]) }
        try await session.run(inbound: inbound, outbound: outbound)
    }

    let webSocketConfiguration = WebSocketServerConfiguration(
        maxFrameSize: configuration.limits.maxWebSocketMessageBytes, autoPing: .disabled, validateUTF8: true)
    var server = HTTPServerBuilder.http1WebSocketUpgrade(webSocketRouter: webSocketRouter, configuration: .init(ws: webSocketConfiguration))
    if let tls = configuration.tls {
        // No ALPN offered: a client falls back to HTTP/1.1, which the WebSocket upgrade needs.
        server = try .tls(server, tlsConfiguration: .makeServerConfiguration(
            certificateChain: NIOSSLCertificate.fromPEMFile(tls.certificateChainPath).map { .certificate($0) },
            privateKey: .privateKey(NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem))))
    }
    return Application(
        router: router,
        server: server,
        configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port)),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger)
}
