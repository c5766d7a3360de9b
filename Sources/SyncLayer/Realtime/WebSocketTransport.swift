import Foundation

/// What opening a WebSocket needs: where, which headers, and the limits.
struct WebSocketRequest: Sendable {
    /// The endpoint as the user gave it: ws, wss, http or https.
    var url: URL
    /// Extra upgrade headers, such as `Authorization`.
    var headers: [(name: String, value: String)] = []
    /// Larger incoming messages fail the connection with close code 1009.
    var maxMessageBytes: Int = WebSocketService.defaultMaxMessageBytes
    /// Time allowed for TCP, TLS and the upgrade together.
    var openTimeout: Duration = .seconds(15)
    /// Time allowed for the server's close frame after ours.
    var closeTimeout: Duration = .seconds(2)

    /// The URL with an http or https scheme (what libcurl connects to).
    var httpURL: URL { Self.url(url, schemes: ["ws": "http", "wss": "https"]) }
    /// The URL with a ws or wss scheme (what `URLSessionWebSocketTask` wants).
    var webSocketURL: URL { Self.url(url, schemes: ["http": "ws", "https": "wss"]) }

    private static func url(_ url: URL, schemes: [String: String]) -> URL {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false),
              let scheme = components.scheme?.lowercased(), let mapped = schemes[scheme] else { return url }
        components.scheme = mapped
        return components.url ?? url
    }
}

/// What happens on a connection, in order: ``opened`` (unless opening fails), then messages
/// and pongs, then exactly one ``closed``.
enum WebSocketTransportEvent: Sendable {
    case opened
    case text(String)
    case binary([UInt8])
    case pong
    case closed(WebSocketClosure)
}

/// How a connection ended.
struct WebSocketClosure: Sendable, Hashable {
    /// The close code received (or sent, when we failed the connection); 1006 when the
    /// connection ended without a close frame; nil when it never opened.
    var code: WebSocketCloseCode?
    var reason: String = ""
    /// Whether the connection was open (the handshake finished) before it closed.
    var wasOpen: Bool
    /// Why, when it was not a clean close: opening failed, a protocol error, a broken socket.
    var error: SyncError?
}

/// Opens WebSocket connections: libcurl on Linux, `URLSessionWebSocketTask` on Apple platforms.
protocol WebSocketTransport: Sendable {
    /// Starts opening a connection and returns at once. Everything that happens arrives through
    /// `events`, called serially and in order, never after `.closed`.
    func open(_ request: WebSocketRequest, events: @escaping @Sendable (WebSocketTransportEvent) -> Void) -> any WebSocketConnection
}

/// One connection made by a ``WebSocketTransport``.
protocol WebSocketConnection: AnyObject, Sendable {
    /// Sends a text message; returns once it is handed to the socket.
    ///
    /// - Throws: ``SyncError`` when the connection is not open (yet or any more).
    func send(text: String) async throws
    /// Sends a ping control frame; its pong arrives as `.pong`.
    func sendPing() async throws
    /// Closes with a close frame and waits for the server's (up to the close timeout), or stops
    /// opening. Returns when the connection is gone, its `.closed` event delivered.
    func close(_ code: WebSocketCloseCode, reason: String) async
    /// Drops the connection without a close handshake (a dead peer); returns when it is gone.
    func abort() async
}

/// The transport of this platform: libcurl on Linux, `URLSessionWebSocketTask` elsewhere.
///
/// - Parameter caBundlePath: a PEM file of the CAs to trust instead of the system's; libcurl
///   only (validated before, see `SyncConfig.validateCABundle`).
func platformWebSocketTransport(caBundlePath: String? = nil) -> any WebSocketTransport {
    #if canImport(CCurl)
    CurlWebSocketTransport(caBundlePath: caBundlePath)
    #else
    URLSessionWebSocketTransport()
    #endif
}
