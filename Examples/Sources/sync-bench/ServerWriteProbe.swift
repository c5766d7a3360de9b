import Foundation
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
