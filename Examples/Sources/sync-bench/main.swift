// sync-bench: the benchmarks of issue 7, each measured against a baseline in the same run.
//
//   swift run -c release --package-path Examples sync-bench [--quick] [--json]
//   sync-bench --server-write [N]   the reference server's batch write path alone, CPU per op
//
// Exit code 0 even when a target is missed (this is a report); non-zero only when a benchmark fails.
import Foundation

if CommandLine.arguments.count >= 2, CommandLine.arguments[1] == "--server-write" {
    do {
        try await ServerWriteProbe.run(count: CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 100_000 : 100_000)
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("sync-bench --server-write failed: \(error)\n".utf8))
        exit(1)
    }
}
if (4...5).contains(CommandLine.arguments.count), CommandLine.arguments[1] == "--p6-child" {
    // P6 measured in a fresh process (see SyncBenchmarks.pullInChildProcess).
    do {
        try await SyncBenchmarks.runChildPull(baseURL: CommandLine.arguments[2], path: CommandLine.arguments[3],
                                              viaURLSession: CommandLine.arguments.count == 5)
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("sync-bench --p6-child failed: \(error)\n".utf8))
        exit(1)
    }
}
let options = BenchOptions(arguments: Array(CommandLine.arguments.dropFirst()))
do {
    try await BenchRunner(options: options).run()
} catch {
    FileHandle.standardError.write(Data("sync-bench failed: \(error)\n".utf8))
    exit(1)
}
