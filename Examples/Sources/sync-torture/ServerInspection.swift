import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SyncLayer
import SyncServer
import enum SyncLayer.JSONValue

/// The reference server in this process on a free loopback port, with its fault switches.
struct TortureServer {
    static let token = "torture-canary-token-7f3a9c"
    let directory: ScratchDirectory
    let faults: FaultInjector
    let process: InProcessServer

    static func start(_ label: String) async throws -> TortureServer {
        let directory = try ScratchDirectory(label)
        let faults = FaultInjector()
        let process = try await InProcessServer.start(
            configuration: ServerConfiguration(port: 0, databasePath: directory.path("server.sqlite"), tokens: [token]),
            faults: faults)
        return TortureServer(directory: directory, faults: faults, process: process)
    }

    private init(directory: ScratchDirectory, faults: FaultInjector, process: InProcessServer) {
        self.directory = directory
        self.faults = faults
        self.process = process
    }

    var baseURL: URL { URL(string: process.baseURL)! }

    func stop() async {
        await process.stop()
        directory.remove()
    }

    /// Every record of a collection, tombstones included: id → (version, data or nil).
    func records(_ collection: String) async throws -> [String: (version: Int, data: [String: JSONValue]?)] {
        var records: [String: (version: Int, data: [String: JSONValue]?)] = [:]
        var cursor: String?
        while true {
            var components = URLComponents(url: baseURL.appendingPathComponent("v2/pull"), resolvingAgainstBaseURL: false)!
            components.queryItems = [URLQueryItem(name: "collection", value: collection), URLQueryItem(name: "limit", value: "1000")]
                + (cursor.map { [URLQueryItem(name: "cursor", value: $0)] } ?? [])
            var request = URLRequest(url: components.url!)
            request.setValue("Bearer \(Self.token)", forHTTPHeaderField: "Authorization")
            let (data, _) = try await URLSession.shared.data(for: request)
            let body = try JSONDecoder().decode(JSONValue.self, from: data)
            for change in body["changes"]?.arrayValue ?? [] {
                guard let id = change["recordId"]?.stringValue else { continue }
                records[id] = (change["version"]?.intValue ?? -1, change["data"]?.objectValue)
            }
            cursor = body["cursor"]?.stringValue
            if body["hasMore"] != true { return records }
        }
    }

    /// The live documents of a collection.
    func documents(_ collection: String) async throws -> [String: [String: JSONValue]] {
        try await records(collection).compactMapValues(\.data)
    }
}
