// swift-tools-version:6.1
import PackageDescription

// Examples for SyncLayer: the reference sync server (`synclayer-server`, library `SyncServer`)
// and its tests. Third-party packages live here so the root package stays dependency-free.
let package = Package(
    name: "SyncLayerExamples",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SyncServer", targets: ["SyncServer"]),
        .executable(name: "synclayer-server", targets: ["synclayer-server"]),
    ],
    dependencies: [
        // The SDK itself. `name:` fixes the package name whatever the checkout folder is called.
        .package(name: "SyncLayer", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "SyncServer",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),  // the write path binds through the C API
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "synclayer-server",
            dependencies: [
                "SyncServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "todo",
            dependencies: ["TodoCore"]
        ),
        // The todo CLI's commands, in a library so tests run them in-process.
        .target(
            name: "TodoCore",
            dependencies: [
                "SyncServer",
                .product(name: "SyncLayer", package: "SyncLayer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "sync-bench",
            dependencies: [
                "SyncServer",
                .product(name: "SyncLayer", package: "SyncLayer"),
                .product(name: "SyncLayerTesting", package: "SyncLayer"),  // --client-drain's in-memory backend
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .executableTarget(
            name: "sync-torture",
            dependencies: [
                "SyncServer",
                .product(name: "SyncLayer", package: "SyncLayer"),
                .product(name: "SyncLayerTesting", package: "SyncLayer"),
                .product(name: "GRDB", package: "GRDB.swift"),  // reads the fuzz clients' HLC stamps
            ]
        ),
        .executableTarget(
            name: "sync-crash-client",
            dependencies: [.product(name: "SyncLayer", package: "SyncLayer")]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "SyncServer",
                "sync-crash-client",
                .product(name: "SyncLayer", package: "SyncLayer"),
                .product(name: "SyncLayerTesting", package: "SyncLayer"),
            ]
        ),
        .testTarget(
            name: "TodoTests",
            dependencies: [
                "TodoCore",
                "todo",  // built for the tests that run the binary
                "SyncServer",
                .product(name: "SyncLayer", package: "SyncLayer"),
                .product(name: "Logging", package: "swift-log"),  // DocSamples: SyncLogger → swift-log
            ]
        ),
        // The reliability harness's short mode (doc/RELIABILITY.md), run as a test so CI covers it.
        .testTarget(
            name: "TortureTests",
            dependencies: ["sync-torture", "sync-crash-client"]
        ),
        .testTarget(
            name: "SyncServerTests",
            dependencies: [
                "SyncServer",
                "synclayer-server",  // built for the tests that run the binary
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
