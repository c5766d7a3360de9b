import Foundation
import SyncLayer
import enum SyncLayer.JSONValue
import SyncServer
import Testing
@testable import TodoCore

/// A temporary folder that removes itself.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("todo-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// What one `todo` run printed and returned.
struct Run: Sendable {
    let status: Int32
    let output: String
    let error: String

    /// `--json` output, parsed.
    var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(output.utf8)) }

    /// NDJSON output, one value per line.
    var records: [JSONValue] {
        output.split(separator: "\n").compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    }
}

/// Runs `todo` in this process with a captured console and only the given environment.
func todo(_ arguments: [String], environment: [String: String] = [:], terminal: Bool = false) async -> Run {
    let (console, captured) = Console.capturing(terminal: terminal)
    let status = await TodoCLI.run(arguments, context: TodoContext(console: console, environment: environment))
    return Run(status: status, output: captured.output, error: captured.error)
}

/// A store of its own for one test: `todo(...)` with `--db` set.
struct Device: Sendable {
    let directory = TemporaryDirectory()
    var name = "todos"
    var server: TestServer?

    var db: String { directory.path("\(name).sqlite") }

    func callAsFunction(_ arguments: [String], environment: [String: String] = [:], terminal: Bool = false) async -> Run {
        var environment = environment
        environment["TODO_DB"] = db
        if let server {
            environment["SYNCLAYER_SERVER"] = server.url
            environment["SYNCLAYER_TOKEN"] = TestServer.token
        }
        return await todo(arguments, environment: environment, terminal: terminal)
    }

    /// Adds `count` todos straight to the store, queued as `todo add --offline` leaves them
    /// (one store opening instead of one per todo).
    func queue(_ count: Int, named prefix: String) async throws {
        let store = try await TodoStore.open(storage: .file(db), server: nil)
        for index in 0..<count { _ = try await store.add("\(prefix) \(index)") }
        await store.close()
    }

    /// The id of the todo with this text (via `list --all --json`).
    func id(of text: String) async throws -> String {
        let run = await self(["list", "--all", "--json", "--offline"])
        let todos = try #require(run.json?["todos"]?.arrayValue)
        return try #require(todos.first { $0["text"]?.stringValue == text }?["id"]?.stringValue)
    }
}

/// The reference server on a free loopback port, with a token.
struct TestServer: Sendable {
    static let token = "todo-test-token"
    let directory = TemporaryDirectory()
    let process: InProcessServer

    init(limits: ServerConfiguration.Limits = ServerConfiguration.Limits()) async throws {
        process = try await InProcessServer.start(configuration: ServerConfiguration(
            port: 0, databasePath: directory.path("server.sqlite"), tokens: [TestServer.token], limits: limits))
    }

    var url: String { process.baseURL }

    func stop() async { await process.stop() }
}

/// A loopback address where nothing listens (connections are refused at once).
let deadServer = "http://127.0.0.1:1"

/// Polls `condition` until it holds or `seconds` pass.
func eventually(within seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// The `todo` binary, built next to this test bundle.
let todoBinary: String = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var directory = bundle
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent("todo").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory.deleteLastPathComponent()
    }
    return bundle.appendingPathComponent("todo").path
}()

/// The `todo` binary running in a child process, its output streamed.
final class Subprocess: Sendable {
    private let process: Process
    private let captured = CapturedOutput()
    /// Chunks of standard output as they arrive; ends at end of file.
    let chunks: AsyncStream<String>
    private let errorChunks: AsyncStream<String>

    init(_ arguments: [String], environment: [String: String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: todoBinary)
        process.arguments = arguments
        process.environment = environment
        let (chunks, output) = AsyncStream<String>.makeStream()
        let (errorChunks, error) = AsyncStream<String>.makeStream()
        self.chunks = chunks
        self.errorChunks = errorChunks
        let captured = self.captured
        var readers: [(FileHandle, Console.Stream, AsyncStream<String>.Continuation)] = []
        for (stream, continuation) in [(Console.Stream.output, output), (.error, error)] {
            let pipe = Pipe()
            if stream == .output { process.standardOutput = pipe } else { process.standardError = pipe }
            readers.append((pipe.fileHandleForReading, stream, continuation))
        }
        self.process = process
        try process.run()
        // Blocking reads on threads of their own: on Linux, `readabilityHandler` sometimes never
        // reports end of file (swift-corelibs-foundation#3275), which hung a CI run.
        for (handle, stream, continuation) in readers {
            Thread.detachNewThread {
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    let text = String(decoding: data, as: UTF8.self)
                    captured.record(text, to: stream)
                    continuation.yield(text)
                }
                continuation.finish()
            }
        }
    }

    var output: String { captured.output }
    var error: String { captured.error }

    /// Waits until the output so far contains `text`.
    func waitForOutput(containing text: String, within seconds: Double = 10) async -> Bool {
        await eventually(within: seconds) { output.contains(text) }
    }

    func interrupt() { process.interrupt() }

    /// Waits for the process to end and for its output to be read; returns its exit status.
    func exitStatus() async -> Int32 {
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            Thread.detachNewThread { [process] in
                // Bounded: a child that never ends is killed, and the test fails on its status.
                let deadline = Date().addingTimeInterval(120)
                while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    continuation.resume(returning: -1)
                    return
                }
                continuation.resume(returning: process.terminationStatus)
            }
        }
        for await _ in errorChunks {}
        return status
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// Runs the binary to completion.
func runBinary(_ arguments: [String], environment: [String: String]) async throws -> Run {
    let process = try Subprocess(arguments, environment: environment)
    for await _ in process.chunks {}  // read until end of file
    let status = await process.exitStatus()
    return Run(status: status, output: process.output, error: process.error)
}
