import Foundation
import SyncLayer
import Synchronization

/// The default transport, recording every request line and its answer time and status.
final class RecordingTransport: HTTPTransport {
    struct Exchange: Sendable {
        let method: String
        let url: String
        let headers: [String: String]
        let sentAt: ContinuousClock.Instant
        let answeredAt: ContinuousClock.Instant
        let status: Int?
    }

    private let base = SyncConfig.defaultTransport()
    private let log = Mutex<[Exchange]>([])

    var exchanges: [Exchange] { log.withLock { $0 } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let sentAt = ContinuousClock.now
        do {
            let response = try await base.send(request)
            append(request, sentAt, response.status)
            return response
        } catch {
            append(request, sentAt, nil)
            throw error
        }
    }

    private func append(_ request: HTTPRequest, _ sentAt: ContinuousClock.Instant, _ status: Int?) {
        let exchange = Exchange(method: request.method, url: request.url.absoluteString, headers: request.headers,
                                sentAt: sentAt, answeredAt: .now, status: status)
        log.withLock { $0.append(exchange) }
    }
}

/// A server that answers from a script: capabilities as a v2 server, then `pull` and `push` bodies
/// given by the test (malformed ones included).
final class ScriptedTransport: HTTPTransport {
    let pull: @Sendable (HTTPRequest) -> HTTPResponse
    let push: @Sendable (HTTPRequest) -> HTTPResponse

    init(pull: @escaping @Sendable (HTTPRequest) -> HTTPResponse,
         push: @escaping @Sendable (HTTPRequest) -> HTTPResponse = { _ in HTTPResponse(status: 503) }) {
        self.pull = pull
        self.push = push
    }

    static let capabilities = Data("""
        {"protocol":"synclayer","versions":[1,2],"limits":{"maxBodyBytes":4194304,"maxOpsPerBatch":500,"maxPullLimit":1000},
         "endpoints":{"push":"/v2/push","pull":"/v2/pull","websocket":"/ws"}}
        """.utf8)

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let path = request.url.path
        if path.hasSuffix("/.well-known/synclayer") {
            return HTTPResponse(status: 200, headers: ["Content-Type": "application/json"], body: Self.capabilities)
        }
        if path.hasSuffix("/v2/pull") { return pull(request) }
        if path.hasSuffix("/v2/push") { return push(request) }
        return HTTPResponse(status: 404)
    }
}
