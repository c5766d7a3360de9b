import Foundation
import SyncLayer
import SyncServer
import enum SyncLayer.JSONValue

/// C06/C20 over the real server and WebSocket: 3 realtime clients write at random while the
/// server drops, duplicates and reorders its change and ack messages. After healing (an HTTP sync
/// on every client), every client must equal the server, and each client's single-writer documents
/// must equal its acknowledged writes.
enum RealtimeFuzz {
    static func run(seeds: Range<UInt64>, operations: Int, realtime: Bool = true, report: Report) async throws {
        let server = try await TortureServer.start("realtime")
        defer { Task { await server.stop() } }
        var converged = 0
        var failing: [UInt64] = []
        var disturbed = 0
        var driven = 0
        let start = ContinuousClock.now
        for seed in seeds {
            report.doing("seed \(seed): driving \(operations) operations")
            var random = SeededRandom(seed: seed)
            let collection = "rt\(seed)"
            let strategy = ConvergenceFuzz.strategy(for: seed)
            var clients: [SyncLayer] = []
            for index in 0..<3 {
                clients.append(try await SyncLayer(config: SyncConfig(
                    baseURL: server.baseURL, collections: [collection], authToken: TortureServer.token, maxRetries: 10_000,
                    enableAutoSync: realtime || index != 0, conflictStrategy: strategy,
                    customConflictResolver: strategy == .custom ? ConflictResolvers.deepMerge() : nil,
                    enableRealtimeSync: realtime, websocketURL: URL(string: server.process.webSocketURL)!,
                    websocketReconnectDelay: .milliseconds(50),
                    storage: .file(server.directory.path("rt-\(seed)-\(index).sqlite")), protocolVersion: .v2)))
            }
            let ledger = Ledger()
            var violations: [String] = []
            for step in 0..<operations {
                let client = Int.random(in: 0..<3, using: &random)
                let references = clients[client].collection(collection)
                let token = JSONValue.string("c\(client)-op\(step)")
                if !realtime, random.chance(0.1) {
                    // HTTP faults: a commit whose answer is lost, or answered failures.
                    if random.chance(0.5) {
                        server.faults.dropConnectionAfterCommit(nextWrites: 1)
                    } else {
                        server.faults.failNextWrites(Int.random(in: 1...2, using: &random), status: .serviceUnavailable)
                    }
                    disturbed += 1
                }
                if !realtime, random.chance(0.2) { try? await clients[client].syncNow() }
                if realtime, random.chance(0.15) {
                    let fault: FaultInjector.WebSocketFault = [.drop, .duplicate, .reorder].randomElement(using: &random)!
                    let count = Int.random(in: 1...3, using: &random)
                    server.faults.disturbNextWebSocketMessages(count, with: fault)
                    disturbed += count
                }
                let shared = random.chance(0.6)
                let id = shared ? "s\(Int.random(in: 0..<3, using: &random))" : "c\(client)-own\(Int.random(in: 0..<2, using: &random))"
                let data: [String: JSONValue] = ["v": token, random.chance(0.5) ? "a" : "b": token]
                do {
                    if random.chance(0.3), try await references.get(id) != nil {
                        let patch: [String: JSONValue] = ["p": token]
                        try await ledger.drive(client: client, .update, collection, id, payload: patch) {
                            try await references.update(id, patch)
                        }
                    } else if random.chance(0.1) {
                        _ = try await ledger.drive(client: client, .delete, collection, id, payload: nil) {
                            try await references.delete(id)
                        }
                    } else {
                        _ = try await ledger.drive(client: client, .save, collection, id, payload: data) {
                            try await references.save(data, id: id)
                        }
                    }
                } catch where shared && (error as? SyncLayerError)?.code == .documentNotFound {
                    // The update raced a delete from another client that a background sync applied
                    // between the read and the write: refused as it should be (the ledger has it failed).
                } catch {
                    violations.append("seed \(seed): local write failed: \(error)")
                }
                if random.chance(0.3) { try await Task.sleep(for: .milliseconds(Int.random(in: 1...20, using: &random))) }
            }
            driven += ledger.count
            report.doing("seed \(seed): healing (waiting for pending writes, syncing)")
            // Heal: no more faults; HTTP sync everywhere until stable.
            server.faults.reset()
            for _ in 0..<6 {
                for client in clients { try? await withTimeout(.seconds(20)) { try await client.waitForPendingWrites() } }
                for client in clients { try? await client.syncNow() }
            }
            let serverDocs = try await server.documents(collection)
            var same = true
            for (index, client) in clients.enumerated() {
                let local = try await snapshot(client, collection)
                if Canonical.hash(collection: local) != Canonical.hash(collection: serverDocs) {
                    same = false
                    let differing = Set(local.keys).union(serverDocs.keys).filter { local[$0] != serverDocs[$0] }.sorted()
                    violations.append("seed \(seed) (\(strategy)): client \(index) diverges in \(differing.prefix(3))")
                }
            }
            for id in Set(ledger.all.map(\.id)).filter({ $0.contains("-own") }).sorted() {
                let expected = ledger.modelState(collection: collection, id: id)
                if serverDocs[id] != expected {
                    violations.append("seed \(seed): \(id) server=\(serverDocs[id].map { Canonical.text(.object($0)) } ?? "nil") model=\(expected.map { Canonical.text(.object($0)) } ?? "nil")")
                }
            }
            for client in clients { await client.close() }
            if same { converged += 1 }
            if !violations.isEmpty {
                failing.append(seed)
                for violation in violations.prefix(3) { report.violation(violation) }
            }
        }
        report.set(realtime ? "seeds (3 realtime clients each)" : "seeds (3 HTTP clients each)", seeds.count)
        report.set("operations driven", driven)
        report.set(realtime ? "server WebSocket messages dropped/duplicated/reordered" : "HTTP faults (commit then drop, 503s)", disturbed)
        report.set("converged", "\(converged)/\(seeds.count)")
        report.set("failing seeds", failing.isEmpty ? "none" : failing.map(String.init).joined(separator: ","))
        report.set("seconds", String(format: "%.1f", (ContinuousClock.now - start) / .seconds(1)))
    }
}
