#if os(Linux)
// Over the libcurl transport: Linux only.
import Foundation
import Testing
@testable import SyncLayer

let tlsToolsAvailable = ["openssl", "python3"].allSatisfy { tool in
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
        FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
    }
}

/// wss:// through libcurl against a TLS WebSocket echo server (Python's standard library) with
/// certificates made by `openssl` for the test: the right CA works, a wrong CA or a wrong host
/// name is a `.tls` error. Skipped where `openssl` or `python3` is missing.
@Suite(.enabled(if: tlsToolsAvailable, "needs openssl and python3"))
struct WebSocketTLSTests {
    /// A CA, and server certificates signed by it for the given subject alternative names.
    final class Certificates: Sendable {
        let directory = TemporaryDirectory()
        var caPath: String { directory.path("ca.pem") }

        init() throws {
            try Self.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", directory.path("ca.key"), "-out", directory.path("ca.pem"), "-days", "1",
                         "-subj", "/CN=SyncLayer Test CA")
            try Self.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", directory.path("other-ca.key"), "-out", directory.path("other-ca.pem"), "-days", "1",
                         "-subj", "/CN=Some Other CA")
        }

        /// Issues `name`.pem/`name`.key for `san` (like `IP:127.0.0.1`).
        func issue(_ name: String, san: String) throws {
            try Self.run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", directory.path("\(name).key"), "-out", directory.path("\(name).csr"), "-subj", "/CN=\(name)")
            try "subjectAltName=\(san)\n".write(toFile: directory.path("\(name).ext"), atomically: true, encoding: .utf8)
            try Self.run("openssl", "x509", "-req", "-in", directory.path("\(name).csr"), "-CA", caPath,
                         "-CAkey", directory.path("ca.key"), "-CAcreateserial", "-out", directory.path("\(name).pem"),
                         "-days", "1", "-extfile", directory.path("\(name).ext"))
        }

        static func run(_ arguments: String...) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw SyncError.network("\(arguments[0]) failed") }
        }
    }

    /// A TLS WebSocket echo server in a Python child process; it offers h2 in ALPN and hangs up
    /// on a client that takes it, so the test also proves we ask for http/1.1 only.
    ///
    /// `script` may be another Python server that takes the same arguments (certificate, key),
    /// prints its port and ends the same way.
    ///
    /// It ends when its standard input closes (``stop()``, or this process dying) and after a
    /// minute at most: a test process may block signals its children inherit.
    final class TLSEchoServer: Sendable {
        let port: Int
        private let process: Process
        private let input: Pipe
        private let exited = AsyncLog<Int32>()

        init(certificate: String, key: String, directory: TemporaryDirectory, script source: String = TLSEchoServer.script) throws {
            let script = directory.path("server.py")
            try source.write(toFile: script, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, certificate, key]
            let output = Pipe()
            let input = Pipe()
            process.standardOutput = output
            process.standardInput = input
            process.standardError = FileHandle.nullDevice
            let exited = exited
            process.terminationHandler = { exited.append($0.terminationStatus) }
            try process.run()
            self.process = process
            self.input = input
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { break }
                line += chunk
            }
            guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                try? input.fileHandleForWriting.close()
                throw SyncError.network("the TLS test server did not start")
            }
            self.port = port
        }

        func stop() async throws {
            try? input.fileHandleForWriting.close()
            try await within(10) { [exited] in try await exited.wait { !$0.isEmpty } }
        }

        static let script = #"""
        import base64, hashlib, os, signal, socket, ssl, sys, threading
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
        threading.Timer(60, lambda: os._exit(0)).start()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[1], sys.argv[2])
        context.set_alpn_protocols(["h2", "http/1.1"])
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        print(listener.getsockname()[1], flush=True)

        def exactly(connection, count):
            data = b""
            while len(data) < count:
                chunk = connection.recv(count - len(data))
                if not chunk:
                    raise EOFError()
                data += chunk
            return data

        def frame(opcode, payload):
            if len(payload) < 126:
                return bytes([0x80 | opcode, len(payload)]) + payload
            if len(payload) < 65536:
                return bytes([0x80 | opcode, 126]) + len(payload).to_bytes(2, "big") + payload
            return bytes([0x80 | opcode, 127]) + len(payload).to_bytes(8, "big") + payload

        def serve(raw):
            try:
                connection = context.wrap_socket(raw, server_side=True)
            except Exception:
                raw.close()
                return
            try:
                if connection.selected_alpn_protocol() == "h2":
                    return
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                key = [line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:")][0]
                accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                connection.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   + b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                while True:
                    head = exactly(connection, 2)
                    opcode, length = head[0] & 0x0F, head[1] & 0x7F
                    if length == 126:
                        length = int.from_bytes(exactly(connection, 2), "big")
                    elif length == 127:
                        length = int.from_bytes(exactly(connection, 8), "big")
                    mask = exactly(connection, 4)
                    payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(exactly(connection, length)))
                    if opcode == 8:
                        connection.sendall(frame(8, payload))
                        return
                    if opcode == 9:
                        connection.sendall(frame(10, payload))
                    elif opcode in (1, 2):
                        connection.sendall(frame(opcode, payload))
            except Exception:
                pass
            finally:
                connection.close()

        while True:
            client, _ = listener.accept()
            threading.Thread(target=serve, args=(client,), daemon=True).start()
        """#
    }

    func service(port: Int, caPath: String) throws -> WebSocketService {
        try WebSocketService(url: URL(string: "wss://127.0.0.1:\(port)/ws")!, tokens: TokenStore(token: "t", provider: nil),
                             configuration: .init(maxReconnectAttempts: 0),
                             transport: CurlWebSocketTransport(caBundlePath: caPath), closeTimeout: .seconds(1))
    }

    @Test func echoesOverTLSWithTheRightCAAndRefusesAWrongCAOrHostName() async throws {
        let certificates = try Certificates()
        try certificates.issue("good", san: "IP:127.0.0.1,DNS:localhost")
        try certificates.issue("wrong-host", san: "DNS:example.invalid")
        let good = try TLSEchoServer(certificate: certificates.directory.path("good.pem"),
                                     key: certificates.directory.path("good.key"), directory: certificates.directory)
        let wrongHost = try TLSEchoServer(certificate: certificates.directory.path("wrong-host.pem"),
                                          key: certificates.directory.path("wrong-host.key"), directory: certificates.directory)
        do {
            try await exercise(good: good, wrongHost: wrongHost, certificates: certificates)
        } catch {
            try? await good.stop()
            try? await wrongHost.stop()
            throw error
        }
        try await good.stop()
        try await wrongHost.stop()
    }

    func exercise(good: TLSEchoServer, wrongHost: TLSEchoServer, certificates: Certificates) async throws {
        try await within(20) {
            let socket = try service(port: good.port, caPath: certificates.caPath)
            let messages = StreamRecorder(socket.messages)
            try await socket.connect()
            try await socket.send("over TLS")
            try await socket.send(String(repeating: "ü", count: 40_000))  // several TLS records
            try await messages.log.wait { $0.count == 2 }
            #expect(messages.log.entries == ["over TLS", String(repeating: "ü", count: 40_000)])
            await socket.disconnect()

            let untrusted = try service(port: good.port, caPath: certificates.directory.path("other-ca.pem"))
            await #expect { try await untrusted.connect() } throws: { ($0 as? SyncError)?.kind == .tls }

            let mismatched = try service(port: wrongHost.port, caPath: certificates.caPath)
            await #expect { try await mismatched.connect() } throws: { ($0 as? SyncError)?.kind == .tls }
        }
    }
}
#endif
