import Foundation
import SyncServer

/// The reference server in a child process (`sync-bench --serve DB`), as it runs in production.
///
/// P5 and P6 measure a client and a server that each have a process of their own. In one process they
/// share SQLite's global allocator mutex and the Swift runtime's locks, and a perf profile of the P5
/// drain showed them contending there, which a deployed client and server never do.
final class ServerProcess: @unchecked Sendable {  // immutable after init
    let baseURL: String
    var webSocketURL: String { "ws" + baseURL.dropFirst(4) + "/ws" }
    private let process: Process
    private let input: Pipe

    private init(baseURL: String, process: Process, input: Pipe) {
        self.baseURL = baseURL
        self.process = process
        self.input = input
    }

    /// Starts `sync-bench --serve database` and waits for the port it bound on 127.0.0.1.
    static func start(database: String) async throws -> ServerProcess {
        let process = Process()
        process.executableURL = SyncBenchmarks.executable
        process.arguments = ["--serve", database]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let line: String = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var bytes: [UInt8] = []
                while let byte = try? output.fileHandleForReading.read(upToCount: 1)?.first, byte != 10 { bytes.append(byte) }
                continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
            }
        }
        guard line.hasPrefix("port "), let port = Int(line.dropFirst(5)) else {
            process.terminate()
            throw BenchFailure("sync-bench --serve did not start: '\(line)'")
        }
        return ServerProcess(baseURL: "http://127.0.0.1:\(port)", process: process, input: input)
    }

    /// User and system CPU time the server process has used so far, in seconds (from /proc; nil elsewhere).
    var cpuSeconds: Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm)": state is field 3, utime and stime are fields 14 and 15 (proc(5)).
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    var pid: Int32 { process.processIdentifier }

    /// The server process's peak resident set so far, in KiB (0 where /proc is missing).
    var peakKiB: Int { Memory.peakKiB(of: pid) }

    /// Closes the child's standard input, which stops it, and waits for it to exit.
    func stop() async {
        try? input.fileHandleForWriting.close()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread { [process] in
                process.waitUntilExit()
                continuation.resume()
            }
        }
    }

    /// The child's side: serves `database` on a free port of 127.0.0.1, writes "port N" on a line of
    /// its own, and stops when its standard input ends (the parent stopped it or exited).
    static func serve(database: String) async throws {
        let server = try await SyncBenchmarks.startServer(databasePath: database)
        FileHandle.standardOutput.write(Data("port \(server.port)\n".utf8))
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                _ = FileHandle.standardInput.readDataToEndOfFile()
                continuation.resume()
            }
        }
        await server.stop()
    }
}
