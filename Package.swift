// swift-tools-version:6.0
import PackageDescription

// The SyncLayer library declares no package dependencies: only the toolchain
// (Foundation, Dispatch) and system libraries (SQLite; libcurl from the
// realtime layer on). Third-party packages belong in Examples/Package.swift.
let package = Package(
    name: "SyncLayer",
    platforms: [.macOS(.v14), .iOS(.v17), .tvOS(.v17), .watchOS(.v10), .visionOS(.v1)],
    products: [
        .library(name: "SyncLayer", targets: ["SyncLayer"]),
        .library(name: "SyncLayerTesting", targets: ["SyncLayerTesting"]),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        // Linux only: the WebSocket transport opens TCP/TLS with libcurl (CONNECT_ONLY).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "SyncLayer", dependencies: ["CSQLite", .target(name: "CCurl", condition: .when(platforms: [.linux]))]),
        .target(name: "SyncLayerTesting", dependencies: ["SyncLayer"]),
        .testTarget(name: "SyncLayerTests", dependencies: ["SyncLayer", "SyncLayerTesting"]),
        // The Swift samples of the README, the guides and the doc comments, compiled (see DocSampleTests).
        .testTarget(name: "DocSampleTests", dependencies: ["SyncLayer", "SyncLayerTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
