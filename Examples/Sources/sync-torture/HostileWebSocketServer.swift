import Foundation
@_spi(Testing) import SyncLayer
#if canImport(Glibc)
import Glibc
#endif

/// A WebSocket server on 127.0.0.1 that speaks just enough RFC 6455 (the handshake, frames built
/// by hand) to send a client whatever bytes a test wants: frames no real server library would
/// produce. Blocking POSIX sockets; every call has a deadline.
final class HostileWebSocketServer: Sendable {
    let listener: Int32
    let port: UInt16

    struct SocketError: Error, CustomStringConvertible {
        let description: String
    }

    init() throws {
        #if os(Linux)
        let stream = Int32(SOCK_STREAM.rawValue)
        #else
        let stream = SOCK_STREAM
        #endif
        let fd = socket(AF_INET, stream, 0)
        guard fd >= 0 else { throw SocketError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            close(fd)
            throw SocketError(description: "bind/listen: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    func stop() { close(listener) }

    /// The next client connection, or nil when none arrives within `timeout`.
    func nextConnection(timeout: Duration) -> Connection? {
        guard Self.wait(listener, timeout: timeout) else { return nil }
        let fd = accept(listener, nil, nil)
        return fd >= 0 ? Connection(fd) : nil
    }

    /// Whether `fd` became readable within `timeout`.
    static func wait(_ fd: Int32, timeout: Duration) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(max(0, min(timeout / .milliseconds(1), 600_000)))
        return poll(&descriptor, 1, milliseconds) > 0
    }

    /// One client connection.
    final class Connection: Sendable {
        let fd: Int32

        init(_ fd: Int32) { self.fd = fd }

        #if os(Linux)
        static let noSignal = Int32(MSG_NOSIGNAL)
        #else
        static let noSignal: Int32 = 0  // SIGPIPE is ignored by the harness
        #endif

        func hangUp() { close(fd) }

        /// Reads the HTTP upgrade request and answers 101 with the right `Sec-WebSocket-Accept`.
        func handshake(timeout: Duration) throws {
            let deadline = ContinuousClock.now + timeout
            var request: [UInt8] = []
            while !request.ends(with: [13, 10, 13, 10]) {
                guard let byte = read(1, until: deadline)?.first else { throw SocketError(description: "no upgrade request") }
                request.append(byte)
                if request.count > 16_384 { throw SocketError(description: "upgrade request too long") }
            }
            let text = String(decoding: request, as: UTF8.self)
            guard let keyLine = text.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("sec-websocket-key:") }) else {
                throw SocketError(description: "no Sec-WebSocket-Key")
            }
            let key = keyLine.dropFirst("sec-websocket-key:".count).trimmingCharacters(in: .whitespaces)
            let accept = TestingHooks.webSocketAccept(for: key)
            let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n\r\n"
            guard write(Array(answer.utf8)) else { throw SocketError(description: "could not answer the upgrade") }
        }

        /// Writes all of `bytes`; false when the client has gone.
        @discardableResult
        func write(_ bytes: [UInt8]) -> Bool {
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Self.noSignal) }
                guard written > 0 else { return false }
                offset += written
            }
            return true
        }

        /// Exactly `count` bytes, or nil at the end of the stream or the deadline.
        func read(_ count: Int, until deadline: ContinuousClock.Instant) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            var offset = 0
            while offset < count {
                let left = deadline - .now
                guard left > .zero, HostileWebSocketServer.wait(fd, timeout: left) else { return nil }
                let received = bytes[offset...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard received > 0 else { return nil }
                offset += received
            }
            return bytes
        }

        /// A frame from the client (unmasked), nil at the end of the stream or the deadline.
        func readFrame(until deadline: ContinuousClock.Instant) -> (opcode: UInt8, payload: [UInt8])? {
            guard let header = read(2, until: deadline) else { return nil }
            var length = UInt64(header[1] & 0x7F)
            if length == 126 {
                guard let extended = read(2, until: deadline) else { return nil }
                length = UInt64(extended[0]) << 8 | UInt64(extended[1])
            } else if length == 127 {
                guard let extended = read(8, until: deadline) else { return nil }
                length = extended.reduce(0) { $0 << 8 | UInt64($1) }
            }
            guard length <= 1 << 20 else { return nil }
            let mask = header[1] & 0x80 != 0 ? read(4, until: deadline) : [0, 0, 0, 0]
            guard let mask, var payload = read(Int(length), until: deadline) else { return nil }
            for index in payload.indices { payload[index] ^= mask[index % 4] }
            return (header[0] & 0x0F, payload)
        }

        enum Reaction: Equatable {
            /// The client sent a close frame with this code (nil: no code).
            case closed(UInt16?)
            /// The client dropped the connection without a close frame.
            case dropped
            /// The client said nothing that ends the connection before the deadline.
            case open
            /// The client answered a ping.
            case pong
        }

        /// What the client does next: close, drop, answer a ping, or nothing until `timeout`.
        /// Text messages (subscriptions) are answered as a server would.
        func reaction(within timeout: Duration, answering collection: String) -> Reaction {
            let deadline = ContinuousClock.now + timeout
            while true {
                guard HostileWebSocketServer.wait(fd, timeout: deadline - .now) else { return .open }
                guard let frame = readFrame(until: deadline) else {
                    return ContinuousClock.now < deadline ? .dropped : .open
                }
                switch frame.opcode {
                case 0x8: return .closed(frame.payload.count >= 2 ? UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) : nil)
                case 0xA: return .pong
                case 0x9: write(HostileFrames.frame(opcode: 0xA, frame.payload))
                case 0x1:
                    if String(decoding: frame.payload, as: UTF8.self).contains("\"subscribe\"") {
                        write(HostileFrames.text(#"{"type":"subscribed","collection":"\#(collection)"}"#))
                    }
                default: break
                }
            }
        }
    }
}

/// Server-to-client frames, well formed or not.
enum HostileFrames {
    /// A frame: FIN, RSV bits, opcode, an optional mask, and a length field that may lie.
    static func frame(opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, mask: [UInt8]? = nil,
                      declaredLength: UInt64? = nil) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
        let length = declaredLength ?? UInt64(payload.count)
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        if length < 126 {
            bytes.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            bytes.append(maskBit | 126)
            bytes += [UInt8(length >> 8), UInt8(length & 0xFF)]
        } else {
            bytes.append(maskBit | 127)
            bytes += (0..<8).reversed().map { UInt8((length >> (UInt64($0) * 8)) & 0xFF) }
        }
        if let mask {
            bytes += mask
            bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            bytes += payload
        }
        return bytes
    }

    static func text(_ text: String, fin: Bool = true) -> [UInt8] { frame(opcode: 0x1, Array(text.utf8), fin: fin) }

    static func close(code: UInt16?, reason: [UInt8] = []) -> [UInt8] {
        frame(opcode: 0x8, (code.map { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } ?? []) + reason)
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
