import Foundation
import SyncLayer
import SyncLayerTesting
import SyncServer

/// `sync-bench --server-write [N]`: the reference server's batch write path alone (no HTTP, no client):
/// N inserts in batches of 2 000 into a new database file, as a P5 drain sends them. Prints the CPU
/// time per op of the writing process, which is steadier on a shared machine than the wall time.
enum ServerWriteProbe {
    /// `Workload.document` in the server's JSON type.
    static func document(_ index: Int) -> [String: SyncServer.JSONValue] {
        ["title": .string("item \(index)"), "done": .bool(index % 2 == 0), "prio": .int(Int64(index % 1000))]
    }

    static func run(count: Int) async throws {
        let folder = try TempFolder("server-write")
        let store = try SQLiteSyncStore(path: folder.file("server.sqlite"))
        let batch = 2_000
        let clientID = "probe"
        let cpuStart = CPU.seconds
        let start = ContinuousClock.now
        var next = 0
        while next < count {
            let operations = (next..<min(next + batch, count)).map { index in
                WriteOperation(opID: "op-\(index)", clientID: clientID, collection: "bench", recordID: String(format: "r%08d", index),
                               kind: .insert, payload: document(index), baseVersion: nil,
                               hlc: nil, rules: .v2)
            }
            let outcomes = try await store.write(operations, limits: DocumentLimits())
            guard outcomes.allSatisfy({ if case .applied = $0 { true } else { false } }) else {
                throw BenchFailure("server write probe: an insert was not applied")
            }
            next += batch
        }
        let seconds = (ContinuousClock.now - start).seconds
        let cpu = CPU.seconds - cpuStart
        FileHandle.standardOutput.write(Data(String(format: "server write: %d inserts in batches of %d: %.1f µs CPU and %.1f µs wall per op",
                     count, batch, cpu / Double(count) * 1e6, seconds / Double(count) * 1e6).utf8 + [10]))
    }
}

/// `sync-bench --drain-probe [N]`: P5's v2 drain alone, for a profiler. Starts the server process, seeds N
/// queued inserts, writes "draining <pid> <server pid>" to standard error, waits 2 s (time to attach
/// `perf record -p`), then drains them to that server, writes "drained" to standard error once every op
/// is acknowledged (before the pull that follows) and prints the rate and each process's CPU per op.
enum DrainProbe {
    static func run(count: Int) async throws {
        let folder = try TempFolder("drain-probe")
        let server = try await ServerProcess.start(database: folder.file("server.sqlite"))
        try await SyncBenchmarks.seedOutbox(path: folder.file("client.sqlite"), count: count)
        FileHandle.standardError.write(Data("draining \(ProcessInfo.processInfo.processIdentifier) \(server.pid)\n".utf8))
        try await Task.sleep(for: .seconds(2))
        let drained = try await SyncBenchmarks.drain(server: server, path: folder.file("client.sqlite"), count: count, version: .v2,
                                                   whenDrained: { FileHandle.standardError.write(Data("drained\n".utf8)) })
        await server.stop()
        FileHandle.standardOutput.write(Data(String(format: "drain: %d ops: %.0f ops/s; CPU per op: client %.1f µs, server %.1f µs",
                     count, drained.opsPerSecond, drained.clientCPUPerOp * 1e6, (drained.serverCPUPerOp ?? .nan) * 1e6).utf8 + [10]))
    }
}

/// `sync-bench --client-drain [N]`: the client's side of P5 alone. N queued inserts drain to an
/// `InMemoryBackend` in this process (2 000 ops per batch, as the reference server takes), timed as P5
/// times a drain; prints the CPU time per op, which is the SDK's outbox work (take, encode, acknowledge) plus the in-memory
/// backend's dictionary writes, without HTTP or a server.
enum ClientDrainProbe {
    static func run(count: Int) async throws {
        let folder = try TempFolder("client-drain")
        try await SyncBenchmarks.seedOutbox(path: folder.file("client.sqlite"), count: count)
        let sync = try await SyncLayer(config: SyncConfig(
            collections: ["bench"], enableAutoSync: false, storage: .file(folder.file("client.sqlite")),
            customBackend: InMemoryBackend(maxOpsPerBatch: 2_000)))
        let drained = try await SyncBenchmarks.measureDrain(of: sync, count: count, label: "client drain", server: nil)
        FileHandle.standardOutput.write(Data(String(format: "client drain: %d ops: %.0f ops/s, %.1f µs CPU per op",
                     count, drained.opsPerSecond, drained.clientCPUPerOp * 1e6).utf8 + [10]))
    }
}
