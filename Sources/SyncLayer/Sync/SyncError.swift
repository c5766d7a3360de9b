import Foundation

/// A failure talking to the sync backend.
///
/// Carries what the app needs to decide: the HTTP status and the server's error code and
/// message (from the protocol's error body), whether a retry can succeed, and how long the
/// server asked to wait.
public struct SyncError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// No answer: connection refused or dropped, DNS, TLS, timeout.
        public static let network = Kind(rawValue: "network")
        /// The server answered with a non-2xx status.
        public static let http = Kind(rawValue: "http")
        /// The server wants (another) token; see ``SyncConfig/tokenProvider``.
        public static let unauthorized = Kind(rawValue: "unauthorized")
        /// The answer was not what the protocol promises (bad JSON, wrong types).
        public static let invalidResponse = Kind(rawValue: "invalidResponse")
        /// The request could not be sent as built (a header value with a line break, say).
        public static let invalidRequest = Kind(rawValue: "invalidRequest")
        /// No backend is configured (`baseURL` is nil and no custom backend).
        public static let notConfigured = Kind(rawValue: "notConfigured")
        /// Operations are parked after ``SyncConfig/maxRetries`` answered failures (with the
        /// changes queued behind them); ``SyncLayer/retryFailedOperations()`` queues them again.
        public static let operationsParked = Kind(rawValue: "operationsParked")
    }

    public let kind: Kind
    /// The HTTP status, when there was an answer.
    public let status: Int?
    /// The server's error code (`RATE_LIMIT_EXCEEDED`, …), when it sent one.
    public let code: String?
    /// What went wrong. Never contains tokens or document values.
    public let message: String
    /// Whether trying again later can succeed.
    public let isRetryable: Bool
    /// How long the server asked to wait (`Retry-After`), already clamped.
    public let retryAfter: Duration?

    public init(kind: Kind, status: Int? = nil, code: String? = nil, message: String, isRetryable: Bool,
                retryAfter: Duration? = nil) {
        self.kind = kind
        self.status = status
        self.code = code
        self.message = message
        self.isRetryable = isRetryable
        self.retryAfter = retryAfter
    }

    public var description: String {
        var text = "SyncError.\(kind)"
        if let status { text += " \(status)" }
        if let code { text += " \(code)" }
        return text + ": \(message)"
    }

    static func network(_ message: String) -> SyncError {
        SyncError(kind: .network, message: message, isRetryable: true)
    }

    static func invalidResponse(_ message: String, status: Int? = nil) -> SyncError {
        SyncError(kind: .invalidResponse, status: status, message: message, isRetryable: true)
    }
}

extension SyncError: LocalizedError {
    public var errorDescription: String? { description }
}
