#if canImport(CCurl)
// CurlHTTPTransport exists where CCurl does (Linux).
import Foundation
import Testing
@testable import SyncLayer

/// ``CurlHTTPTransport`` against a real HTTP/1.1 server on 127.0.0.1 (``HTTPTestServer``).
@Suite struct CurlHTTPTransportTests {
    @Test func postsTheBodyAndHeadersAsGivenWithoutExpectAndReturnsTheAnswerAsSent() async throws {
        // Over 1 MB, where libcurl would otherwise send `Expect: 100-continue` and wait for a 100.
        let changes = (0..<14_000).map { #"{"id":"todo-\#($0)","op":"upsert","data":{"text":"Buy milk ü \#($0)","done":false}}"# }
        let body = Data(#"{"changes":[\#(changes.joined(separator: ","))]}"#.utf8)
        #expect(body.count > 1 << 20)
        try await HTTPTestServer.serving { _ in
            .respond(status: 201, headers: [("Content-Type", "application/json"), ("X-Request-ID", "r-42"),
                                            ("X-Multi", "a"), ("X-Multi", "b")],
                     body: Data(#"{"ok":true}"#.utf8))
        } during: { server in
            let response = try await CurlHTTPTransport().send(HTTPRequest(
                method: "POST", url: server.url("/v1/sync/push?client=c1&note=a%20b"),
                headers: ["Authorization": "Bearer t0k", "Content-Type": "application/json", "X-Empty": ""], body: body))

            #expect(response.status == 201)
            #expect(response.body == Data(#"{"ok":true}"#.utf8))
            #expect(response.headers == ["content-type": "application/json", "x-request-id": "r-42", "x-multi": "a, b",
                                         "content-length": "11"])
            #expect(server.requests.count == 1)
            let request = try #require(server.requests.first)
            #expect(request.method == "POST")
            #expect(request.target == "/v1/sync/push?client=c1&note=a%20b")
            #expect(request.body == body)
            #expect(request.headers["authorization"] == "Bearer t0k")
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.headers["x-empty"] == "")
            #expect(request.headers["content-length"] == "\(body.count)")
            #expect(request.headers["host"] == "127.0.0.1:\(server.port)")
            #expect(request.headers["expect"] == nil)
            #expect(request.headers["transfer-encoding"] == nil)
        }
    }

    struct MethodCase: Sendable, CustomTestStringConvertible {
        let method: String
        let body: Data?
        var testDescription: String { "\(method) \(body == nil ? "without" : "with") a body" }
    }

    static let methodCases = [
        MethodCase(method: "GET", body: nil),
        MethodCase(method: "POST", body: nil),
        MethodCase(method: "PATCH", body: Data(#"{"done":true}"#.utf8)),
        MethodCase(method: "PUT", body: Data(#"{"text":"Call mum"}"#.utf8)),
        MethodCase(method: "DELETE", body: nil),
        MethodCase(method: "DELETE", body: Data(#"{"ids":["a","b"]}"#.utf8)),
    ]

    @Test(arguments: methodCases)
    func sendsTheMethodAndBodyAsGiven(_ method: MethodCase) async throws {
        try await HTTPTestServer.serving { request in
            .respond(status: 200, body: Data("\(request.method) \(request.target) \(request.body.count)".utf8))
        } during: { server in
            let response = try await CurlHTTPTransport().send(HTTPRequest(method: method.method, url: server.url("/v1/todos/a1"),
                                                                          body: method.body))
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == "\(method.method) /v1/todos/a1 \(method.body?.count ?? 0)")
            let request = try #require(server.requests.first)
            #expect(request.method == method.method)
            #expect(request.body == method.body ?? Data())
            // A POST always states its (empty) length; other methods only when they have a body.
            let length = method.body.map { "\($0.count)" } ?? (method.method == "POST" ? "0" : nil)
            #expect(request.headers["content-length"] == length)
        }
    }

    @Test func headReturnsTheHeadersWithoutABodyAndKeepsTheConnection() async throws {
        try await HTTPTestServer.serving { request in
            request.method == "HEAD"
                ? .respond(status: 200, headers: [("Content-Length", "5"), ("ETag", "\"v7\"")])
                : .respond(status: 200, body: Data("after".utf8))
        } during: { server in
            let transport = CurlHTTPTransport()
            let head = try await transport.send(HTTPRequest(method: "HEAD", url: server.url("/v1/todos")))
            #expect(head.status == 200)
            #expect(head.headers["etag"] == "\"v7\"")
            #expect(head.body.isEmpty)
            let after = try await transport.send(HTTPRequest(method: "GET", url: server.url("/after")))
            #expect(after.body == Data("after".utf8))
            #expect(server.requests.map(\.method) == ["HEAD", "GET"])
            #expect(server.requests.map(\.connection) == [0, 0])
        }
    }

    @Test func sequentialRequestsShareOneKeepAliveConnection() async throws {
        try await HTTPTestServer.serving(HTTPTestServer.answeringTarget) { server in
            let transport = CurlHTTPTransport()
            for (index, method) in ["GET", "POST", "PATCH", "DELETE", "GET"].enumerated() {
                let body = method == "GET" || method == "DELETE" ? nil : Data("body \(index)".utf8)
                let response = try await transport.send(HTTPRequest(method: method, url: server.url("/r/\(index)"), body: body))
                #expect(response.body == Data("/r/\(index)".utf8))
            }
            #expect(server.requests.map(\.target) == (0..<5).map { "/r/\($0)" })
            #expect(server.requests.map(\.connection) == [0, 0, 0, 0, 0])
            #expect(server.connectionCount == 1)
        }
    }

    @Test func opensANewConnectionWhenTheServerClosedTheIdleOne() async throws {
        try await HTTPTestServer.serving { request in
            .respond(status: 200, body: request.body.isEmpty ? Data("first".utf8) : request.body, thenClose: request.connection == 0)
        } during: { server in
            let transport = CurlHTTPTransport()
            let first = try await transport.send(HTTPRequest(method: "GET", url: server.url("/first")))
            #expect(first.body == Data("first".utf8))
            try await server.log.wait { $0.contains(.disconnected(0)) }
            let second = try await transport.send(HTTPRequest(method: "POST", url: server.url("/second"), body: Data("second".utf8)))
            #expect(second.body == Data("second".utf8))
            #expect(server.requests.map(\.target) == ["/first", "/second"])
            #expect(server.requests.map(\.connection) == [0, 1])
        }
    }

    @Test(arguments: [400, 401, 404, 409, 429, 500, 503])
    func anErrorStatusIsAnAnswer(_ status: Int) async throws {
        let errorBody = Data(#"{"error":"busy","code":"RATE_LIMIT_EXCEEDED"}"#.utf8)
        try await HTTPTestServer.serving { _ in
            .respond(status: status, headers: [("Retry-After", "7"), ("Content-Type", "application/json")], body: errorBody)
        } during: { server in
            let response = try await CurlHTTPTransport().send(HTTPRequest(method: "POST", url: server.url("/v1/sync/push"),
                                                                          body: Data("{}".utf8)))
            #expect(response.status == status)
            #expect(response.headers["retry-after"] == "7")
            #expect(response.body == errorBody)
        }
    }

    @Test func aServerThatDoesNotAnswerTimesOutWithANetworkError() async throws {
        try await HTTPTestServer.serving { _ in .hang } during: { server in
            let transport = CurlHTTPTransport(timeout: 0.5)
            let start = ContinuousClock.now
            let error = await #expect(throws: SyncError.self) {
                try await transport.send(HTTPRequest(method: "GET", url: server.url("/slow")))
            }
            let elapsed = ContinuousClock.now - start
            #expect(error?.kind == .network)
            #expect(error?.code == "CURLE_28")  // CURLE_OPERATION_TIMEDOUT
            #expect(error?.isRetryable == true)
            #expect(elapsed >= .milliseconds(400), "it gave up before the timeout: \(elapsed)")
            #expect(elapsed < .seconds(10))
            #expect(server.requests.map(\.target) == ["/slow"])
        }
    }

    @Test func aRefusedConnectionIsANetworkError() async throws {
        let refusing = try RefusingPort()
        try await within(20) {
            let error = await #expect(throws: SyncError.self) {
                try await CurlHTTPTransport().send(HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(refusing.port)/")!))
            }
            #expect(error?.kind == .network)
            #expect(error?.code == "CURLE_7")  // CURLE_COULDNT_CONNECT
            #expect(error?.isRetryable == true)
        }
    }

    @Test func aConnectionClosedWithoutAnAnswerIsANetworkError() async throws {
        try await HTTPTestServer.serving { _ in .close } during: { server in
            let error = await #expect(throws: SyncError.self) {
                try await CurlHTTPTransport().send(HTTPRequest(method: "POST", url: server.url("/v1/sync/push"), body: Data("{}".utf8)))
            }
            #expect(error?.kind == .network)
            #expect(error?.code == "CURLE_52")  // CURLE_GOT_NOTHING
            #expect(server.requests.count == 1)
        }
    }

    @Test func cancellingReturnsAtOnceAndAbortsTheTransfer() async throws {
        try await HTTPTestServer.serving { request in
            request.target == "/hang" ? .hang : .respond(status: 200, body: Data("after".utf8))
        } during: { server in
            // The default 30 s timeout: only the cancellation can end the first request sooner.
            let transport = CurlHTTPTransport()
            let task = Task { try await transport.send(HTTPRequest(method: "GET", url: server.url("/hang"))) }
            try await server.waitForRequests(1)
            let start = ContinuousClock.now
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(ContinuousClock.now - start < .seconds(5))
            // The server sees the connection end: the transfer was aborted, not left to time out.
            try await within(5) { try await server.log.wait { $0.contains(.disconnected(0)) } }

            let after = try await transport.send(HTTPRequest(method: "GET", url: server.url("/after")))
            #expect(after.body == Data("after".utf8))
            #expect(server.requests.map(\.connection) == [0, 1])
        }
    }

    @Test func aTaskCancelledBeforeSendingSendsNothing() async throws {
        try await HTTPTestServer.serving(HTTPTestServer.answeringTarget) { server in
            let transport = CurlHTTPTransport()
            for index in 0..<20 {
                let task = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    return try await transport.send(HTTPRequest(method: "POST", url: server.url("/cancelled/\(index)"),
                                                                body: Data("{}".utf8)))
                }
                await #expect(throws: CancellationError.self) { try await task.value }
            }
            // Answered after everything sent before it: a cancelled request that went out shows up first.
            let after = try await transport.send(HTTPRequest(method: "GET", url: server.url("/after")))
            #expect(after.body == Data("/after".utf8))
            #expect(server.requests.map(\.target) == ["/after"])
        }
    }

    @Test func getFollowsARedirectToTheFinalAnswer() async throws {
        try await HTTPTestServer.serving { request in
            request.target == "/old?x=1"
                ? .respond(status: 302, headers: [("Location", "/new?y=2"), ("X-Hop", "first")], body: Data("moved".utf8))
                : .respond(status: 200, headers: [("X-Final", "yes")], body: Data("final".utf8))
        } during: { server in
            let response = try await CurlHTTPTransport().send(HTTPRequest(method: "GET", url: server.url("/old?x=1"),
                                                                          headers: ["Authorization": "Bearer t0k"]))
            #expect(response.status == 200)
            #expect(response.body == Data("final".utf8))
            #expect(response.headers["x-final"] == "yes")
            #expect(response.headers["x-hop"] == nil, "headers of the redirect leaked into the answer")
            #expect(server.requests.map(\.method) == ["GET", "GET"])
            #expect(server.requests.map(\.target) == ["/old?x=1", "/new?y=2"])
        }
    }

    @Test func getGivesUpAfterFiveRedirects() async throws {
        try await HTTPTestServer.serving { request in
            .respond(status: 302, headers: [("Location", "/loop/\(Int(request.target.split(separator: "/").last!)! + 1)")])
        } during: { server in
            let error = await #expect(throws: SyncError.self) {
                try await CurlHTTPTransport().send(HTTPRequest(method: "GET", url: server.url("/loop/0")))
            }
            #expect(error?.kind == .network)
            #expect(error?.code == "CURLE_47")  // CURLE_TOO_MANY_REDIRECTS
            #expect(server.requests.map(\.target) == (0...5).map { "/loop/\($0)" })
        }
    }

    @Test(arguments: ["POST", "PATCH", "PUT", "DELETE"])
    func aRedirectOfAnotherMethodIsTheAnswer(_ method: String) async throws {
        try await HTTPTestServer.serving { request in
            request.target == "/submit"
                ? .respond(status: 307, headers: [("Location", "/elsewhere")], body: Data("go elsewhere".utf8))
                : .respond(status: 200, body: Data("followed".utf8))
        } during: { server in
            let response = try await CurlHTTPTransport().send(HTTPRequest(method: method, url: server.url("/submit"),
                                                                          body: Data(#"{"a":1}"#.utf8)))
            #expect(response.status == 307)
            #expect(response.headers["location"] == "/elsewhere")
            #expect(response.body == Data("go elsewhere".utf8))
            #expect(server.requests.map(\.target) == ["/submit"])
        }
    }

    struct HeaderCase: Sendable, CustomTestStringConvertible {
        let name: String
        let value: String
        var testDescription: String { "\(name.debugDescription): \(value.debugDescription)" }
    }

    @Test(arguments: [
        HeaderCase(name: "Authorization", value: "Bearer t\r\nX-Injected: yes"),
        HeaderCase(name: "X-Note", value: "line\nbreak"),
        HeaderCase(name: "X-Note", value: "carriage\rreturn"),
        HeaderCase(name: "X-Injected: yes\r\nX-Note", value: "v"),
        HeaderCase(name: "X-Note", value: "cut\u{0}short"),
        HeaderCase(name: "X-Note: smuggled", value: "v"),
        HeaderCase(name: "X Note", value: "v"),
        HeaderCase(name: "", value: "v"),
    ])
    func aHeaderThatCannotBeSentAsIsIsRefusedBeforeAnythingIsSent(_ header: HeaderCase) async throws {
        try await HTTPTestServer.serving(HTTPTestServer.answeringTarget) { server in
            let transport = CurlHTTPTransport()
            let error = await #expect(throws: SyncError.self) {
                try await transport.send(HTTPRequest(method: "POST", url: server.url("/refused"),
                                                     headers: [header.name: header.value], body: Data("{}".utf8)))
            }
            #expect(error?.kind == .invalidRequest)
            #expect(error?.isRetryable == false)
            let after = try await transport.send(HTTPRequest(method: "GET", url: server.url("/after")))
            #expect(after.body == Data("/after".utf8))
            #expect(server.requests.map(\.target) == ["/after"])
            #expect(server.connectionCount == 1)
        }
    }

    /// `count` bytes of a pattern that does not repeat on any power-of-two boundary.
    static func pattern(_ count: Int) -> Data {
        let block = Data((0..<1021).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        var data = Data(capacity: count + block.count)
        while data.count < count { data.append(block) }
        return data.prefix(count)
    }

    @Test func largeBodiesArriveIntactBothWays() async throws {
        let download = Self.pattern(5_000_000)
        let upload = Self.pattern(3_000_001).reversed() as [UInt8]
        try await HTTPTestServer.serving { request in
            request.method == "GET"
                ? .respond(status: 200, headers: [("Content-Type", "application/octet-stream")], body: download)
                : .respond(status: 200, body: Data(request.body.reversed()))  // not just an echo of the bytes
        } during: { server in
            let transport = CurlHTTPTransport()
            let got = try await transport.send(HTTPRequest(method: "GET", url: server.url("/download")))
            #expect(got.body.count == download.count)
            #expect(got.body == download)
            let sent = try await transport.send(HTTPRequest(method: "PUT", url: server.url("/upload"), body: Data(upload)))
            #expect(server.requests.last?.body.count == upload.count)
            #expect(server.requests.last?.body == Data(upload))
            #expect(server.requests.last?.headers["expect"] == nil)
            #expect(sent.body == Data(upload.reversed()))
        }
    }

    @Test func concurrentRequestsEachGetTheirOwnAnswer() async throws {
        try await HTTPTestServer.serving { request in
            usleep(UInt32.random(in: 0...20_000))  // answers finish out of order
            return .respond(status: 200, headers: [("X-Target", request.target)],
                            body: Data("answer to ".utf8) + request.body)
        } during: { server in
            let transport = CurlHTTPTransport()
            let responses = try await withThrowingTaskGroup(of: (Int, HTTPResponse).self) { group in
                for index in 0..<20 {
                    group.addTask {
                        (index, try await transport.send(HTTPRequest(method: "POST", url: server.url("/item/\(index)"),
                                                                     body: Data("body \(index)".utf8))))
                    }
                }
                return try await group.reduce(into: [Int: HTTPResponse]()) { $0[$1.0] = $1.1 }
            }
            #expect(responses.count == 20)
            for (index, response) in responses {
                #expect(response.status == 200)
                #expect(response.headers["x-target"] == "/item/\(index)")
                #expect(response.body == Data("answer to body \(index)".utf8))
            }
            #expect(server.requests.count == 20)
            #expect(Set(server.requests.map(\.target)) == Set((0..<20).map { "/item/\($0)" }))
        }
    }
}

/// ``CurlHTTPTransport`` over TLS against Python's `http.server` with certificates made by `openssl`
/// for the test (``WebSocketTLSTests/Certificates``). Skipped where `openssl` or `python3` is missing.
@Suite(.enabled(if: tlsToolsAvailable, "needs openssl and python3"))
struct CurlHTTPTransportTLSTests {
    typealias Certificates = WebSocketTLSTests.Certificates
    typealias TLSServer = WebSocketTLSTests.TLSEchoServer

    /// Answers every GET with its method and target.
    static let script = #"""
    import http.server, os, signal, ssl, sys, threading
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    threading.Timer(60, lambda: os._exit(0)).start()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = ("GET " + self.path).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *arguments):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """#

    /// Runs `body` against a TLS server for 127.0.0.1 signed by `certificates`' CA, and stops it however `body` ends.
    func serving(_ certificates: Certificates, _ body: @escaping @Sendable (TLSServer) async throws -> Void) async throws {
        try certificates.issue("server", san: "IP:127.0.0.1,DNS:localhost")
        let server = try TLSServer(certificate: certificates.directory.path("server.pem"),
                                   key: certificates.directory.path("server.key"), directory: certificates.directory,
                                   script: Self.script)
        do {
            try await within(20) { try await body(server) }
        } catch {
            try? await server.stop()
            throw error
        }
        try await server.stop()
    }

    @Test func refusesAServerSignedByAnotherCAAndReachesItWithTheRightOne() async throws {
        let certificates = try Certificates()
        try await serving(certificates) { server in
            let url = URL(string: "https://127.0.0.1:\(server.port)/v1/sync/pull?since=0")!
            let untrusted = CurlHTTPTransport(caBundlePath: certificates.directory.path("other-ca.pem"))
            let error = await #expect(throws: SyncError.self) { try await untrusted.send(HTTPRequest(method: "GET", url: url)) }
            #expect(error?.kind == .tls)

            let trusted = CurlHTTPTransport(caBundlePath: certificates.caPath)
            let response = try await trusted.send(HTTPRequest(method: "GET", url: url))
            #expect(response.status == 200)
            #expect(response.body == Data("GET /v1/sync/pull?since=0".utf8))
        }
    }

    @Test func refusesAServerWhosePublicKeyIsNotThePinnedOne() async throws {
        let certificates = try Certificates()
        try await serving(certificates) { server in
            let directory = certificates.directory
            try Certificates.run("openssl", "pkey", "-in", directory.path("server.key"), "-pubout", "-out", directory.path("server.pub"))
            try Certificates.run("openssl", "pkey", "-in", directory.path("other-ca.key"), "-pubout", "-out", directory.path("other.pub"))
            let url = URL(string: "https://127.0.0.1:\(server.port)/pinned")!

            let mismatched = CurlHTTPTransport(caBundlePath: certificates.caPath, pinnedPublicKey: directory.path("other.pub"))
            let error = await #expect(throws: SyncError.self) { try await mismatched.send(HTTPRequest(method: "GET", url: url)) }
            #expect(error?.kind == .tls)

            let pinned = CurlHTTPTransport(caBundlePath: certificates.caPath, pinnedPublicKey: directory.path("server.pub"))
            let response = try await pinned.send(HTTPRequest(method: "GET", url: url))
            #expect(response.body == Data("GET /pinned".utf8))
        }
    }
}
#endif
