import Foundation
import Testing

/// CI runs the reliability harness (`sync-torture --short`, doc/RELIABILITY.md) as a test: every
/// scenario's invariants must hold.
@Suite struct TortureShortModeTests {
    /// An executable built next to this test bundle.
    static func executable(_ name: String) -> String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return name
    }

    struct Run {
        var output = ""
        var status: Int32 = -1
        var exited = false
        var timedOut = false
    }

    /// Runs sync-torture with `arguments`; a run still going after `limit` is killed and reported.
    /// Its output goes to a file, not a pipe, so a process it leaves behind cannot keep this test
    /// waiting for the end of a pipe.
    static func torture(_ arguments: [String], limit: Duration) async throws -> Run {
        let torture = executable("sync-torture")
        let client = executable("sync-crash-client")
        #expect(FileManager.default.isExecutableFile(atPath: torture), "missing \(torture)")
        #expect(FileManager.default.isExecutableFile(atPath: client), "missing \(client)")

        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("sync-torture-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let output = try FileHandle(forWritingTo: outputURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: torture)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["SYNC_CRASH_CLIENT": client]) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        try output.close()
        let pid = process.processIdentifier
        let nanoseconds = Int(limit / .nanoseconds(1))
        // Waited off the cooperative pool: the harness runs for tens of seconds.
        let timedOut: Bool = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                if exited.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success {
                    continuation.resume(returning: false)
                } else {
                    kill(pid, SIGKILL)
                    _ = exited.wait(timeout: .now() + .seconds(10))
                    continuation.resume(returning: true)
                }
            }
        }
        var run = Run(timedOut: timedOut)
        run.output = String(decoding: (try? Data(contentsOf: outputURL)) ?? Data(), as: UTF8.self)
        if !process.isRunning {
            run.exited = process.terminationReason == .exit
            run.status = process.terminationStatus
        }
        return run
    }

    @Test func shortModeHoldsEveryInvariant() async throws {
        let run = try await Self.torture(["--short"], limit: .seconds(600))
        print(run.output)
        #expect(!run.timedOut, "sync-torture --short still running after 10 minutes, killed:\n\(run.output)")
        #expect(run.exited)
        #expect(run.status == 0, "sync-torture --short failed:\n\(run.output)")
        #expect(run.output.contains("0 failed"))
        // Every named kill point was reached and killed the client at least once.
        for point in ["after-commit", "before-send", "after-send", "in-ack", "mid-pull", "before-cursor"] {
            #expect(!run.output.contains(" \(point)=0"), "no kill at \(point):\n\(run.output)")
        }
    }

    /// Last write wins by stamp, under clock skew: seeds where the server kept an older write than
    /// the latest-stamped one (doc/RELIABILITY.md, "Bugs found"). 880: a conflict resolution
    /// re-stamped the write it kept; 445: a winner equal to the server's data left the older stamp
    /// on the server (both fixed in the SDK).
    @Test(arguments: [880, 445])
    func lastWriteWinsKeepsTheLatestStampedWrite(seed: Int) async throws {
        let run = try await Self.torture(["--only", "fuzz", "--long", "--seed", String(seed), "--seeds", "1"],
                                         limit: .seconds(300))
        #expect(!run.timedOut)
        #expect(run.exited && run.status == 0, "seed \(seed):\n\(run.output)")
    }

    /// Seed 910: a client's delete is answered "applied, no change" by another client's newer
    /// tombstone. The answer carries the tombstone's stamp (the client's clock moves past it), and
    /// a write queued behind the delete is not re-based onto the tombstone's version, so it comes
    /// back as a conflict and loses to the newer delete instead of applying over it.
    @Test func writeQueuedBehindADeleteAnsweredByATombstoneDoesNotOverrideIt() async throws {
        let run = try await Self.torture(["--only", "fuzz", "--long", "--seed", "910", "--seeds", "1"], limit: .seconds(300))
        #expect(!run.timedOut)
        #expect(run.exited && run.status == 0, "seed 910:\n\(run.output)")
    }

    /// A scenario that overruns its deadline stops the harness with a message naming it, instead
    /// of hanging CI until its own limit.
    @Test func watchdogStopsAnOverrunningScenario() async throws {
        let run = try await Self.torture(["--only", "fuzz", "--deadline", "0.5"], limit: .seconds(120))
        #expect(!run.timedOut, "the watchdog did not stop sync-torture:\n\(run.output)")
        #expect(run.exited && run.status == 1, "exit \(run.status):\n\(run.output)")
        #expect(run.output.contains("WATCHDOG: scenario fuzz did not end within"), "\(run.output)")
        #expect(run.output.contains("it was: seed"), "the message should say what the scenario was doing:\n\(run.output)")
    }
}
