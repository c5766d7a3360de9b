// sync-bench: the benchmarks of issue 7, each measured against a baseline in the same run.
//
//   swift run -c release --package-path Examples sync-bench [--quick] [--json]
//   sync-bench --server-write [N]   the reference server's batch write path alone, CPU per op
//   sync-bench --drain-probe [N]    P5's v2 drain alone, for a profiler (prints the pids, waits 2 s)
//   sync-bench --client-drain [N]   P5's client side alone (to an in-memory backend), CPU per op
//
// Internal modes, run by the benchmarks as child processes:
//   sync-bench --serve DB            the reference server on a free port (ServerProcess)
//   sync-bench --p6-child URL PATH [urlsession]   P6's pulling client
//
// Exit code 0 even when a target is missed (this is a report); non-zero only when a benchmark fails.
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
/// The count argument of a probe, 100 000 by default.
let count = arguments.count > 1 ? Int(arguments[1]) ?? 100_000 : 100_000
let mode: (() async throws -> Void)? = switch arguments.first {
case "--server-write": { try await ServerWriteProbe.run(count: count) }
case "--drain-probe": { try await DrainProbe.run(count: count) }
case "--client-drain": { try await ClientDrainProbe.run(count: count) }
case "--serve" where arguments.count == 2: { try await ServerProcess.serve(database: arguments[1]) }
case "--p6-child" where (3...4).contains(arguments.count):
    // P6 measured in a fresh process (see SyncBenchmarks.pullInChildProcess).
    { try await SyncBenchmarks.runChildPull(baseURL: arguments[1], path: arguments[2], viaURLSession: arguments.count == 4) }
default: nil
}
do {
    if let mode {
        try await mode()
    } else {
        try await BenchRunner(options: BenchOptions(arguments: arguments)).run()
    }
} catch {
    FileHandle.standardError.write(Data("sync-bench \(arguments.first ?? "") failed: \(error)\n".utf8))
    exit(1)
}
exit(0)
