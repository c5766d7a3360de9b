#if canImport(CCurl)
import CCurl
import Foundation

/// libcurl as both transports use it.
enum Curl {
    /// `curl_global_init`, done once before the first handle.
    static let isReady: Bool = curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK

    /// curl's codes for TLS failures (certificate, host name, handshake, pinning).
    private static let tlsCodes: Set<UInt32> = [35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98]

    /// The error of a failed transfer (always retryable): TLS failures are told apart from the rest.
    static func error(_ code: CURLcode, detail: UnsafePointer<CChar>, context: String? = nil) -> SyncError {
        let text = String(cString: detail)
        let message = text.isEmpty ? String(cString: curl_easy_strerror(code)) : text
        return SyncError(kind: tlsCodes.contains(code.rawValue) ? .tls : .network, code: "CURLE_\(code.rawValue)",
                         message: context.map { "\($0): \(message)" } ?? message, isRetryable: true)
    }
}

/// ``HTTPTransport`` over libcurl's easy interface: the default on Linux.
///
/// Why not `URLSession` there: FoundationNetworking drives the same libcurl from dispatch sources,
/// and while it waits for an answer it keeps a core busy (measured: 1.7 s of CPU during a 2 s wait
/// for a 400 KB POST), which on a small machine takes that core from the app or from a server on
/// the same host. It also costs about 0.6 ms of CPU per request, leaks about 150 B per request and
/// takes no custom CA (`../doc/ARCHITECTURE.md`). Here a request is one blocking
/// `curl_easy_perform` on a thread of its own that sleeps in `poll()` while the server works.
///
/// - Idle handles are kept (at most `maxIdleHandles`) with their open connections, so a sync's
///   requests reuse one keep-alive connection.
/// - Proxies come from the usual environment variables (`https_proxy`, `no_proxy`, …), as curl reads them.
/// - GET and HEAD follow redirects (at most 5); other methods get the 3xx answer, because following
///   it could drop or resend their body.
/// - A cancelled request returns `CancellationError` at once and its transfer is aborted.
public final class CurlHTTPTransport: HTTPTransport {
    private struct Handle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    private let timeout: TimeInterval
    private let connectTimeout: TimeInterval
    private let caBundlePath: String?
    private let pinnedPublicKey: String?
    private let maxIdleHandles: Int
    private let idle = Locked<[Handle]>([])

    /// - Parameters:
    ///   - timeout: the longest a whole request may take, in seconds.
    ///   - connectTimeout: the longest connecting (TCP and TLS) may take, in seconds.
    ///   - caBundlePath: a PEM file of the certificate authorities to trust instead of the system's.
    ///   - pinnedPublicKey: curl's `CURLOPT_PINNEDPUBLICKEY`: a PEM/DER file, or `sha256//BASE64` hashes
    ///     separated by `;`; a server whose key does not match is refused.
    ///   - maxIdleHandles: how many idle handles (each with its open connections) are kept.
    public init(timeout: TimeInterval = 30, connectTimeout: TimeInterval = 10, caBundlePath: String? = nil,
                pinnedPublicKey: String? = nil, maxIdleHandles: Int = 4) {
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.caBundlePath = caBundlePath
        self.pinnedPublicKey = pinnedPublicKey
        self.maxIdleHandles = maxIdleHandles
    }

    deinit {
        for handle in idle.withLock({ $0 }) { curl_easy_cleanup(handle.pointer) }
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        for (name, value) in request.headers {
            if let problem = Self.headerProblem(name: name, value: value) {
                throw SyncError(kind: .invalidRequest, message: "the header \(name.debugDescription) \(problem)", isRetryable: false)
            }
        }
        let exchange = Exchange(request)
        let answer = RequestAnswer()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                guard answer.wait(with: continuation) else { return }
                Thread.detachNewThread { answer.finish(Result { try self.perform(exchange) }) }
            }
        } onCancel: {
            exchange.cancelled.withLock { $0 = true }
            DispatchQueue.global().async { answer.finish(.failure(CancellationError())) }
        }
    }

    /// Why a header cannot be sent as is, or nil. Checked on bytes ("\r\n" is one Character): a name
    /// must be an HTTP token (RFC 9110 §5.6.2); a value must hold no CR, LF or NUL, which would end
    /// the header early or let it smuggle in another.
    static func headerProblem(name: String, value: String) -> String? {
        let tokenSymbols = Set("!#$%&'*+-.^_`|~".utf8)
        let isToken = !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || tokenSymbols.contains(byte)
        }
        if !isToken { return "is not a valid header name" }
        if value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) { return "contains a line break or NUL" }
        return nil
    }

    // MARK: On the request's thread

    private func perform(_ exchange: Exchange) throws -> HTTPResponse {
        let request = exchange.request
        guard Curl.isReady, let handle = idle.withLock({ $0.popLast() })?.pointer ?? curl_easy_init() else {
            throw SyncError.network("libcurl could not start a request")
        }
        defer { giveBack(handle) }
        curl_easy_reset(handle)  // options only: open connections stay
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }
        for (name, value) in request.headers {
            headers = curl_slist_append(headers, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if !request.headers.keys.contains(where: { $0.lowercased() == "expect" }) {
            headers = curl_slist_append(headers, "Expect:")  // no 100-continue round trip before a body
        }
        configure(handle, exchange, headers: headers, errorBuffer: errorBuffer)
        let code = (request.body ?? Data()).withUnsafeBytes { body -> CURLcode in
            switch request.method {
            case "GET": ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1)
            case "HEAD": ccurl_setopt_long(handle, CURLOPT_NOBODY, 1)
            default:
                if request.method != "POST" { ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method) }
                if request.body != nil || request.method == "POST" {
                    ccurl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                    // Never a null pointer: curl would read the body from stdin.
                    ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress ?? UnsafeRawPointer(errorBuffer)))
                }
            }
            return curl_easy_perform(handle)
        }
        if exchange.cancelled.withLock({ $0 }) { throw CancellationError() }
        guard code == CURLE_OK else {
            throw Curl.error(code, detail: errorBuffer, context: "\(request.method) \(request.url.path)")
        }
        var status = 0
        ccurl_response_code(handle, &status)
        return HTTPResponse(status: status, headers: exchange.responseHeaders, body: exchange.responseBody)
    }

    private func configure(_ handle: UnsafeMutableRawPointer, _ exchange: Exchange,
                           headers: UnsafeMutablePointer<curl_slist>?, errorBuffer: UnsafeMutablePointer<CChar>) {
        ccurl_setopt_string(handle, CURLOPT_URL, exchange.request.url.absoluteString)
        ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, headers)
        ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, max(1, Int(timeout * 1000)))
        ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, max(1, Int(connectTimeout * 1000)))
        ccurl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
        ccurl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        ccurl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")  // every encoding this libcurl decodes
        ccurl_setopt_long(handle, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS))
        if exchange.request.method == "GET" || exchange.request.method == "HEAD" {
            ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1)
            ccurl_setopt_long(handle, CURLOPT_MAXREDIRS, 5)
            ccurl_setopt_long(handle, CURLOPT_REDIR_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS))
        }
        // curl's defaults, stated: the certificate chain and the host name are checked.
        ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if let caBundlePath { ccurl_setopt_string(handle, CURLOPT_CAINFO, caBundlePath) }
        if let pinnedPublicKey { ccurl_setopt_string(handle, CURLOPT_PINNEDPUBLICKEY, pinnedPublicKey) }

        let context = Unmanaged.passUnretained(exchange).toOpaque()
        ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        ccurl_setopt_write(handle, CURLOPT_HEADERFUNCTION) { bytes, size, count, context in
            guard let bytes, let context else { return 0 }
            Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
                .receiveHeader(UnsafeRawBufferPointer(start: bytes, count: size * count))
            return size * count
        }
        ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        ccurl_setopt_write(handle, CURLOPT_WRITEFUNCTION) { bytes, size, count, context in
            guard let bytes, let context else { return 0 }
            let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
            exchange.responseBody.append(UnsafeRawBufferPointer(start: bytes, count: size * count).assumingMemoryBound(to: UInt8.self))
            return size * count
        }
        // The progress callback aborts a cancelled transfer.
        ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
        ccurl_setopt_xferinfo(handle) { context, _, _, _, _ in
            guard let context else { return 0 }
            return Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue().cancelled.withLock { $0 } ? 1 : 0
        }
    }

    private func giveBack(_ handle: UnsafeMutableRawPointer) {
        let kept = idle.withLock { idle in
            guard idle.count < maxIdleHandles else { return false }
            idle.append(Handle(pointer: handle))
            return true
        }
        if !kept { curl_easy_cleanup(handle) }
    }
}

/// One request and its answer as they pass through curl's callbacks (all on the request's thread,
/// except `cancelled`).
private final class Exchange: @unchecked Sendable {
    let request: HTTPRequest
    let cancelled = Locked(false)
    var responseHeaders: [String: String] = [:]
    var responseBody = Data()

    init(_ request: HTTPRequest) {
        self.request = request
    }

    /// One header line. A status line starts a new answer (after `100 Continue` or a redirect).
    func receiveHeader(_ line: UnsafeRawBufferPointer) {
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            responseHeaders = [:]
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        responseHeaders[name] = responseHeaders[name].map { "\($0), \(value)" } ?? value
    }
}
#endif
