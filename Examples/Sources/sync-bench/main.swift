// sync-bench: the benchmarks of issue 7, each measured against a baseline in the same run.
//
//   swift run -c release --package-path Examples sync-bench [--quick] [--json]
//
// Exit code 0 even when a target is missed (this is a report); non-zero only when a benchmark fails.
import Foundation

let options = BenchOptions(arguments: Array(CommandLine.arguments.dropFirst()))
do {
    try await BenchRunner(options: options).run()
} catch {
    FileHandle.standardError.write(Data("sync-bench failed: \(error)\n".utf8))
    exit(1)
}
