import Foundation

/// The SyncLayer REST protocol (`doc/PROTOCOL.md`): v2 when the server advertises it, else
/// v1, SyncLayer Dart 1.7.3's contract.
///
/// v1 sends one request per operation and pulls by `since`/`offset`; v2 pushes batches of
/// operations with op ids (applied at most once), pulls by an opaque cursor and reports
/// deletes.
public final class RESTBackend: SyncBackend {
    /// Which protocol to speak.
    public enum ProtocolVersion: Sendable, Hashable {
        /// v2 when `GET /.well-known/synclayer` lists it, else v1.
        case automatic
        case v1
        case v2
    }

    let baseURL: String
    let transport: any HTTPTransport
    let tokens: TokenStore
    let version: ProtocolVersion
    private let negotiated = Locked<BackendCapabilities?>(nil)

    /// - Parameters:
    ///   - baseURL: the server, e.g. `https://api.example.com` (paths are appended).
    ///   - token: the bearer token.
    ///   - tokenProvider: called for a new token after a 401.
    ///   - transport: default ``SyncConfig/defaultTransport()``.
    public convenience init(baseURL: URL, token: String? = nil, tokenProvider: (@Sendable () async throws -> String)? = nil,
                            version: ProtocolVersion = .automatic, transport: any HTTPTransport = SyncConfig.defaultTransport()) {
        self.init(baseURL: baseURL, tokens: TokenStore(token: token, provider: tokenProvider), version: version,
                  transport: transport)
    }

    init(baseURL: URL, tokens: TokenStore, version: ProtocolVersion, transport: any HTTPTransport) {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.tokens = tokens
        self.version = version
        self.transport = transport
    }

    // MARK: SyncBackend

    public func capabilities() async throws -> BackendCapabilities {
        if let known = negotiated.withLock({ $0 }) { return known }
        let capabilities: BackendCapabilities
        switch version {
        case .v1:
            capabilities = RESTBackend.v1Capabilities
        case .v2, .automatic:
            if let advertised = try await fetchCapabilities() {
                capabilities = advertised
            } else if version == .v2 {
                throw SyncError(kind: .invalidResponse, message: "the server does not offer protocol v2", isRetryable: false)
            } else {
                capabilities = RESTBackend.v1Capabilities
            }
        }
        negotiated.withLock { $0 = capabilities }
        return capabilities
    }

    public func push(_ batch: PushBatch) async throws -> [PushResult] {
        try await capabilities().protocolVersion >= 2 ? pushV2(batch) : pushV1(batch)
    }

    public func pull(_ request: PullRequest) async throws -> PullPage {
        try await capabilities().protocolVersion >= 2 ? pullV2(request) : pullV1(request)
    }

    // MARK: Negotiation

    static let v1Capabilities = BackendCapabilities(protocolVersion: 1, maxOpsPerBatch: 100, maxBodyBytes: 4 << 20,
                                                    maxPullLimit: 100, reportsDeletes: false)

    /// The capabilities document, or nil when the server has none (a v1 server).
    private func fetchCapabilities() async throws -> BackendCapabilities? {
        let response = try await transport.send(HTTPRequest(method: "GET", url: try url("/.well-known/synclayer"),
                                                            headers: ["Accept": "application/json"]))
        if response.status == 404 || response.status == 405 { return nil }
        guard (200..<300).contains(response.status) else { throw RESTBackend.error(from: response) }
        guard case .object(let document)? = try? JSONText.parse(response.body),
              document["protocol"] == "synclayer",
              let versions = document["versions"]?.arrayValue?.compactMap(\.intValue), versions.contains(2) else {
            return nil
        }
        let limits = document["limits"]?.objectValue ?? [:]
        return BackendCapabilities(protocolVersion: 2,
                                   maxOpsPerBatch: max(1, limits["maxOpsPerBatch"]?.intValue ?? 500),
                                   maxBodyBytes: max(1024, limits["maxBodyBytes"]?.intValue ?? 4 << 20),
                                   maxPullLimit: max(1, limits["maxPullLimit"]?.intValue ?? 1000),
                                   reportsDeletes: true)
    }

    // MARK: Requests

    func url(_ path: String, query: [(String, String)] = []) throws -> URL {
        var text = baseURL + path
        if !query.isEmpty {
            text += "?" + query.map { "\(RESTBackend.encode($0.0))=\(RESTBackend.encode($0.1))" }.joined(separator: "&")
        }
        guard let url = URL(string: text) else {
            throw SyncError(kind: .invalidResponse, message: "cannot build a URL for \(path)", isRetryable: false)
        }
        return url
    }

    /// Percent-encodes a path segment or query component (everything but unreserved characters).
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// Sends an authorised request; after a 401, refreshes the token once and retries.
    func send(_ method: String, _ url: URL, body: JSONValue? = nil) async throws -> HTTPResponse {
        try await send(method, url, encodedBody: body.map { Data(JSONText.encode($0).utf8) })
    }

    /// Sends `encodedBody` (JSON) as it is.
    func send(_ method: String, _ url: URL, encodedBody: Data?) async throws -> HTTPResponse {
        var request = HTTPRequest(method: method, url: url, headers: ["Accept": "application/json"])
        if let encodedBody {
            request.body = encodedBody
            request.headers["Content-Type"] = "application/json"
        }
        let token = await tokens.token
        if let token { request.headers["Authorization"] = "Bearer \(token)" }
        var response = try await transport.send(request)
        if response.status == 401, let fresh = await tokens.refresh(after: token) {
            request.headers["Authorization"] = "Bearer \(fresh)"
            response = try await transport.send(request)
        }
        if response.status == 401 {
            let error = RESTBackend.error(from: response)
            throw SyncError(kind: .unauthorized, status: 401, code: error.code, message: error.message, isRetryable: false)
        }
        return response
    }

    /// The longest wait a `Retry-After` may impose.
    static let maximumRetryAfter: Duration = .seconds(3600)

    /// The protocol's error body (`{"error":{code,message,retryable}}`) as a ``SyncError``.
    static func error(from response: HTTPResponse, now: Date = Date()) -> SyncError {
        let body = (try? JSONText.parse(response.body))?["error"]
        let status = response.status
        // 5xx, 429 and 408 are always retryable (a `retryable: false` body cannot make them a
        // permanent rejection); the body can mark another status retryable.
        let retryable = status >= 500 || status == 429 || status == 408 || body?["retryable"]?.boolValue == true
        let message = body?["message"]?.stringValue ?? "HTTP \(status)"
        return SyncError(kind: .http, status: status, code: body?["code"]?.stringValue, message: String(message.prefix(500)),
                         isRetryable: retryable, retryAfter: retryAfter(response.headers["retry-after"], now: now))
    }

    /// `Retry-After` in seconds or as an HTTP date, clamped to 0…``maximumRetryAfter``.
    static func retryAfter(_ header: String?, now: Date = Date()) -> Duration? {
        guard let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty else { return nil }
        let seconds: Double
        if let value = Double(header), value.isFinite {
            seconds = value
        } else if let date = httpDate(header) {
            seconds = date.timeIntervalSince(now)
        } else {
            return nil
        }
        let clamped = min(max(seconds, 0), Double(maximumRetryAfter.components.seconds))
        return .milliseconds(Int64((clamped * 1000).rounded(.up)))
    }

    private static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    // MARK: Timestamps

    static func formatTimestamp(_ date: Date) -> String { Timestamp.format(date) }

    static func parseTimestamp(_ text: String) -> Date? { Timestamp.parse(text) }

    /// Parses a 2xx JSON body; anything else is an invalid response (retryable: a proxy's
    /// HTML page usually passes).
    static func jsonBody(_ response: HTTPResponse) throws -> JSONValue {
        do {
            return try JSONText.parse(response.body)
        } catch {
            throw SyncError.invalidResponse("the answer is not JSON (\(error))", status: response.status)
        }
    }
}
