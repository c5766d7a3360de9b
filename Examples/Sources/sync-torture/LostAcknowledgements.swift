import Foundation
import SyncLayer
import SyncServer
import enum SyncLayer.JSONValue

/// C05/R3: the server commits a push, then drops the connection without answering. The client
/// cannot know whether it was applied; its retry carries the same op ids, and the server must
/// answer `duplicate` instead of applying again.
enum LostAcknowledgements {
    static func run(injections: Int, report: Report) async throws {
        let server = try await TortureServer.start("acks")
        defer { Task { await server.stop() } }
        let client = try await SyncLayer(config: SyncConfig(
            baseURL: server.baseURL, collections: ["events", "counters"], authToken: TortureServer.token,
            maxRetries: 10_000, enableAutoSync: false, storage: .file(server.directory.path("client.sqlite")),
            protocolVersion: .v2))
        defer { Task { await client.close() } }
        let events = client.collection("events")
        let counters = client.collection("counters")
        try await counters.save(["n": 0], id: "counter")
        try await client.syncNow()

        let ledger = Ledger()
        var indeterminate = 0
        var unexpectedSuccess = 0
        var retriesNeeded = 0
        let start = ContinuousClock.now
        for i in 0..<injections {
            report.doing("injection \(i + 1) of \(injections)")
            let event: [String: JSONValue] = ["i": .int(i)]
            _ = try await ledger.drive(client: 0, .save, "events", "e\(i)", payload: event) {
                try await events.save(event, id: "e\(i)")
            }
            let patch: [String: JSONValue] = ["n": .int(i + 1)]
            try await ledger.drive(client: 0, .update, "counters", "counter", payload: patch) {
                try await counters.update("counter", patch)
            }
            server.faults.dropConnectionAfterCommit(nextWrites: 1)
            do {
                try await client.syncNow()
                unexpectedSuccess += 1
            } catch {
                indeterminate += 1
            }
            // The retry: same op ids; the server must deduplicate.
            var attempts = 0
            while try await client.pendingOperationCount() > 0 {
                attempts += 1
                if attempts > 20 { report.violation("injection \(i): queue not drained after 20 retries"); break }
                do { try await client.syncNow() } catch { retriesNeeded += 1 }
            }
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        server.faults.reset()

        let serverEvents = try await server.records("events")
        var lost = 0
        var duplicated = 0
        for i in 0..<injections {
            report.doing("injection \(i + 1) of \(injections)")
            guard let record = serverEvents["e\(i)"], record.data == ["i": .int(i)] else { lost += 1; continue }
            if record.version != 1 { duplicated += 1 }
        }
        let counter = try await server.records("counters")["counter"]
        // One version for the save, one per patch: any repeat application shows as a higher version.
        let counterExtra = (counter?.version ?? 0) - (1 + injections)
        if counterExtra > 0 { duplicated += counterExtra }
        if counter?.data?["n"] != .int(injections) { lost += 1 }
        let local = try await snapshot(client, "events")
        let converged = Canonical.hash(collection: local) == Canonical.hash(collection: serverEvents.compactMapValues(\.data))

        report.set("injections (commit, then connection dropped)", injections)
        report.set("client saw an indeterminate failure", indeterminate)
        report.set("retries that failed again", retriesNeeded)
        report.set("writes driven (ledger)", ledger.count)
        report.set("lost", lost)
        report.set("duplicate applications", duplicated)
        report.set("client and server converged", converged)
        report.set("seconds", String(format: "%.1f", seconds))
        if unexpectedSuccess > 0 { report.violation("\(unexpectedSuccess) syncs succeeded although the answer was dropped") }
        if lost > 0 { report.violation("\(lost) acknowledged writes lost") }
        if duplicated > 0 { report.violation("\(duplicated) duplicate applications") }
        if !converged { report.violation("client and server differ after the queue drained") }
    }
}
