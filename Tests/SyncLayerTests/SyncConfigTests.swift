import Foundation
import Testing
@testable import SyncLayer

@Suite struct SyncConfigTests {
    struct Invalid: Sendable, CustomTestStringConvertible {
        let name: String
        let config: SyncConfig
        var testDescription: String { name }
    }

    static let invalid: [Invalid] = [
        Invalid(name: "no collections", config: SyncConfig(collections: [])),
        Invalid(name: "empty collection name", config: SyncConfig(collections: [""])),
        Invalid(name: "collection with a space", config: SyncConfig(collections: ["my todos"])),
        Invalid(name: "collection with a quote", config: SyncConfig(collections: ["t'"])),
        Invalid(name: "duplicate collection", config: SyncConfig(collections: ["a", "a"])),
        Invalid(name: "ftp base URL", config: SyncConfig(baseURL: URL(string: "ftp://x.org"), collections: ["a"])),
        Invalid(name: "realtime without URL", config: SyncConfig(collections: ["a"], enableRealtimeSync: true)),
        Invalid(name: "realtime with file URL", config: SyncConfig(collections: ["a"], enableRealtimeSync: true,
                                                                   websocketURL: URL(string: "file:///tmp/x"))),
        Invalid(name: "custom strategy without resolver", config: SyncConfig(collections: ["a"], conflictStrategy: .custom)),
        Invalid(name: "per-collection custom without resolver",
                config: SyncConfig(collections: ["a"], collectionConflictStrategies: ["a": .custom])),
        Invalid(name: "strategy for unknown collection",
                config: SyncConfig(collections: ["a"], collectionConflictStrategies: ["b": .serverWins])),
        Invalid(name: "filter for unknown collection", config: SyncConfig(collections: ["a"], syncFilters: ["b": SyncFilter()])),
        Invalid(name: "fields and excludeFields",
                config: SyncConfig(collections: ["a"], syncFilters: ["a": SyncFilter(fields: ["x"], excludeFields: ["y"])])),
        Invalid(name: "zero filter limit", config: SyncConfig(collections: ["a"], syncFilters: ["a": SyncFilter(limit: 0)])),
        Invalid(name: "zero sync interval", config: SyncConfig(collections: ["a"], syncInterval: .zero)),
        Invalid(name: "negative retries", config: SyncConfig(collections: ["a"], maxRetries: -1)),
        Invalid(name: "negative reconnects", config: SyncConfig(collections: ["a"], maxWebsocketReconnectAttempts: -1)),
        Invalid(name: "empty token", config: SyncConfig(collections: ["a"], authToken: "")),
        Invalid(name: "token with newline", config: SyncConfig(collections: ["a"], authToken: "a\nb")),
        Invalid(name: "empty file path", config: SyncConfig(collections: ["a"], storage: .file(""))),
        Invalid(name: "CA bundle that does not exist",
                config: SyncConfig(collections: ["a"], caBundlePath: "/nonexistent/synclayer-ca.pem")),
        Invalid(name: "CA bundle that is a folder",
                config: SyncConfig(collections: ["a"], caBundlePath: FileManager.default.temporaryDirectory.path)),
    ]

    @Test(arguments: invalid)
    func invalidConfigurationIsATypedErrorInEveryBuild(_ c: Invalid) async {
        await #expect { try await SyncLayer(config: c.config) } throws: { error in
            guard let error = error as? SyncLayerError else { return false }
            return error.code == .invalidConfiguration || error.code == .invalidCollectionName
        }
    }

    @Test func offlineOnlyNeedsJustCollections() async throws {
        let directory = TemporaryDirectory()
        let config = SyncConfig(collections: ["todos"], storage: .file(directory.path("db.sqlite")))
        #expect(config.baseURL == nil && config.enableAutoSync && config.conflictStrategy == .lastWriteWins)
        _ = try await SyncLayer(config: config)
    }

    @Test func validRealtimeConfigurationPasses() throws {
        try SyncConfig(baseURL: URL(string: "https://api.example.com"), collections: ["todos"],
                       enableRealtimeSync: true, websocketURL: URL(string: "wss://api.example.com/ws")).validate()
    }

    @Test func caBundleMustBeAReadableFileOnLinuxAndIsRefusedElsewhere() throws {
        let directory = TemporaryDirectory()
        let path = directory.path("ca.pem")
        try "not checked before a connection\n".write(toFile: path, atomically: true, encoding: .utf8)
        let config = SyncConfig(baseURL: URL(string: "https://api.example.com"), collections: ["todos"],
                                enableRealtimeSync: true, websocketURL: URL(string: "wss://api.example.com/ws"),
                                caBundlePath: path)
        #if os(Linux)
        try config.validate()
        _ = try WebSocketService(url: URL(string: "wss://api.example.com/ws")!, caBundlePath: path)
        #else
        #expect(throws: SyncLayerError.self) { try config.validate() }
        #endif
        #expect { try WebSocketService(url: URL(string: "wss://api.example.com/ws")!, caBundlePath: directory.path("none.pem")) }
            throws: { ($0 as? SyncLayerError)?.code == .invalidConfiguration }
    }

    @Test func defaultStorageLivesInTheXDGDataFolderOnLinux() throws {
        #if os(Linux)
        let path = try #require(try LocalStore.resolvePath(.default))
        let base = ProcessInfo.processInfo.environment["XDG_DATA_HOME"]
            ?? (FileManager.default.homeDirectoryForCurrentUser.path + "/.local/share")
        #expect(path == base + "/synclayer/synclayer.sqlite")
        #endif
    }
}
