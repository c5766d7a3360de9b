import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SyncLayer
import enum SyncLayer.JSONValue
import SyncServer
import Testing

/// A client process killed with SIGKILL while it pushes, then restarted on the same database:
/// every write it committed locally reaches the server exactly once.
@Suite struct CrashTests {
    /// The crash client, built next to this test bundle.
    static var clientPath: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var directory = bundle
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("sync-crash-client").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return bundle.appendingPathComponent("sync-crash-client").path
    }

    /// Runs the client; kills it with SIGKILL once `killWhen` says so (after `killDelay`), or lets
    /// it finish. Returns the ids it reported as committed and whether it finished.
    ///
    /// The reads and waits block, so they run on their own Dispatch thread: blocking the few
    /// threads of Swift's cooperative pool would starve the in-process server.
    static func run(_ arguments: [String], killWhen: (@Sendable (Int, String) -> Bool)? = nil,
                    killDelay: Duration = .zero) async throws -> (committed: [String], finished: Bool) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    continuation.resume(returning: try runBlocking(arguments, killWhen: killWhen, killDelay: killDelay))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private static func runBlocking(_ arguments: [String], killWhen: (@Sendable (Int, String) -> Bool)?,
                                    killDelay: Duration) throws -> (committed: [String], finished: Bool) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: clientPath)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var committed: [String] = []
        var finished = false
        var buffer = Data()
        let handle = pipe.fileHandleForReading
        reading: while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                if line.hasPrefix("committed ") { committed.append(String(line.dropFirst(10))) }
                if line == "synced" { finished = true }
                if let killWhen, killWhen(committed.count, line) {
                    usleep(UInt32(killDelay.components.seconds * 1_000_000 + killDelay.components.attoseconds / 1_000_000_000_000))
                    kill(process.processIdentifier, SIGKILL)
                    break reading
                }
            }
        }
        process.waitUntilExit()
        return (committed, finished && process.terminationReason == .exit && process.terminationStatus == 0)
    }

    @Test func killedDuringPushThenRestartedEveryCommittedWriteArrivesExactlyOnce() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.clientPath), "missing \(Self.clientPath)")
        let server = try await Server()
        defer { Task { await server.stop() } }
        // Slow answers keep pushes in flight, so kills land between send and answer.
        server.faults.delayResponses(by: .milliseconds(40))
        let db = server.directory.path("crash-client.sqlite")
        let base = ["--db", db, "--server", server.process.baseURL, "--token", Server.token]
        var everCommitted: [String] = []
        var kills = 0
        for round in 0..<4 {
            let killAt = [5, 25, 60, 150][round]
            let delay = Duration.milliseconds([0, 17, 53, 90][round])
            let run = try await Self.run(base + ["--writes", "200", "--prefix", "r\(round)"],
                                         killWhen: { count, _ in count >= killAt }, killDelay: delay)
            everCommitted += run.committed
            if !run.finished { kills += 1 }
        }
        // Restart without new writes: it pushes what is left and exits.
        let final = try await Self.run(base)
        #expect(final.finished)
        #expect(kills >= 3)

        var request = URLRequest(url: URL(string: "\(server.process.baseURL)/v2/pull?collection=ledger&limit=1000")!)
        request.setValue("Bearer \(Server.token)", forHTTPHeaderField: "Authorization")
        server.faults.delayResponses(by: nil)
        var versions: [String: Int] = [:]
        var cursor: String?
        repeat {
            var url = "\(server.process.baseURL)/v2/pull?collection=ledger&limit=1000"
            if let cursor { url += "&cursor=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
            request.url = URL(string: url)
            let (data, _) = try await URLSession.shared.data(for: request)
            let body = try JSONDecoder().decode(JSONValue.self, from: data)
            for change in body["changes"]?.arrayValue ?? [] {
                if let id = change["recordId"]?.stringValue { versions[id] = change["version"]?.intValue }
            }
            cursor = body["hasMore"] == true ? body["cursor"]?.stringValue : nil
        } while cursor != nil
        let lost = Set(everCommitted).subtracting(versions.keys)
        let duplicated = versions.filter { $0.value != 1 }
        #expect(lost.isEmpty, "lost \(lost.count) committed writes: \(lost.sorted().prefix(5))")
        #expect(duplicated.isEmpty, "applied more than once: \(duplicated.keys.sorted().prefix(5))")
        #expect(everCommitted.count >= 5 + 25 + 60 + 150)
    }
}
