#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import SyncServer

/// A blocking, minimal WebSocket handshake over a plain socket, for checks that happen right at the
/// upgrade: HummingbirdWSClient can miss frames that arrive in the same read as the 101 response.
enum RawWebSocket {
    struct Result {
        var status: Int
        var texts: [String]
        var closeCode: Int?
    }

    /// Upgrades with `headers`, then reads frames until a close frame or the 5 s receive timeout.
    ///
    /// The blocking socket runs on a Dispatch queue, off the cooperative pool the server also runs on.
    static func handshake(port: Int, path: String = "/ws", headers: [String] = []) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Swift.Result { try blockingHandshake(port: port, path: path, headers: headers) })
            }
        }
    }

    private static func blockingHandshake(port: Int, path: String, headers: [String]) throws -> Result {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw UnexpectedAnswer(status: 0, body: "socket failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw UnexpectedAnswer(status: 0, body: "connect failed") }
        let request = (["GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Upgrade: websocket", "Connection: Upgrade",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"] + headers + ["", ""])
            .joined(separator: "\r\n")
        _ = request.withCString { send(fd, $0, strlen($0), 0) }

        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var result = Result(status: 0, texts: [], closeCode: nil)
        while result.closeCode == nil {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            bytes += buffer[0..<count]
            result = parse(bytes)
        }
        return result
    }

    private static func parse(_ bytes: [UInt8]) -> Result {
        var result = Result(status: 0, texts: [], closeCode: nil)
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else { return result }
        let head = String(decoding: bytes[0..<headEnd], as: UTF8.self)
        result.status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var index = headEnd + 4
        while index + 2 <= bytes.count {
            let opcode = bytes[index] & 0x0F
            var length = Int(bytes[index + 1] & 0x7F)
            var start = index + 2
            if length == 126 {
                guard start + 2 <= bytes.count else { break }
                length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
                start += 2
            }
            guard start + length <= bytes.count else { break }
            let payload = Array(bytes[start..<start + length])
            if opcode == 1 { result.texts.append(String(decoding: payload, as: UTF8.self)) }
            if opcode == 8 { result.closeCode = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005 }
            index = start + length
        }
        return result
    }
}
