extension SyncError.Kind {
    /// TLS failed: the certificate or host name was not trusted, or the TLS handshake broke.
    public static let tls = SyncError.Kind(rawValue: "tls")
}

extension SyncError {
    static let webSocketNotConnected = SyncError(kind: .network, message: "the WebSocket is not connected", isRetryable: true)

    /// The connection ended with a close frame (or without one: `code` 1006). `code` carries the
    /// close code as text, like `"1008"`.
    static func webSocketClosed(_ code: WebSocketCloseCode, reason: String, byServer: Bool) -> SyncError {
        let who = byServer ? "the server closed the WebSocket" : "the WebSocket was closed"
        let kind: Kind = code == .policyViolation ? .unauthorized : .network
        return SyncError(kind: kind, code: String(code.rawValue),
                         message: reason.isEmpty ? "\(who) (\(code))" : "\(who) (\(code)): \(reason)", isRetryable: true)
    }
}
