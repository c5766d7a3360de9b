import Foundation
import Synchronization

/// Gives each scenario a deadline. On expiry it prints which scenario overran and what it was
/// doing (``Report/doing(_:)``) with the figures so far, counts that as a violation, kills the
/// children and exits 1 — from a timer thread, so a scenario stuck on an await that never
/// resumes cannot keep the harness (and CI) waiting.
enum Watchdog {
    private struct Armed {
        var generation = 0
        var report: Report?
    }

    private static let armed = Mutex(Armed())

    /// Starts `report`'s deadline, replacing the previous one.
    static func arm(_ report: Report, limit: Duration, json: Bool) {
        let generation = armed.withLock { armed in
            armed.generation += 1
            armed.report = report
            return armed.generation
        }
        let nanoseconds = Int(min(limit / .nanoseconds(1), Double(Int.max / 2)))
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
            guard armed.withLock({ $0.generation == generation }) else { return }
            expire(report, limit: limit, json: json)
        }
    }

    /// The scenario ended in time.
    static func disarm() {
        armed.withLock { armed in
            armed.generation += 1
            armed.report = nil
        }
    }

    private static func expire(_ report: Report, limit: Duration, json: Bool) -> Never {
        report.violation("watchdog: scenario \(report.name) did not end within \(limit) while: \(report.activity)")
        if json {
            let object: [String: Any] = ["passed": false, "watchdog": report.name, "scenarios": [report.json]]
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
        } else {
            print("WATCHDOG: scenario \(report.name) did not end within \(limit); it was: \(report.activity)")
            report.printText()
            print("sync-torture: stopped by the watchdog, 1 failed")
        }
        fflush(nil)  // every output stream (exit flushes too; this is before the kills)
        ChildProcess.killAll()
        ScratchDirectory.removeAll()
        exit(1)
    }
}
