#if os(Linux)
// POSIX sockets through Glibc, for the libcurl HTTP transport's tests (Linux).
import Foundation
import Glibc
@testable import SyncLayer

/// An HTTP/1.1 server for the HTTP transport tests: 127.0.0.1 on a free port, a thread per
/// connection, keep-alive (any number of requests per connection), request bodies by
/// `Content-Length`.
///
/// Every request lands in ``log`` before the test's `handler` decides the answer, and so do
/// connections opening and closing.
///
/// ```swift
/// try await HTTPTestServer.serving { request in
///     .respond(status: 200, body: Data("hello".utf8))
/// } during: { server in
///     let response = try await transport.send(HTTPRequest(method: "GET", url: server.url("/hello")))
/// }
/// ```
final class HTTPTestServer: Sendable {
    struct Request: Sendable, Hashable {
        var method: String
        /// The request target as sent: path and query.
        var target: String
        /// Lowercased names; a repeated header's values joined by ", ".
        var headers: [String: String]
        var body: Data
        /// The connection it came on: 0, 1, … in accept order.
        var connection: Int
    }

    enum Reply: Sendable {
        /// An answer; `Content-Length` is added unless `headers` has one. `thenClose` closes the
        /// connection after it without saying so (as a server's idle timeout does).
        case respond(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data(), thenClose: Bool = false)
        /// No answer; the connection stays open until the client closes it.
        case hang
        /// Closes the connection without an answer.
        case close
    }

    enum Event: Sendable, Hashable {
        case connected(Int)
        case request(Request)
        /// The client closed connection `index` (or the server did, on ``Reply/close`` or ``stop()``).
        case disconnected(Int)
    }

    let log = AsyncLog<Event>()
    private let listener: LoopbackListener
    private let handler: @Sendable (Request) -> Reply

    var port: Int { listener.port }

    /// Every request so far, in arrival order.
    var requests: [Request] {
        log.entries.compactMap { if case .request(let request) = $0 { request } else { nil } }
    }

    /// How many connections were opened so far.
    var connectionCount: Int {
        log.entries.filter { if case .connected = $0 { true } else { false } }.count
    }

    init(handler: @escaping @Sendable (Request) -> Reply) throws {
        self.handler = handler
        listener = try LoopbackListener()
        listener.start { [self] socket, index in serve(socket, index: index) }
    }

    /// A handler that answers 200 with the request target as the body.
    static let answeringTarget: @Sendable (Request) -> Reply = { request in .respond(status: 200, body: Data(request.target.utf8)) }

    /// Runs `body` against a new server, failing after `seconds`, and stops the server however `body` ends.
    @discardableResult
    static func serving<T: Sendable>(_ handler: @escaping @Sendable (Request) -> Reply, seconds: Double = 20,
                                     during body: @escaping @Sendable (HTTPTestServer) async throws -> T) async throws -> T {
        let server = try HTTPTestServer(handler: handler)
        do {
            let result = try await within(seconds) { try await body(server) }
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    func url(_ target: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(target)")! }

    /// Stops accepting, closes every connection and waits for every server thread to end.
    func stop() async {
        await listener.stop()
    }

    /// Waits until `count` requests arrived; returns all of them.
    @discardableResult
    func waitForRequests(_ count: Int) async throws -> [Request] {
        try await log.wait { $0.count { if case .request = $0 { true } else { false } } >= count }
        return requests
    }

    // MARK: Connection threads

    private func serve(_ socket: Int32, index: Int) {
        log.append(.connected(index))
        defer { log.append(.disconnected(index)) }
        var reader = RequestReader(socket: socket)
        while let head = reader.head() {
            guard let request = head.request(connection: index) else { return }
            if request.headers["transfer-encoding"] != nil {
                _ = write(socket, status: 501, headers: [("Connection", "close")], body: Data("chunked bodies are not supported".utf8))
                return
            }
            guard let length = Int(request.headers["content-length"] ?? "0"), length >= 0,
                  let body = reader.bytes(length) else { return }
            var complete = request
            complete.body = Data(body)
            log.append(.request(complete))
            switch handler(complete) {
            case .respond(let status, let headers, let body, let thenClose):
                guard write(socket, status: status, headers: headers, body: body), !thenClose else { return }
            case .hang:
                while reader.fill() {}
                return
            case .close:
                return
            }
        }
    }

    private func write(_ socket: Int32, status: Int, headers: [(name: String, value: String)], body: Data) -> Bool {
        var head = "HTTP/1.1 \(status) Test\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !headers.contains(where: { $0.name.lowercased() == "content-length" }) { head += "Content-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + body
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 {
                if count < 0 && errno == EINTR { continue }
                return false
            }
            offset += count
        }
        return true
    }
}

/// Reads requests off a connected socket (blocking).
private struct RequestReader {
    /// A request line and its headers.
    struct Head {
        let lines: [String]

        /// The request, without its body; nil when the request line is malformed.
        func request(connection: Int) -> HTTPTestServer.Request? {
            let parts = lines[0].split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return nil }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { return nil }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers[name] = headers[name].map { "\($0), \(value)" } ?? value
            }
            return HTTPTestServer.Request(method: String(parts[0]), target: String(parts[1]), headers: headers,
                                          body: Data(), connection: connection)
        }
    }

    let socket: Int32
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    init(socket: Int32) {
        self.socket = socket
    }

    /// The next request's head; nil when the connection ends first.
    mutating func head() -> Head? {
        var searched = 0
        while true {
            if let end = buffer[max(0, searched - 3)...].firstRange(of: [13, 10, 13, 10]) {
                let text = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<end.upperBound)
                return Head(lines: text.components(separatedBy: "\r\n"))
            }
            searched = buffer.count
            guard fill() else { return nil }
        }
    }

    /// The next `count` bytes; nil when the connection ends first.
    mutating func bytes(_ count: Int) -> [UInt8]? {
        while buffer.count < count {
            guard fill() else { return nil }
        }
        defer { buffer.removeSubrange(..<count) }
        return Array(buffer[..<count])
    }

    /// Reads what has arrived (waiting for something); false at the end of the connection.
    mutating func fill() -> Bool {
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            buffer += chunk[..<count]
            return true
        }
    }
}
#endif
