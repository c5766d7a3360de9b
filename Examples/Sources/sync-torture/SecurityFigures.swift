import Foundation
import Logging
import SyncLayer
import SyncServer
import Synchronization
import enum SyncLayer.JSONValue

/// Security figures (§4 of the reliability research): a canary token and a canary document value
/// go through every path (push, pull, conflicts, rejection, retries, 401 refresh, lost answers,
/// realtime) with both the SDK and the server logging at trace level; neither may appear in any
/// log record or request line. Also: the database file's permissions, and TLS verification on by
/// default (a self-signed HTTPS server is refused).
enum SecurityFigures {
    static let canaryToken = "canary-token-9b1d2e7f"
    static let canaryValue = "canary-value-5c4a3f11"

    static func run(report: Report) async throws {
        let directory = try ScratchDirectory("security")
        defer { directory.remove() }
        let serverLines = LineSink()
        let faults = FaultInjector()
        var serverLogger = Logging.Logger(label: "synclayer-server", factory: { _ in ServerLogHandler(sink: serverLines) })
        serverLogger.logLevel = .trace
        let server = try await InProcessServer.start(
            configuration: ServerConfiguration(port: 0, databasePath: directory.path("server.sqlite"), tokens: [canaryToken]),
            faults: faults, logger: serverLogger)
        defer { Task { await server.stop() } }

        let clientLines = LineSink()
        let transport = RecordingTransport()
        let logger = SyncLogger(minimumLevel: .trace) { record in
            clientLines.append("\(record.level) \(record.message) \(record.metadata) \(record.source)")
        }
        func client(_ name: String, token: String, strategy: ConflictStrategy = .lastWriteWins) async throws -> SyncLayer {
            try await SyncLayer(config: SyncConfig(
                baseURL: URL(string: server.baseURL)!, collections: ["secrets"], authToken: token,
                tokenProvider: { canaryToken }, maxRetries: 100, enableAutoSync: false, conflictStrategy: strategy,
                enableRealtimeSync: true, websocketURL: URL(string: server.webSocketURL)!,
                storage: .file(directory.path("\(name).sqlite")), logger: logger, protocolVersion: .v2, transport: transport))
        }
        // The first client starts with an expired token: one 401, one refresh.
        let phone = try await client("phone", token: "expired")
        let laptop = try await client("laptop", token: canaryToken, strategy: .merge)
        let secrets = phone.collection("secrets")
        try await secrets.save(["secret": .string(canaryValue), "n": 1], id: "doc-1")
        try await phone.syncNow()
        try await laptop.syncNow()
        // A conflict: both edit the same document.
        try await secrets.update("doc-1", ["secret": .string(canaryValue + "-phone")])
        try await laptop.collection("secrets").update("doc-1", ["secret": .string(canaryValue + "-laptop")])
        try await laptop.syncNow()
        try await phone.syncNow()
        // Failures, lost answers and a rejection, all carrying the canary value.
        faults.failNextWrites(1, status: .internalServerError)
        try await secrets.save(["secret": .string(canaryValue)], id: "doc-2")
        try? await phone.syncNow()
        faults.dropConnectionAfterCommit(nextWrites: 1)
        try await secrets.save(["secret": .string(canaryValue)], id: "doc-3")
        try? await phone.syncNow()
        try await secrets.save(["secret": .string(canaryValue + String(repeating: "z", count: 1_100_000))], id: "doc-big")
        try await withTimeout(.seconds(30)) { try await phone.waitForPendingWrites() }
        _ = try await secrets.delete("doc-2")
        try await phone.syncNow()
        try await laptop.syncNow()
        await phone.close()
        await laptop.close()

        let logs = clientLines.lines + serverLines.lines
        let urls = transport.exchanges.map { "\($0.method) \($0.url)" }
        let tokenInLogs = logs.filter { $0.contains(canaryToken) }.count
        let valueInLogs = logs.filter { $0.contains(canaryValue) }.count
        let tokenInURLs = urls.filter { $0.contains(canaryToken) }.count
        let valueInURLs = urls.filter { $0.contains(canaryValue) }.count
        report.set("log records scanned (SDK + server, trace level)", logs.count)
        report.set("request lines scanned", urls.count)
        report.set("canary token in logs / URLs", "\(tokenInLogs) / \(tokenInURLs)")
        report.set("canary document value in logs / URLs", "\(valueInLogs) / \(valueInURLs)")
        for line in logs.filter({ $0.contains(canaryToken) || $0.contains(canaryValue) }).prefix(3) {
            report.violation("canary in a log record: \(line.prefix(300))")
        }
        for line in urls.filter({ $0.contains(canaryToken) || $0.contains(canaryValue) }).prefix(3) {
            report.violation("canary in a request line: \(line.prefix(300))")
        }

        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path("phone.sqlite"))
        let mode = (attributes[.posixPermissions] as? Int).map { String($0, radix: 8) } ?? "?"
        report.set("database file mode", mode)
        if let permissions = attributes[.posixPermissions] as? Int, permissions & 0o077 != 0 {
            report.note("database file mode \(mode) lets other users read it (checklist §4.1 #10 asks for 0600)")
        }

        try await tlsRefused(directory, report: report)
    }

    /// A self-signed HTTPS server (openssl s_server) must be refused without a configured CA.
    static func tlsRefused(_ directory: ScratchDirectory, report: Report) async throws {
        let key = directory.path("key.pem"), cert = directory.path("cert.pem")
        let made = StorageFaults.shell(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                        "-subj", "/CN=127.0.0.1", "-days", "1"])
        guard made.status == 0 else { report.note("TLS check skipped: openssl unavailable"); return }
        let port = Int.random(in: 20_000..<60_000)
        let process = try ChildProcess.start("/usr/bin/env", ["openssl", "s_server", "-accept", "127.0.0.1:\(port)",
                                                              "-cert", cert, "-key", key, "-www", "-quiet"])
        defer { ChildProcess.stop(process) }
        try await Task.sleep(for: .milliseconds(500))
        let sdk = try await SyncLayer(config: SyncConfig(
            baseURL: URL(string: "https://127.0.0.1:\(port)")!, collections: ["secrets"], authToken: canaryToken,
            enableAutoSync: false, storage: .inMemory, protocolVersion: .v2))
        var refused = false
        var detail = "accepted"
        do {
            try await sdk.syncNow()
        } catch let error as SyncError {
            // `.tls` from libcurl (Linux); URLSession reports the same refusal as `.network`.
            refused = error.kind == .tls || error.kind == .network
            detail = "\(error)".prefix(120).description
        }
        await sdk.close()
        report.set("self-signed HTTPS server refused by default", refused)
        if !refused { report.violation("self-signed HTTPS: \(detail)") }
    }
}

/// Lines collected from log handlers on any thread.
final class LineSink: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}

/// A swift-log handler for the server that keeps every line.
struct ServerLogHandler: LogHandler {
    let sink: LineSink
    var logLevel: Logging.Logger.Level = .trace
    var metadata: Logging.Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logging.Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        sink.append("\(event.level) \(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 }) \(event.error.map { "\($0)" } ?? "")")
    }
}
