import Foundation
import Synchronization

/// The harness's child processes (crash clients, the `sqlite3` shell, `mount`, `openssl`).
///
/// Every wait is bounded: a child still running at its limit is SIGKILLed and reported as timed
/// out, never waited on forever. A child reads from /dev/null and writes to a file, never to a
/// pipe of the harness, so nothing it leaves behind can hold the harness's (or CI's) output
/// open; ``killAll()`` ends the ones still running before the harness exits.
enum ChildProcess {
    struct Outcome: Sendable {
        /// The exit status, or the signal number when `signalled`.
        var status: Int32 = -1
        var signalled = false
        /// Standard output (and standard error when merged).
        var output = Data()
        /// Still running at the limit: SIGKILLed by the harness.
        var timedOut = false
        /// Could not be started.
        var launchError: String?

        var text: String { String(decoding: output, as: UTF8.self) }
        var killedBySIGKILL: Bool { signalled && status == SIGKILL }
    }

    private static let running = Mutex<Set<pid_t>>([])

    /// Runs `executable` to its end or to `limit`, whichever comes first; `killAfter` SIGKILLs it
    /// earlier on purpose (a crash test), which is not a timeout.
    static func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                            limit: Duration, killAfter: Duration? = nil, mergeStandardError: Bool = true) -> Outcome {
        var outcome = Outcome()
        let outputURL = FileManager.default.temporaryDirectory
            .appendingPathComponent("sync-torture-child-\(UUID().uuidString).out")
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil),
              let output = try? FileHandle(forWritingTo: outputURL) else {
            outcome.launchError = "cannot create \(outputURL.path)"
            return outcome
        }
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = mergeStandardError ? output : FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            try? output.close()
            outcome.launchError = "\(error)"
            return outcome
        }
        try? output.close()
        let pid = process.processIdentifier
        running.withLock { _ = $0.insert(pid) }
        defer { running.withLock { _ = $0.remove(pid) } }

        let started = DispatchTime.now()
        var ended = false
        if let killAfter, killAfter < limit {
            ended = exited.wait(timeout: started + dispatch(killAfter)) == .success
            if !ended { kill(pid, SIGKILL) }
        }
        if !ended {
            ended = exited.wait(timeout: started + dispatch(limit)) == .success
            if !ended {
                outcome.timedOut = true
                kill(pid, SIGKILL)
                // SIGKILL cannot be caught; a process stuck in the kernel is reported, not awaited.
                ended = exited.wait(timeout: .now() + .seconds(10)) == .success
            }
        }
        if ended {
            outcome.signalled = process.terminationReason == .uncaughtSignal
            outcome.status = process.terminationStatus
        }
        outcome.output = (try? Data(contentsOf: outputURL)) ?? Data()
        return outcome
    }

    /// ``runBlocking(_:_:environment:limit:killAfter:mergeStandardError:)`` off the cooperative
    /// pool (the servers under test run in this process).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    limit: Duration, killAfter: Duration? = nil, mergeStandardError: Bool = true) async -> Outcome {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(executable, arguments, environment: environment, limit: limit,
                                                           killAfter: killAfter, mergeStandardError: mergeStandardError))
            }
        }
    }

    /// A command found on `PATH`, through `/usr/bin/env`.
    static func shell(_ arguments: [String], limit: Duration = .seconds(60)) -> Outcome {
        runBlocking("/usr/bin/env", arguments, limit: limit)
    }

    /// SIGKILLs every child still running (the harness is about to exit).
    static func killAll() {
        for pid in running.withLock({ $0 }) { kill(pid, SIGKILL) }
    }

    /// Starts a long-running child (a server) that the caller stops with ``stop(_:)``; it is
    /// killed by ``killAll()`` if the harness exits first.
    static func start(_ executable: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier
        running.withLock { _ = $0.insert(pid) }
        return process
    }

    /// SIGKILLs a child from ``start(_:_:)`` and reaps it (bounded).
    static func stop(_ process: Process) {
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        running.withLock { _ = $0.remove(pid) }
    }

    private static func dispatch(_ duration: Duration) -> DispatchTimeInterval {
        .nanoseconds(Int(min(duration / .nanoseconds(1), Double(Int.max / 2))))
    }
}
