import Foundation

/// The client side of the WebSocket opening handshake (RFC 6455 §4.1): the HTTP upgrade
/// request and the checks on the server's 101 answer.
///
/// ```swift
/// let handshake = WebSocketHandshake()
/// send(try handshake.request(for: url, headers: [("Authorization", "Bearer \(token)")]))
/// if case .complete(let response, let rest) = try WebSocketHandshake.parse(received) {
///     try handshake.validate(response)   // 101, Upgrade, Connection, Sec-WebSocket-Accept
///     decoder.append(rest)               // frames that came with the answer
/// }
/// ```
struct WebSocketHandshake: Sendable {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// The most header bytes accepted before the blank line.
    static let maxResponseBytes = 16 * 1024

    /// The `Sec-WebSocket-Key`: 16 random bytes in base64.
    let key: String

    init(key: String = WebSocketHandshake.randomKey()) {
        self.key = key
    }

    static func randomKey() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// The `Sec-WebSocket-Accept` a server must answer for `key`.
    static func accept(for key: String) -> String {
        Base64.encode(SHA1.digest(Array((key + guid).utf8)))
    }

    /// The upgrade request for `url` (any of ws, wss, http, https) with extra headers.
    ///
    /// - Throws: ``SyncError`` (not retryable) when the URL has no host or a header would
    ///   break the request (a line break in a token, say).
    func request(for url: URL, headers: [(name: String, value: String)] = []) throws(SyncError) -> [UInt8] {
        guard let components = URLComponents(url: url, resolvingAgainstBaseURL: false), let host = components.host, !host.isEmpty else {
            throw SyncError(kind: .network, message: "the WebSocket URL has no host", isRetryable: false)
        }
        var target = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { target += "?" + query }
        var hostHeader = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let secure = ["wss", "https"].contains(components.scheme?.lowercased() ?? "")
        if let port = components.port, port != (secure ? 443 : 80) { hostHeader += ":\(port)" }

        var lines = [
            "GET \(target) HTTP/1.1",
            "Host: \(hostHeader)",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: \(key)",
            "Sec-WebSocket-Version: 13",
        ]
        for (name, value) in headers {
            let nameIsToken = !name.isEmpty && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
            // Checked on bytes: "\r\n" is one Character, equal neither to "\r" nor to "\n".
            guard nameIsToken, !value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else {
                throw SyncError(kind: .network, message: "a WebSocket header name or value has forbidden characters", isRetryable: false)
            }
            lines.append("\(name): \(value)")
        }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// The status line and headers of the server's answer.
    struct Response: Sendable, Hashable {
        var status: Int
        var reason: String
        var headers: [String: String]

        /// A header by case-insensitive name; repeated headers are joined with ", ".
        func value(for name: String) -> String? { headers[name.lowercased()] }
    }

    enum ParseResult: Sendable, Hashable {
        case incomplete
        /// The answer, and the bytes after its blank line (already WebSocket frames).
        case complete(Response, remainder: [UInt8])
    }

    /// Parses the answer once `received` holds its blank line.
    ///
    /// - Throws: ``SyncError`` `invalidResponse` for a malformed or oversize answer.
    static func parse(_ received: [UInt8]) throws(SyncError) -> ParseResult {
        let terminator: [UInt8] = [13, 10, 13, 10]
        guard let end = received.firstRange(of: terminator) else {
            if received.count > maxResponseBytes { throw .invalidResponse("the WebSocket upgrade answer is too large") }
            return .incomplete
        }
        guard end.lowerBound <= maxResponseBytes else { throw .invalidResponse("the WebSocket upgrade answer is too large") }
        let head = String(decoding: received[..<end.lowerBound], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]), (100...599).contains(status) else {
            throw .invalidResponse("the WebSocket upgrade answer is not HTTP/1.1")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw .invalidResponse("a malformed header in the WebSocket upgrade answer") }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
        }
        let reason = statusLine.count > 2 ? String(statusLine[2]) : ""
        return .complete(Response(status: status, reason: reason, headers: headers),
                         remainder: Array(received[end.upperBound...]))
    }

    /// Checks that `response` accepts this handshake.
    ///
    /// - Throws: ``SyncError``: `unauthorized` for 401 and 403, `http` for another status, and
    ///   `invalidResponse` when a 101 lacks the right `Upgrade`, `Connection` or
    ///   `Sec-WebSocket-Accept`, or names an extension or subprotocol that was not offered.
    func validate(_ response: Response) throws(SyncError) {
        switch response.status {
        case 101: break
        case 401, 403:
            throw SyncError(kind: .unauthorized, status: response.status, message: "the server refused the WebSocket token",
                            isRetryable: true)
        default:
            throw SyncError(kind: .http, status: response.status, message: "the server answered the WebSocket upgrade with \(response.status)",
                            isRetryable: true)
        }
        guard response.value(for: "upgrade")?.lowercased() == "websocket" else {
            throw .invalidResponse("the WebSocket upgrade answer lacks Upgrade: websocket", status: 101)
        }
        let connection = response.value(for: "connection")?.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard connection?.contains("upgrade") == true else {
            throw .invalidResponse("the WebSocket upgrade answer lacks Connection: Upgrade", status: 101)
        }
        guard response.value(for: "sec-websocket-accept") == Self.accept(for: key) else {
            throw .invalidResponse("the WebSocket upgrade answer has a wrong Sec-WebSocket-Accept", status: 101)
        }
        guard response.value(for: "sec-websocket-extensions") == nil, response.value(for: "sec-websocket-protocol") == nil else {
            throw .invalidResponse("the WebSocket upgrade answer names an extension or subprotocol that was not offered", status: 101)
        }
    }
}
