// The Swift sample of Examples/README.md, word for word, so that the compiler checks it (the root
// package's DocSampleTests finds it here). Nothing calls this function.
import Foundation
import Hummingbird
import SyncServer

private func inProcessServerSample(path: String) async throws {
    let faults = FaultInjector()
    let server = try await InProcessServer.start(
        configuration: ServerConfiguration(port: 0, databasePath: path, tokens: ["t"]), faults: faults)
    // server.baseURL == "http://127.0.0.1:<port>", server.webSocketURL == "ws://127.0.0.1:<port>/ws"
    faults.failNextWrites(2, status: .serviceUnavailable, retryAfter: 1)
    faults.dropConnectionAfterCommit(nextWrites: 1)
    faults.delayResponses(by: .milliseconds(200))
    faults.disturbNextWebSocketMessages(1, with: .reorder)   // or .drop, .duplicate
    await server.stop()
}

// MARK: Doc comments of the server's public API

private func faultInjectorDocComment(configuration: ServerConfiguration) async throws {
    let faults = FaultInjector()
    let server = try await InProcessServer.start(configuration: configuration, faults: faults)
    faults.failNextWrites(2, status: .serviceUnavailable, retryAfter: 1)
    await server.stop()
}

private func serverConfigurationDocComment() async throws {
    var configuration = ServerConfiguration(port: 0, databasePath: nil)
    configuration.tokens = ["secret"]
    let server = try await InProcessServer.start(configuration: configuration)
    await server.stop()
}

private func inProcessServerDocComment() async throws {
    let server = try await InProcessServer.start(configuration: ServerConfiguration(port: 0, tokens: ["t"]))
    defer { Task { await server.stop() } }
    let url = server.baseURL            // http://127.0.0.1:<free port>
    _ = url
}

private func buildApplicationDocComment() async throws {
    let app = try buildApplication(configuration: ServerConfiguration(port: 8080, databasePath: "sync.sqlite"))
    try await app.runService()   // stops on SIGINT/SIGTERM
}
