import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SyncLayer
import enum SyncLayer.JSONValue
import SyncServer

/// A temporary folder that removes itself.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("synclayer-e2e-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// The reference server in this process, on a free loopback port, with a token and fault switches.
struct Server {
    static let token = "e2e-secret-token"
    let directory = TemporaryDirectory()
    let faults = FaultInjector()
    let process: InProcessServer

    init(persistent: Bool = true) async throws {
        process = try await InProcessServer.start(
            configuration: ServerConfiguration(port: 0, databasePath: persistent ? directory.path("server.sqlite") : nil,
                                               tokens: [Server.token]),
            faults: faults)
    }

    var baseURL: URL { URL(string: process.baseURL)! }

    /// A client that syncs only when asked.
    func client(_ name: String = UUID().uuidString, strategy: ConflictStrategy = .lastWriteWins,
                protocolVersion: RESTBackend.ProtocolVersion = .automatic, token: String? = Server.token,
                tokenProvider: (@Sendable () async throws -> String)? = nil, autoSync: Bool = false,
                collections: [String] = ["todos"]) async throws -> SyncLayer {
        try await SyncLayer(config: SyncConfig(
            baseURL: baseURL, collections: collections, authToken: token, tokenProvider: tokenProvider,
            enableAutoSync: autoSync, conflictStrategy: strategy, storage: .file(directory.path("\(name).sqlite")),
            protocolVersion: protocolVersion))
    }

    func stop() async { await process.stop() }
}

/// Raw HTTP against the server, to look at what it holds.
enum Inspect {
    static func pull(_ server: Server, collection: String = "todos") async throws -> [String: [String: JSONValue]] {
        var documents: [String: [String: JSONValue]] = [:]
        var cursor: String?
        while true {
            var components = URLComponents(url: server.baseURL.appendingPathComponent("v2/pull"), resolvingAgainstBaseURL: false)!
            components.queryItems = [URLQueryItem(name: "collection", value: collection), URLQueryItem(name: "limit", value: "1000")]
                + (cursor.map { [URLQueryItem(name: "cursor", value: $0)] } ?? [])
            var request = URLRequest(url: components.url!)
            request.setValue("Bearer \(Server.token)", forHTTPHeaderField: "Authorization")
            let (data, _) = try await URLSession.shared.data(for: request)
            let body = try JSONDecoder().decode(JSONValue.self, from: data)
            for change in body["changes"]?.arrayValue ?? [] {
                guard let id = change["recordId"]?.stringValue else { continue }
                documents[id] = change["data"]?.objectValue
            }
            cursor = body["cursor"]?.stringValue
            if body["hasMore"] != true { return documents.compactMapValues { $0 } }
        }
    }
}
