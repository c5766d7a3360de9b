import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP request as the sync backend builds it.
public struct HTTPRequest: Sendable, Hashable {
    public var method: String
    public var url: URL
    public var headers: [String: String]
    public var body: Data?

    public init(method: String, url: URL, headers: [String: String] = [:], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// An HTTP answer.
public struct HTTPResponse: Sendable, Hashable {
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }
}

/// Sends HTTP requests. The default is ``CurlHTTPTransport`` on Linux and ``URLSessionTransport``
/// elsewhere; inject your own to add headers, logging, or a test double.
public protocol HTTPTransport: Sendable {
    /// Sends the request. Throws only when there is no answer (a network failure); any
    /// status code is an answer.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

extension SyncConfig {
    /// The transport used when ``transport`` is nil: ``CurlHTTPTransport`` on Linux (see there
    /// why not `URLSession`), ``URLSessionTransport`` elsewhere.
    /// - Parameter timeout: per-request timeout in seconds.
    public static func defaultTransport(timeout: TimeInterval = 30) -> any HTTPTransport {
        #if canImport(CCurl)
        CurlHTTPTransport(timeout: timeout)
        #else
        URLSessionTransport(timeout: timeout)
        #endif
    }

    /// The transport sync sends with: ``transport``, or the default one trusting ``caBundlePath``.
    var effectiveTransport: any HTTPTransport {
        if let transport { return transport }
        #if canImport(CCurl)
        if let caBundlePath { return CurlHTTPTransport(caBundlePath: caBundlePath) }
        #endif
        return Self.defaultTransport()
    }
}

/// ``HTTPTransport`` over `URLSession` (FoundationNetworking on Linux).
///
/// A cancelled request is abandoned, not cancelled: the caller gets `CancellationError` at
/// once and the request runs to its end (at most `timeout`) with nobody waiting. On Linux,
/// cancelling the task that awaits `URLSession.data(for:)` can deadlock (swift-corelibs-foundation
/// #5412, fixed after Swift 6.3), and cancelling the `URLSessionTask` from another queue can trap;
/// `SyncLayer.close()` cancels in-flight syncs, so either would hang or crash a closing app.
public struct URLSessionTransport: HTTPTransport {
    private let session: URLSession
    private let timeout: TimeInterval

    /// - Parameters:
    ///   - session: default: an ephemeral session (no cookies, no cache).
    ///   - timeout: per-request timeout in seconds.
    public init(session: URLSession? = nil, timeout: TimeInterval = 30) {
        self.session = session ?? {
            // FoundationNetworking ignores URLRequest.timeoutInterval; the session's setting counts.
            let configuration = URLSessionConfiguration.ephemeral
            configuration.timeoutIntervalForRequest = timeout
            return URLSession(configuration: configuration)
        }()
        self.timeout = timeout
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let description = "\(request.method) \(request.url.path)"
        let answer = RequestAnswer()
        let session = session
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                guard answer.wait(with: continuation) else { return }
                session.dataTask(with: urlRequest) { data, response, error in
                    if let error {
                        answer.finish(.failure(SyncError.network("\(description): \((error as NSError).localizedDescription)")))
                        return
                    }
                    guard let http = response as? HTTPURLResponse else {
                        answer.finish(.failure(SyncError.network("\(description): not an HTTP answer")))
                        return
                    }
                    var headers: [String: String] = [:]
                    for (name, value) in http.allHeaderFields {
                        if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
                    }
                    answer.finish(.success(HTTPResponse(status: http.statusCode, headers: headers, body: data ?? Data())))
                }.resume()
            }
        } onCancel: {
            // Not inline: the runtime holds the task's status lock while cancellation handlers run.
            DispatchQueue.global().async { answer.finish(.failure(CancellationError())) }
        }
    }
}

/// The one answer a request gives its caller: the response, or cancellation, whichever is first.
final class RequestAnswer: Sendable {
    private let state = Locked<(continuation: CheckedContinuation<HTTPResponse, any Error>?, done: Bool)>((nil, false))

    /// Parks the caller; false (and resumed with cancellation) when it was cancelled already.
    func wait(with continuation: CheckedContinuation<HTTPResponse, any Error>) -> Bool {
        let cancelled = state.withLock { state in
            if state.done { return true }
            state.continuation = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        return !cancelled
    }

    func finish(_ result: Result<HTTPResponse, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<HTTPResponse, any Error>? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
    }
}
