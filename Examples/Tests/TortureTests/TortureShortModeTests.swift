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

    @Test func shortModeHoldsEveryInvariant() async throws {
        let torture = Self.executable("sync-torture")
        let client = Self.executable("sync-crash-client")
        #expect(FileManager.default.isExecutableFile(atPath: torture), "missing \(torture)")
        #expect(FileManager.default.isExecutableFile(atPath: client), "missing \(client)")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: torture)
        process.arguments = ["--short"]
        process.environment = ProcessInfo.processInfo.environment.merging(["SYNC_CRASH_CLIENT": client]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Read off the cooperative pool: the harness runs for tens of seconds.
        let output: String = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        print(output)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0, "sync-torture --short failed:\n\(output)")
        #expect(output.contains("0 failed"))
    }
}
