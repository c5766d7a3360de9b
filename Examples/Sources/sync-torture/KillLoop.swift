import Foundation
import SyncLayer
import SyncServer
import enum SyncLayer.JSONValue

/// C01/C02/R1: the crash client is killed with SIGKILL at random moments and at named kill points
/// (after local commit, before send, after send before the answer, inside the transaction recording
/// the answers, mid pull page, inside a page's transaction before its cursor), then restarted on
/// the same database. Every write it reported committed must reach the server exactly once, writes
/// it never reported may be there or not (but whole and once), the database must pass
/// `PRAGMA integrity_check` after every kill, and the documents pulled from another writer must equal
/// the server's at the end.
enum KillLoop {
    static let points = ["random", "after-commit", "before-send", "after-send", "in-ack", "mid-pull", "before-cursor"]

    /// The crash client next to this executable (or `SYNC_CRASH_CLIENT`).
    static var clientPath: String {
        if let path = ProcessInfo.processInfo.environment["SYNC_CRASH_CLIENT"] { return path }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("sync-crash-client").path
    }

    struct Run {
        var committed: [String] = []
        var lines: [String] = []
        var killed = false
        var finished = false
        var hung = false
        var launchError: String?
    }

    /// Runs the client; SIGKILLs it after `killAfter` unless it ended (or killed itself) before.
    /// A client still running at `limit` is killed and reported as hung, never waited on.
    static func runClient(_ arguments: [String], environment: [String: String] = [:],
                          killAfter: Duration? = nil, limit: Duration = .seconds(60)) async -> Run {
        let outcome = await ChildProcess.run(clientPath, arguments,
                                             environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                             limit: limit, killAfter: killAfter, mergeStandardError: false)
        var run = Run()
        run.lines = outcome.text.split(separator: "\n").map(String.init)
        run.committed = run.lines.filter { $0.hasPrefix("committed ") }.map { String($0.dropFirst(10)) }
        run.killed = outcome.killedBySIGKILL && !outcome.timedOut
        run.hung = outcome.timedOut
        run.launchError = outcome.launchError
        run.finished = !outcome.signalled && outcome.status == 0 && run.lines.contains("synced")
        return run
    }

    /// `PRAGMA integrity_check` through the sqlite3 shell (read-only, so it changes nothing).
    static func integrityCheck(_ path: String) -> String {
        guard SQLiteShell.isAvailable else { return "ok" }
        let outcome = ChildProcess.shell(["sqlite3", "-readonly", path, "PRAGMA integrity_check;"], limit: .seconds(60))
        if let error = outcome.launchError { return "sqlite3 not runnable: \(error)" }
        if outcome.timedOut { return "sqlite3 hung (killed after 60 s)" }
        return outcome.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func run(kills target: Int, seed: UInt64, report: Report) async throws {
        guard FileManager.default.isExecutableFile(atPath: clientPath) else {
            report.violation("crash client not found at \(clientPath): build the sync-crash-client product first")
            return
        }
        var random = SeededRandom(seed: seed)
        let server = try await TortureServer.start("kill")
        defer { Task { await server.stop() } }
        let writer = try await SyncLayer(config: SyncConfig(
            baseURL: server.baseURL, collections: ["remote"], authToken: TortureServer.token, enableAutoSync: false,
            storage: .file(server.directory.path("writer.sqlite")), protocolVersion: .v2))
        defer { Task { await writer.close() } }

        let db = server.directory.path("crash-client.sqlite")
        let base = ["--db", db, "--server", server.process.baseURL, "--token", TortureServer.token]
        var committed: [String] = []
        var attempted: Set<String> = []
        var kills = 0
        var killsByPoint: [String: Int] = [:]
        var integrityFailures = 0
        var finishedWithoutKill = 0
        var hungClients = 0
        var round = 0
        let start = ContinuousClock.now
        // Until the target is reached and every point has killed the client at least once.
        func missing() -> [String] { points.filter { killsByPoint[$0] == nil } }
        while (kills < target || !missing().isEmpty) && round < target * 3 {
            defer { round += 1 }
            // Another writer changes the documents the client pulls.
            for id in 0..<3 where random.chance(0.5) {
                try await writer.collection("remote").save(["n": .int(round)], id: "r\(id)")
            }
            try? await writer.syncNow()

            let point = kills >= target ? missing()[round % missing().count] : points[round % points.count]
            let writes = Int.random(in: 5...40, using: &random)
            server.faults.delayResponses(by: random.chance(0.5) ? .milliseconds(Int.random(in: 5...40, using: &random)) : nil)
            let prefix = "k\(round)"
            attempted.formUnion((0..<writes).map { "\(prefix)-\($0)" })
            let run: Run
            if point == "random" {
                report.doing("round \(round): crash client with \(writes) writes, killed at a random moment")
                run = await runClient(base + ["--writes", String(writes), "--prefix", prefix],
                                      killAfter: .milliseconds(Int.random(in: 0...600, using: &random)))
            } else {
                let occurrence = point == "after-commit" ? Int.random(in: 1...writes, using: &random) : Int.random(in: 1...3, using: &random)
                report.doing("round \(round): crash client with \(writes) writes, SYNC_CRASH_AT=\(point):\(occurrence)")
                run = await runClient(base + ["--writes", String(writes), "--prefix", prefix],
                                      environment: ["SYNC_CRASH_AT": "\(point):\(occurrence)"], limit: .seconds(30))
            }
            committed += run.committed
            if run.killed {
                kills += 1
                killsByPoint[point, default: 0] += 1
                let integrity = integrityCheck(db)
                if integrity != "ok" {
                    integrityFailures += 1
                    report.violation("round \(round) (\(point)): integrity_check says \(integrity.prefix(200))")
                }
            } else if run.finished {
                finishedWithoutKill += 1
            } else if run.hung {
                hungClients += 1
                report.violation("round \(round) (\(point)): client hung (killed after 30 s): \(run.lines.suffix(3))")
            } else {
                report.violation("round \(round) (\(point)): client neither finished nor was killed: \(run.launchError ?? "") \(run.lines.suffix(3))")
            }
        }
        // Restart without new writes and without kills: it pushes what is left, pulls, and exits.
        server.faults.reset()
        try await writer.collection("remote").save(["n": .int(round)], id: "r0")
        try await writer.syncNow()
        report.doing("final run: the crash client drains its queue and exits")
        let final = await runClient(base, limit: .seconds(60))
        if !final.finished { report.violation("final run did not finish: \(final.lines.suffix(3))") }

        let records = try await server.records("ledger")
        let committedSet = Set(committed)
        let lost = committedSet.subtracting(records.keys)
        let duplicated = records.filter { $0.value.version != 1 }.map(\.key)
        let unexpected = Set(records.keys).subtracting(attempted)
        let notReportedButPresent = Set(records.keys).subtracting(committedSet).intersection(attempted)
        // The pull side: what the client received from the other writer equals the server.
        let remoteServer = try await server.documents("remote")
            .map { "\($0.key):\($0.value["n"]?.intValue ?? -1)" }.sorted().joined(separator: ",")
        let remoteClient = final.lines.first { $0.hasPrefix("remote ") }.map { String($0.dropFirst(7)) } ?? "<none>"

        report.set("rounds", round)
        report.set("kills", kills)
        report.set("kills by point", points.map { "\($0)=\(killsByPoint[$0] ?? 0)" }.joined(separator: " "))
        report.set("runs that finished before the kill", finishedWithoutKill)
        report.set("clients that hung (killed at their limit)", hungClients)
        report.set("recovered (final run drained and exited)", final.finished ? "\(kills)/\(kills)" : "0/\(kills)")
        report.set("writes reported committed", committed.count)
        report.set("in-flight writes (unreported) that reached the server", notReportedButPresent.count)
        report.set("lost", lost.count)
        report.set("duplicated", duplicated.count)
        report.set("unexpected", unexpected.count)
        report.set("integrity_check failures", SQLiteShell.isAvailable ? "\(integrityFailures)" : "not checked (no sqlite3 shell)")
        report.set("pulled documents equal the server's", remoteClient == remoteServer)
        report.set("seconds", String(format: "%.1f", (ContinuousClock.now - start) / .seconds(1)))
        if !lost.isEmpty { report.violation("lost \(lost.count) committed writes: \(lost.sorted().prefix(5))") }
        if !duplicated.isEmpty { report.violation("applied more than once: \(duplicated.sorted().prefix(5))") }
        if !unexpected.isEmpty { report.violation("never attempted but on the server: \(unexpected.sorted().prefix(5))") }
        if remoteClient != remoteServer { report.violation("pulled \(remoteClient) but the server has \(remoteServer)") }
        if kills < target { report.violation("only \(kills) kills of \(target) landed") }
        if !missing().isEmpty { report.violation("no kill landed at \(missing().joined(separator: ", "))") }
    }
}
