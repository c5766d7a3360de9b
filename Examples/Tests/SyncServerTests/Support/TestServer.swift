import Foundation
import SyncServer

/// The bearer token every test server accepts.
let testToken = "test-token-123"

/// A reference server on 127.0.0.1 with a free port and a fresh SQLite file, stopped by `withTestServer`.
struct TestServer: Sendable {
    let server: InProcessServer
    let faults: FaultInjector
    let databasePath: String
    let http: HTTPTestClient

    var webSocketURL: String { server.webSocketURL }
}

/// A fresh temporary database path; the directory is left for the OS to clean.
func temporaryDatabasePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("synclayer-server-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("sync.sqlite").path
}

/// Runs `body` against a started server and stops it afterwards, whether `body` throws or not.
func withTestServer<T: Sendable>(
    databasePath: String? = nil,
    configure: (inout ServerConfiguration) -> Void = { _ in },
    _ body: (TestServer) async throws -> T
) async throws -> T {
    let path = databasePath ?? temporaryDatabasePath()
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, databasePath: path, tokens: [testToken])
    configure(&configuration)
    let faults = FaultInjector()
    let server = try await InProcessServer.start(configuration: configuration, faults: faults)
    let testServer = TestServer(server: server, faults: faults, databasePath: path, http: HTTPTestClient(baseURL: server.baseURL))
    do {
        let value = try await body(testServer)
        await server.stop()
        return value
    } catch {
        await server.stop()
        throw error
    }
}
