import Foundation
import GRDB
@_spi(Testing) import SyncLayer
import SyncLayerTesting

/// C20/R4: seeded convergence runs. 3–5 clients share one in-memory v2 server through faulty links
/// (offline periods, failures before the server, answers lost after commit, pushes delivered twice)
/// and write at random: saves, patches and deletes of shared documents, documents one client alone
/// writes, and insert-only events. After healing, every client and the server must hold the same
/// canonical hash per collection, a single writer's documents must equal its acknowledged writes,
/// every event must be applied exactly once, and no value may appear that nobody wrote.
///
/// Clock skew: each client's wall clock runs off by a seeded amount (±5 minutes, one in five
/// clients 1–24 hours ahead), so the hybrid-logical-clock stamps that order writes differ from the
/// order the driver issued them in. Under last write wins, the checker models each shared
/// document from those stamps, read from each client's store right after the write (see
/// ``LastWriteWinsModel``): the server must end with the document as the write with the largest
/// stamp left it.
enum ConvergenceFuzz {
    static let shared = "shared"
    static let owned = "owned"
    static let events = "events"

    struct Outcome {
        var converged = true
        var violations: [String] = []
        var operations = 0
        var droppedAnswers = 0
        var doubleDeliveries = 0
        var failedRequests = 0
        var syncRounds = 0
        var skews: [Duration] = []
        var model = LastWriteWinsModel.Figures()
    }

    /// Each client's clock offset for a seed: ±5 minutes, one in five clients 1–24 hours ahead
    /// (inside the clock's 7-day limit on following a remote stamp). Own generator, so the
    /// operations a seed drives do not depend on it.
    static func skews(seed: UInt64, clients: Int) -> [Duration] {
        var random = SeededRandom(seed: seed ^ 0x5EED_C10C)
        return (0..<clients).map { _ in
            random.chance(0.2) ? .milliseconds(Int.random(in: 3_600_000...86_400_000, using: &random))
                : .milliseconds(Int.random(in: -300_000...300_000, using: &random))
        }
    }

    static func strategy(for seed: UInt64) -> ConflictStrategy {
        ConflictStrategy.allCases[Int(seed % UInt64(ConflictStrategy.allCases.count))]
    }

    /// One seeded run; deterministic for a seed (sync runs only when the driver asks).
    static func run(seed: UInt64, operations: Int, breakDeduplication: Bool = false) async throws -> Outcome {
        var random = SeededRandom(seed: seed)
        let clientCount = Int.random(in: 3...5, using: &random)
        let strategy = strategy(for: seed)
        let server = InMemoryBackend(maxOpsPerBatch: Int.random(in: 1...8, using: &random),
                                     maxPullLimit: Int.random(in: 1...10, using: &random))
        let faults = FaultyLink.Faults(failBefore: 0.1, dropAnswer: 0.15, deliverTwice: breakDeduplication ? 0.5 : 0.1,
                                       breakDeduplication: breakDeduplication)
        var links: [FaultyLink] = []
        var clients: [SyncLayer] = []
        let skews = skews(seed: seed, clients: clientCount)
        // Last write wins is checked against the clients' own stamps, read from their files.
        let modelled = strategy == .lastWriteWins && !breakDeduplication
        let directory = modelled ? try ScratchDirectory("fuzz-\(seed)") : nil
        defer { directory?.remove() }
        var stores: [DatabaseQueue] = []
        for index in 0..<clientCount {
            let link = FaultyLink(server: server, seed: seed &* 31 &+ UInt64(index), faults: faults)
            links.append(link)
            clients.append(try SyncLayer(config: SyncConfig(
                collections: [shared, owned, events], maxRetries: 10_000, enableAutoSync: false,
                conflictStrategy: strategy,
                customConflictResolver: strategy == .custom ? ConflictResolvers.deepMerge() : nil,
                storage: directory.map { .file($0.path("client-\(index).sqlite")) } ?? .inMemory, customBackend: link),
                clockSkew: skews[index]))
            if let directory {
                var configuration = Configuration()
                configuration.readonly = true
                stores.append(try DatabaseQueue(path: directory.path("client-\(index).sqlite"), configuration: configuration))
            }
        }
        defer { for client in clients { Task { await client.close() } } }
        let model = LastWriteWinsModel()

        let ledger = Ledger()
        var outcome = Outcome()
        let sharedIDs = (0..<4).map { "s\($0)" }
        let fields = ["a", "b", "c"]
        var eventCount = 0
        for step in 0..<operations {
            let client = Int.random(in: 0..<clientCount, using: &random)
            let sdk = clients[client]
            let roll = Int.random(in: 0..<100, using: &random)
            let token = JSONValue.string("c\(client)-op\(step)")
            do {
                switch roll {
                case 0..<25:
                    let id = sharedIDs.randomElement(using: &random)!
                    var data: [String: JSONValue] = [:]
                    for field in fields where random.chance(0.6) { data[field] = token }
                    try await model.record(step: step, client: client, .save, id, sdk: sdk, store: stores[safe: client]) {
                        _ = try await ledger.drive(client: client, .save, shared, id, payload: data) {
                            try await sdk.collection(shared).save(data, id: id)
                        }
                    }
                case 25..<45:
                    let id = sharedIDs.randomElement(using: &random)!
                    let patch = [fields.randomElement(using: &random)!: token]
                    guard try await sdk.collection(shared).get(id) != nil else { continue }
                    try await model.record(step: step, client: client, .update, id, sdk: sdk, store: stores[safe: client]) {
                        try await ledger.drive(client: client, .update, shared, id, payload: patch) {
                            try await sdk.collection(shared).update(id, patch)
                        }
                    }
                case 45..<52:
                    let id = sharedIDs.randomElement(using: &random)!
                    try await model.record(step: step, client: client, .delete, id, sdk: sdk, store: stores[safe: client]) {
                        _ = try await ledger.drive(client: client, .delete, shared, id, payload: nil) {
                            try await sdk.collection(shared).delete(id)
                        }
                    }
                case 52..<70:
                    let id = "c\(client)-d\(Int.random(in: 0..<3, using: &random))"
                    let kind = Int.random(in: 0..<10, using: &random)
                    let exists = try await sdk.collection(owned).get(id) != nil
                    if kind < 5 || !exists {
                        let data: [String: JSONValue] = ["v": token, "n": .int(step)]
                        _ = try await ledger.drive(client: client, .save, owned, id, payload: data) {
                            try await sdk.collection(owned).save(data, id: id)
                        }
                    } else if kind < 8 {
                        let patch: [String: JSONValue] = ["p": token]
                        try await ledger.drive(client: client, .update, owned, id, payload: patch) {
                            try await sdk.collection(owned).update(id, patch)
                        }
                    } else {
                        _ = try await ledger.drive(client: client, .delete, owned, id, payload: nil) {
                            try await sdk.collection(owned).delete(id)
                        }
                    }
                case 70..<80:
                    eventCount += 1
                    let id = "c\(client)-e\(step)"
                    let data: [String: JSONValue] = ["n": .int(step)]
                    _ = try await ledger.drive(client: client, .save, events, id, payload: data) {
                        try await sdk.collection(events).save(data, id: id)
                    }
                case 80..<88:
                    await links[client].setOnline(!(await links[client].online))
                default:
                    try? await sdk.syncNow()
                }
            } catch {
                outcome.violations.append("seed \(seed): local write failed: \(error)")
            }
        }
        outcome.operations = ledger.count

        // Heal and drain: every client online with no faults, sync until a full round changes nothing.
        for link in links {
            outcome.droppedAnswers += await link.droppedAnswers
            outcome.doubleDeliveries += await link.doubleDeliveries
            outcome.failedRequests += await link.failedRequests
            await link.setOnline(true)
            await link.setFaults(.none)
        }
        var stable = false
        for round in 0..<12 {
            outcome.syncRounds = round + 1
            let before = await server.appliedCount
            for client in clients { try? await client.syncNow() }
            var pending = 0
            for client in clients { pending += try await client.outboxCounts().pending }
            if pending == 0, await server.appliedCount == before { stable = true; break }
        }
        if !stable { outcome.violations.append("seed \(seed): queues did not drain / kept changing after 12 rounds") }

        // Convergence: canonical hash per collection on every client and the server.
        for collection in [shared, owned, events] {
            let serverDocs = await server.documents(collection)
            let serverHash = Canonical.hash(collection: serverDocs)
            for (index, client) in clients.enumerated() {
                let local = try await snapshot(client, collection)
                if Canonical.hash(collection: local) != serverHash {
                    outcome.converged = false
                    let differing = Set(local.keys).union(serverDocs.keys).filter { local[$0] != serverDocs[$0] }.sorted()
                    outcome.violations.append(
                        "seed \(seed) (\(strategy)): client \(index) diverges from the server in \(collection): "
                            + differing.prefix(3).map { "\($0) local=\(local[$0].map { Canonical.text(.object($0)) } ?? "nil") server=\(serverDocs[$0].map { Canonical.text(.object($0)) } ?? "nil")" }.joined(separator: "; "))
                }
            }
            // Unexpected: every live value was written by someone.
            for (id, data) in serverDocs {
                let written = ledger.writtenValues(collection, id)
                if !ledger.all.contains(where: { $0.collection == collection && $0.id == id }) { outcome.violations.append("seed \(seed): unexpected document \(collection)/\(id)") }
                for (field, value) in data where !written.contains(field + "=" + Canonical.text(value)) {
                    outcome.violations.append("seed \(seed): unexpected value \(collection)/\(id).\(field)=\(Canonical.text(value))")
                }
            }
        }
        // Last write wins: each shared document as its latest-stamped write left it.
        if modelled {
            let serverShared = await server.documents(shared)
            var revived: Set<String> = []
            for link in links { revived.formUnion(await link.revived) }
            var stamps: [String: String] = [:]
            for id in sharedIDs { stamps[id] = await server.record(shared, id)?.hlc }
            outcome.model = model.check(sharedIDs, server: serverShared, stamps: stamps,
                                        revived: Set(revived.filter { $0.hasPrefix(shared + "/") }.map { String($0.dropFirst(shared.count + 1)) }))
            for mismatch in outcome.model.mismatches {
                outcome.violations.append("seed \(seed) (lastWriteWins, skews \(skews.map(LastWriteWinsModel.minutes))): \(mismatch)")
            }
        }
        outcome.skews = skews

        // Lost: a single writer's documents equal its acknowledged writes.
        let ownedServer = await server.documents(owned)
        let ownedIDs = Set(ledger.all.filter { $0.collection == owned }.map(\.id))
        for id in ownedIDs.sorted() {
            let expected = ledger.modelState(collection: owned, id: id)
            if ownedServer[id] != expected {
                outcome.violations.append("seed \(seed): owned/\(id) server=\(ownedServer[id].map { Canonical.text(.object($0)) } ?? "nil") model=\(expected.map { Canonical.text(.object($0)) } ?? "nil")")
            }
        }
        // Lost and duplicated events: each acknowledged event on the server once, at version 1.
        for entry in ledger.all where entry.collection == events && entry.outcome == .ok {
            guard let record = await server.record(events, entry.id), record.data != nil else {
                outcome.violations.append("seed \(seed): lost event \(entry.id)")
                continue
            }
            if record.version != 1 { outcome.violations.append("seed \(seed): event \(entry.id) applied \(record.version) times") }
        }
        return outcome
    }

    /// The checker's self-test: against a server that applies re-delivered pushes again, it must
    /// find duplicates (or the checks above would prove nothing).
    static func selfTest(seeds: Range<UInt64>, report: Report) async {
        var detecting = 0
        for seed in seeds {
            report.doing("checker self-test, seed \(seed)")
            let outcome = try? await run(seed: seed, operations: 60, breakDeduplication: true)
            if let outcome, !outcome.violations.isEmpty { detecting += 1 }
        }
        report.set("checker self-test: seeds against a server without deduplication that were flagged",
                   "\(detecting)/\(seeds.count)")
        if detecting == 0 { report.violation("the checker found nothing against a server that applies pushes twice") }
    }

    static func run(seeds: Range<UInt64>, operations: Int, report: Report) async {
        var converged = 0
        var failingSeeds: [UInt64] = []
        var totals = Outcome()
        var perStrategy: [ConflictStrategy: Int] = [:]
        let start = ContinuousClock.now
        for seed in seeds {
            report.doing("seed \(seed) (\(strategy(for: seed).rawValue)), \(operations) operations")
            do {
                let outcome = try await run(seed: seed, operations: operations)
                totals.operations += outcome.operations
                totals.droppedAnswers += outcome.droppedAnswers
                totals.doubleDeliveries += outcome.doubleDeliveries
                totals.failedRequests += outcome.failedRequests
                totals.skews += outcome.skews
                totals.model.add(outcome.model)
                perStrategy[strategy(for: seed), default: 0] += 1
                if outcome.converged { converged += 1 }
                if !outcome.violations.isEmpty {
                    failingSeeds.append(seed)
                    for violation in outcome.violations.prefix(3) { report.violation(violation) }
                }
            } catch {
                failingSeeds.append(seed)
                report.violation("seed \(seed): run threw \(error)")
            }
        }
        report.set("seeds", seeds.count)
        report.set("first seed", seeds.lowerBound)
        report.set("operations driven", totals.operations)
        report.set("strategies", ConflictStrategy.allCases.map { "\($0.rawValue)=\(perStrategy[$0] ?? 0)" }.joined(separator: " "))
        report.set("injected: answers lost after commit", totals.droppedAnswers)
        report.set("injected: pushes delivered twice", totals.doubleDeliveries)
        report.set("injected: requests failed before the server", totals.failedRequests)
        let skewMinutes = totals.skews.map { $0 / .seconds(60) }
        report.set("clock skews: clients, range (minutes), hours ahead",
                   String(format: "%d, %.1f…%.1f, %d", totals.skews.count, skewMinutes.min() ?? 0, skewMinutes.max() ?? 0,
                          skewMinutes.filter { $0 >= 60 }.count))
        report.set("last-write-wins model: shared documents checked against the latest stamp",
                   "\(totals.model.documents) (\(totals.model.matched) matched, \(totals.model.explained) by protocol rules, \(totals.model.mismatches.count) mismatches)")
        report.set("converged", "\(converged)/\(seeds.count)")
        report.set("failing seeds", failingSeeds.isEmpty ? "none" : failingSeeds.map(String.init).joined(separator: ","))
        report.set("seconds", String(format: "%.1f", (ContinuousClock.now - start) / .seconds(1)))
    }
}
