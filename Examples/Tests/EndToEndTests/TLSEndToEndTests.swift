#if os(Linux)
// SyncConfig.caBundlePath is libcurl's, so Linux only.
import Foundation
import SyncLayer
import SyncServer
import Testing

let opensslAvailable = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
    FileManager.default.isExecutableFile(atPath: "\($0)/openssl")
}

/// Certificates made by `openssl` for one test: a CA, a server certificate it signed for
/// 127.0.0.1 and localhost, and another CA that signed nothing here.
struct TestCertificates {
    let directory = TemporaryDirectory()
    var caPath: String { directory.path("ca.pem") }
    var otherCAPath: String { directory.path("other-ca.pem") }
    var serverFiles: ServerConfiguration.TLSFiles {
        .init(certificateChainPath: directory.path("server.pem"), privateKeyPath: directory.path("server.key"))
    }

    init() throws {
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for (name, subject) in [("ca", "/CN=SyncLayer Test CA"), ("other-ca", "/CN=Some Other CA")] {
            try run(["req", "-x509"] + newKey + ["-keyout", directory.path("\(name).key"), "-out", directory.path("\(name).pem"),
                                                 "-days", "1", "-subj", subject])
        }
        try run(["req"] + newKey + ["-keyout", directory.path("server.key"), "-out", directory.path("server.csr"),
                                    "-subj", "/CN=127.0.0.1"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: directory.path("server.ext"), atomically: true, encoding: .utf8)
        try run(["x509", "-req", "-in", directory.path("server.csr"), "-CA", caPath, "-CAkey", directory.path("ca.key"),
                 "-CAcreateserial", "-out", directory.path("server.pem"), "-days", "1", "-extfile", directory.path("server.ext")])
    }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw OpenSSLFailure(command: arguments[0]) }
    }

    struct OpenSSLFailure: Error {
        let command: String
    }
}

/// The reference server over TLS (HTTPS and wss:// on one port) with a CA made for the test,
/// and SyncLayer clients that trust that CA through `SyncConfig.caBundlePath`.
@Suite(.enabled(if: opensslAvailable, "needs openssl"), .timeLimit(.minutes(1)))
struct TLSEndToEndTests {
    let certificates: TestCertificates
    let server: InProcessServer

    init() async throws {
        certificates = try TestCertificates()
        server = try await InProcessServer.start(configuration: ServerConfiguration(
            port: 0, tokens: [Server.token], tls: certificates.serverFiles))
    }

    func client(_ name: String, trusting caPath: String, maxReconnectAttempts: Int? = nil) async throws -> SyncLayer {
        try await SyncLayer(config: SyncConfig(
            baseURL: URL(string: server.baseURL), collections: ["todos"], authToken: Server.token, enableAutoSync: false,
            enableRealtimeSync: true, websocketURL: URL(string: server.webSocketURL),
            websocketReconnectDelay: .milliseconds(50), maxWebsocketReconnectAttempts: maxReconnectAttempts,
            storage: .file(certificates.directory.path("\(name).sqlite")), caBundlePath: caPath))
    }

    @Test func aChangeReachesTheOtherClientOverWSSWithoutAnyPull() async throws {
        defer { Task { [server] in await server.stop() } }
        #expect(server.baseURL.hasPrefix("https://") && server.webSocketURL.hasPrefix("wss://"))
        let a = try await client("a", trusting: certificates.caPath)
        let b = try await client("b", trusting: certificates.caPath)
        for client in [a, b] {
            try #require(await Self.live(client), "\(String(describing: client.realtime?.socket.lastError))")
            try await client.syncNow()  // over HTTPS; runs after the pull that going live starts
        }
        let bSyncs = b.metrics.syncAttempts
        let watch = b.collection("todos").watch()

        try await a.collection("todos").save(["text": "Sent over TLS"], id: "t1")
        let seen = try await first(of: watch) { $0.count == 1 }
        #expect(seen?.first?.data == ["text": "Sent over TLS"])
        #expect(b.metrics.syncAttempts == bSyncs)  // it came over wss://, not an HTTPS pull
        try await a.waitForPendingWrites()
        await a.close()
        await b.close()
    }

    /// Whether the client's realtime connection became live within 10 s.
    static func live(_ client: SyncLayer) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await client.realtime?.waitUntilLive(); return client.realtime?.isLive == true }
            group.addTask { try? await Task.sleep(for: .seconds(10)); return false }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
    }

    @Test func aClientTrustingAnotherCAGetsTLSErrorsFromSyncAndRealtime() async throws {
        defer { Task { [server] in await server.stop() } }
        let stranger = try await client("stranger", trusting: certificates.otherCAPath, maxReconnectAttempts: 0)
        let realtime = try #require(stranger.realtime)
        let gaveUp = try await first(of: realtime.states) { if case .error = $0 { true } else { false } }
        guard case .error(let socketError)? = gaveUp else {
            Issue.record("realtime did not give up: \(realtime.state)")
            return
        }
        #expect(socketError.kind == .tls, "\(socketError)")
        #expect(!realtime.isLive)

        await #expect { try await stranger.syncNow() } throws: { ($0 as? SyncError)?.kind == .tls }
        try await stranger.collection("todos").save(["text": "stays queued"])
        #expect(try await stranger.pendingOperationCount() == 1)
        await stranger.close()
    }

    @Test func webSocketServiceTakesTheCAToo() async throws {
        defer { Task { [server] in await server.stop() } }
        let url = try #require(URL(string: server.webSocketURL))
        let trusting = try WebSocketService(url: url, token: Server.token, caBundlePath: certificates.caPath)
        try await trusting.connect()
        #expect(trusting.state == .connected)
        await trusting.disconnect()

        let stranger = try WebSocketService(url: url, token: Server.token, maxReconnectAttempts: 0,
                                            caBundlePath: certificates.otherCAPath)
        await #expect { try await stranger.connect() } throws: { ($0 as? SyncError)?.kind == .tls }
        await stranger.disconnect()
    }

    @Test func aServerWithoutItsKeyDoesNotStart() async throws {
        defer { Task { [server] in await server.stop() } }
        var files = certificates.serverFiles
        files.privateKeyPath = certificates.directory.path("missing.key")
        await #expect(throws: (any Error).self) {
            try await InProcessServer.start(configuration: ServerConfiguration(port: 0, tls: files))
        }
    }
}
#endif
