import Foundation
import Synchronization
import Testing

/// The built `synclayer-server` binary, run as a child process: configured by the environment, stopped by
/// SIGTERM, refusing bad settings.
@Suite struct ServerBinaryTests {
    @Test func servesWithEnvironmentSettingsAndStopsOnSIGTERM() async throws {
        let server = try ServerProcess([], environment: [
            "SYNCLAYER_HOST": "127.0.0.1", "SYNCLAYER_PORT": "0", "SYNCLAYER_DATA": temporaryDatabasePath(),
            "SYNCLAYER_TOKENS": "other-token,\(testToken)", "SYNCLAYER_RATE_LIMIT": "1000",
        ])
        let port = try #require(await server.listeningPort(), "\(server.error)")
        let http = HTTPTestClient(baseURL: "http://127.0.0.1:\(port)")
        let health = try await http.get("/health", token: nil)
        #expect(health.status == 200)
        #expect(health.json?["status"] == "ok")
        let refused = try await http.get("/sync/todos", token: nil)
        #expect(refused.status == 401)
        #expect(refused.errorCode == "AUTH_FAILED")
        #expect(try await http.get("/sync/todos").status == 200)

        server.terminate()
        #expect(await server.exitStatus(within: .seconds(30)) == 0, "\(server.error)")
        #expect(!server.error.contains(testToken))  // tokens are never logged
    }

    static let badSettings: [(arguments: [String], environment: [String: String], message: String)] = [
        (["--rate-limit", "0"], [:], "the rate limit must be a number of requests a second above 0"),
        (["--rate-limit", "-3"], [:], "above 0"),
        (["--rate-limit", "nan"], [:], "above 0"),
        ([], ["SYNCLAYER_RATE_LIMIT": "0"], "above 0"),
        ([], ["SYNCLAYER_RATE_LIMIT": "inf"], "above 0"),
        ([], ["SYNCLAYER_RATE_LIMIT": "fast"], "SYNCLAYER_RATE_LIMIT must be a number (got fast)"),
        ([], ["SYNCLAYER_PORT": "eighty"], "SYNCLAYER_PORT must be an integer (got eighty)"),
        ([], ["SYNCLAYER_LOG_LEVEL": "loud"], "unknown log level loud"),
        (["--no-such-flag"], [:], "Unknown option '--no-such-flag'"),
        (["--tls-cert", "cert.pem"], [:], "--tls-cert and --tls-key"),
        ([], ["SYNCLAYER_TLS_KEY": "key.pem"], "go together"),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], [:], "is not a readable file"),
    ]

    @Test(arguments: badSettings)
    func badSettingsExitNonZeroWithAMessage(_ arguments: [String], _ environment: [String: String], _ message: String) async throws {
        // Port 0: should a bad setting go unnoticed, the server starts on a free port instead of a busy one.
        let server = try ServerProcess(arguments, environment: ["SYNCLAYER_PORT": "0"].merging(environment) { $1 })
        let status = await server.exitStatus(within: .seconds(30))
        #expect(status == 64)  // EX_USAGE
        #expect(server.error.contains(message), "\(server.error)")
    }
}

/// The `synclayer-server` binary, built next to this test bundle.
let serverBinary: String = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent("synclayer-server").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    return "synclayer-server (not found next to \(CommandLine.arguments[0]); build the package first)"
}()

/// The server binary running in a child process, its standard error captured.
final class ServerProcess: Sendable {
    private let process: Process
    private let captured = Captured()

    init(_ arguments: [String], environment: [String: String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: serverBinary)
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        self.process = process
        try process.run()
        // A blocking read on a thread of its own: `readabilityHandler` can miss end of file on Linux.
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [captured] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                captured.state.withLock { $0.text += String(decoding: data, as: UTF8.self) }
            }
            captured.state.withLock { $0.ended = true }
        }
    }

    /// Standard error so far.
    var error: String { captured.state.withLock { $0.text } }

    /// The port from Hummingbird's "Server started and listening on 127.0.0.1:<port>" line, or nil when the
    /// line does not come within `timeout`.
    func listeningPort(within timeout: Duration = .seconds(30)) async -> Int? {
        let marker = "listening on 127.0.0.1:"
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, process.isRunning {
            let text = error
            if let range = text.range(of: marker) {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits), text[range.upperBound...].count > digits.count { return port }
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Sends SIGTERM.
    func terminate() { process.terminate() }

    /// The exit status once standard error is read to its end, or nil (and the process killed) when it has
    /// not exited within `timeout`.
    func exitStatus(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning || !captured.state.withLock({ $0.ended }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        // An exit by signal reports the signal number as its status; tell it apart.
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// Owned apart from the process object, so the reader thread does not keep that alive.
    private final class Captured: Sendable {
        let state = Mutex((text: "", ended: false))
    }
}
