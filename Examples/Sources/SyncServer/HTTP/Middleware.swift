import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Logs one line per request at info: method, path without query, status, duration. Never bodies or
/// headers, so never tokens.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = SyncRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info(
            "\(request.method) \(request.uri.path) \(response.status.code)",
            metadata: ["duration_ms": .stringConvertible((milliseconds * 10).rounded() / 10)])
        return response
    }
}

/// Turns every error into the stable error body (PROTOCOL.md §1); nothing escapes as a bare 500.
struct ErrorBodyMiddleware: RouterMiddleware {
    typealias Context = SyncRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as any HTTPResponseError {
            return APIError.from(status: error.status).response
        } catch is WriteHooks.DroppedConnection {
            // Closing the channel from a handler is deferred by the HTTP/1 pipeline until a
            // response is written, so a keep-alive client would wait for its timeout. Start an
            // answer and fail it mid-body instead: the connection is torn down at once and the
            // client sees a truncated answer, as when a connection drops after the commit.
            context.logger.debug("test hook: connection dropped after commit")
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.contentLength] = "4096"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "{\"results\":["))
                throw WriteHooks.DroppedConnection()
            })
        } catch {
            context.logger.error("request failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
            return APIError(.internalServerError, code: "SERVER_ERROR", message: "internal server error").response
        }
    }
}

/// Test hook: delays every answer after it was computed.
struct ResponseDelayMiddleware: RouterMiddleware {
    typealias Context = SyncRequestContext
    let faults: FaultInjector

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        if let delay = faults.responseDelay { try await Task.sleep(for: delay) }
        return response
    }
}

/// Checks `Authorization: Bearer` against the configured tokens, except on public routes.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = SyncRequestContext
    let authenticator: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/health" || path == "/.well-known/synclayer" {
            return try await next(request, context)
        }
        guard let token = authenticator.authenticate(authorization: request.headers[.authorization]) else {
            throw APIError.authFailed
        }
        var context = context
        context.token = token
        return try await next(request, context)
    }
}

/// Bearer-token checking shared by HTTP and the WebSocket upgrade.
struct Authenticator: Sendable {
    let tokens: [[UInt8]]

    init(tokens: Set<String>) {
        self.tokens = tokens.map { Array($0.utf8) }
    }

    /// The accepted token ("" when no token is configured), or nil.
    func authenticate(authorization: String?) -> String? {
        guard !tokens.isEmpty else { return "" }
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return authenticate(token: String(parts[1]).trimmingSpaces)
    }

    func authenticate(token: String?) -> String? {
        guard !tokens.isEmpty else { return "" }
        guard let token else { return nil }
        let candidate = Array(token.utf8)
        var accepted = false
        for known in tokens where Self.constantTimeEquals(known, candidate) { accepted = true }
        return accepted ? token : nil
    }

    private static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }
}

/// Optional rate limit; answers 429 with `Retry-After`.
///
/// A request that carries an accepted token counts against that token's bucket; any other request (public
/// routes, or every request when no token is configured) against its client address's bucket, so one caller
/// cannot use up the budget of the others.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = SyncRequestContext
    let limiter: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let retryAfter = limiter.take(key: Self.key(token: context.token, address: context.channel.remoteAddress?.ipAddress)) {
            throw APIError(.tooManyRequests, code: "RATE_LIMIT_EXCEEDED", message: "too many requests", retryAfter: retryAfter)
        }
        return try await next(request, context)
    }

    /// The bucket of a request: its token when it has one, else its client address.
    static func key(token: String?, address: String?) -> String {
        if let token, !token.isEmpty { return "token " + token }
        return "address " + (address ?? "unknown")
    }
}

/// A token bucket per key: `perSecond` tokens a second, holding at most `perSecond` (at least 1).
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var refilled: ContinuousClock.Instant
    }

    /// The longest `Retry-After`: a rate so small that the next token is further away still answers this.
    static let maximumWait = 3600
    /// Buckets are many when keyed by address; past this many, the full ones (same as absent) are dropped.
    private static let pruneThreshold = 10_000

    private let perSecond: Double
    private let capacity: Double
    private let state = Mutex<(buckets: [String: Bucket], pruneAt: Int)>(([:], pruneThreshold))

    /// - Parameter perSecond: a finite rate above 0; anything else is a programming error (the server's
    ///   command line refuses it with a message).
    init(perSecond: Double) {
        precondition(perSecond.isFinite && perSecond > 0, "the rate limit must be a finite number of requests a second above 0")
        self.perSecond = perSecond
        capacity = max(1, perSecond)
    }

    /// Nil when the request may go on, else the seconds to wait (1 to `maximumWait`).
    func take(key: String, now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            if state.buckets.count >= state.pruneAt {
                state.buckets = state.buckets.filter { refilled($0.value, at: now).tokens < capacity }
                state.pruneAt = max(Self.pruneThreshold, state.buckets.count * 2)
            }
            var bucket = state.buckets[key].map { refilled($0, at: now) } ?? Bucket(tokens: capacity, refilled: now)
            defer { state.buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            // Clamped before converting: a tiny rate makes the wait overflow an Int, or be infinite.
            let wait = ((1 - bucket.tokens) / perSecond).rounded(.up)
            return wait < Double(Self.maximumWait) ? max(1, Int(wait)) : Self.maximumWait
        }
    }

    /// The number of buckets held, for tests.
    var bucketCount: Int { state.withLock { $0.buckets.count } }

    private func refilled(_ bucket: Bucket, at now: ContinuousClock.Instant) -> Bucket {
        let elapsed = now - bucket.refilled
        let seconds = max(0, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        return Bucket(tokens: min(capacity, bucket.tokens + seconds * perSecond), refilled: now)
    }
}
