#if os(Linux)
// POSIX sockets through Glibc, for the test servers (which run where the libcurl transports do).
import Foundation
import Glibc
@testable import SyncLayer

/// A TCP listener on 127.0.0.1 (a free port) for the test servers: it accepts on a thread of its
/// own and serves every connection on a thread of its own, so blocking socket calls never touch the
/// cooperative pool.
///
/// ```swift
/// let listener = try LoopbackListener()
/// listener.start { socket, index in /* recv and send until done */ }
/// // … connect to listener.port …
/// await listener.stop()
/// ```
final class LoopbackListener: Sendable {
    let port: Int
    private let socket: Int32
    /// The sockets whose `serve` has not returned, by index; `stopped` once ``stop()`` began.
    /// A socket is closed under this lock, so ``stop()`` never shuts down a reused descriptor.
    private let connections = Locked((open: [Int: Int32](), stopped: false))
    private let threads = DispatchGroup()

    /// Listens; connections wait in the backlog until ``start(serving:)``.
    init() throws {
        (socket, port) = try Self.bindLoopback()
        guard listen(socket, 64) == 0 else {
            let code = POSIXErrorCode(rawValue: errno) ?? .EADDRINUSE
            Glibc.close(socket)
            throw POSIXError(code)
        }
    }

    /// Starts accepting (call it once): `serve` gets each connected socket and the connection's
    /// index (0, 1, …, in accept order), on a new thread. The listener owns the socket and closes
    /// it when `serve` returns, so `serve` must not.
    func start(serving serve: @escaping @Sendable (_ socket: Int32, _ index: Int) -> Void) {
        threads.enter()
        Thread { [self] in
            acceptLoop(serve)
            threads.leave()
        }.start()
    }

    /// Stops accepting, shuts down every open connection and waits for every thread to end.
    /// Calling it again does nothing.
    func stop() async {
        let alreadyStopped = connections.withLock { connections in
            defer { connections.stopped = true }
            if !connections.stopped {
                for socket in connections.open.values { shutdown(socket, Int32(SHUT_RDWR)) }
            }
            return connections.stopped
        }
        guard !alreadyStopped else { return }
        shutdown(socket, Int32(SHUT_RDWR))  // ends the blocked accept()
        await withCheckedContinuation { continuation in threads.notify(queue: .global()) { continuation.resume() } }
        Glibc.close(socket)
    }

    /// A socket bound to 127.0.0.1 on a port the system picked, and that port.
    static func bindLoopback() throws -> (socket: Int32, port: Int) {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            let code = POSIXErrorCode(rawValue: errno) ?? .EADDRINUSE
            Glibc.close(socket)
            throw POSIXError(code)
        }
        return (socket, Int(UInt16(bigEndian: address.sin_port)))
    }

    // MARK: Threads

    private func acceptLoop(_ serve: @escaping @Sendable (_ socket: Int32, _ index: Int) -> Void) {
        var index = 0
        while true {
            let connection = accept(socket, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let accepted = connections.withLock { connections in
                guard !connections.stopped else { return false }
                connections.open[index] = connection
                return true
            }
            guard accepted else {
                Glibc.close(connection)
                return
            }
            var yes: Int32 = 1
            setsockopt(connection, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            threads.enter()
            Thread { [self, index] in
                serve(connection, index)
                connections.withLock { connections in
                    connections.open.removeValue(forKey: index)
                    Glibc.close(connection)
                }
                threads.leave()
            }.start()
            index += 1
        }
    }
}

/// A port on 127.0.0.1 that is bound but not listening: connecting to it is refused, and nobody
/// else can take it while this lives.
final class RefusingPort: Sendable {
    let port: Int
    private let socket: Int32

    init() throws {
        (socket, port) = try LoopbackListener.bindLoopback()
    }

    deinit { Glibc.close(socket) }
}
#endif
