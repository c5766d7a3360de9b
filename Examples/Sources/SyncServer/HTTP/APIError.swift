import Hummingbird

/// An error answered with the stable body `{"error":{"code","message","retryable"}}` (PROTOCOL.md §1).
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Seconds for the `Retry-After` header.
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// 429, 5xx (and 408) may succeed later; other statuses will not.
    public var isRetryable: Bool { Self.isRetryable(status) }

    public static func isRetryable(_ status: HTTPResponse.Status) -> Bool {
        status == .tooManyRequests || status == .requestTimeout || status.code >= 500
    }

    public var body: JSONValue {
        ["error": ["code": .string(code), "message": .string(message), "retryable": .bool(isRetryable)]]
    }

    public var response: Response {
        var response = Response.json(body, status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    static func invalidJSON(_ message: String) -> APIError { APIError(.badRequest, code: "INVALID_JSON", message: message) }
    static func invalidRequest(_ message: String) -> APIError { APIError(.badRequest, code: "INVALID_REQUEST", message: message) }
    static func invalidIdentifier(_ message: String) -> APIError { APIError(.badRequest, code: "INVALID_IDENTIFIER", message: message) }
    static let authFailed = APIError(.unauthorized, code: "AUTH_FAILED", message: "missing or invalid bearer token")

    /// The body for statuses raised by Hummingbird itself (unknown route, body too large…).
    static func from(status: HTTPResponse.Status) -> APIError {
        switch status.code {
        case 404: APIError(status, code: "NOT_FOUND", message: "no such route")
        case 405: APIError(status, code: "METHOD_NOT_ALLOWED", message: "method not allowed on this route")
        case 413: APIError(status, code: "PAYLOAD_TOO_LARGE", message: "request body too large")
        case 400..<500: APIError(status, code: "INVALID_REQUEST", message: status.reasonPhrase)
        case 503: APIError(status, code: "SERVICE_UNAVAILABLE", message: "service unavailable")
        default: APIError(status, code: "SERVER_ERROR", message: "internal server error")
        }
    }
}

extension Response {
    /// A JSON answer in canonical encoding, written in one piece.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        json(bytes: value.encodedBytes, status: status)
    }

    /// A JSON answer already encoded.
    static func json(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(bytes.count)],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
