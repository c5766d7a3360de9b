import Foundation
import Synchronization

/// The figures and invariant violations of one scenario (`kill`, `acks`, `fuzz`, …).
final class Report: Sendable {
    let name: String
    private struct State {
        var figures: [(String, String)] = []
        var violations: [String] = []
        var notes: [String] = []
        var activity = "starting"
    }
    private let state = Mutex(State())

    init(_ name: String) { self.name = name }

    /// Sets (or replaces) a figure; the order of first setting is the printing order.
    func set(_ key: String, _ value: some CustomStringConvertible) {
        state.withLock { state in
            if let index = state.figures.firstIndex(where: { $0.0 == key }) {
                state.figures[index].1 = value.description
            } else {
                state.figures.append((key, value.description))
            }
        }
    }

    /// Records a broken invariant; the run exits non-zero.
    func violation(_ message: String) { state.withLock { $0.violations.append(message) } }

    /// Records an observation that is not a failure (a skipped variant, a limitation).
    func note(_ message: String) { state.withLock { $0.notes.append(message) } }

    /// What the scenario is doing now, for the watchdog's message.
    func doing(_ activity: String) { state.withLock { $0.activity = activity } }

    var activity: String { state.withLock { $0.activity } }
    var figures: [(String, String)] { state.withLock { $0.figures } }
    var violations: [String] { state.withLock { $0.violations } }
    var notes: [String] { state.withLock { $0.notes } }
    var passed: Bool { violations.isEmpty }

    func printText() {
        let mark = passed ? "PASS" : "FAIL"
        print("== \(name): \(mark)")
        for (key, value) in figures { print("   \(key): \(value)") }
        for note in notes { print("   note: \(note)") }
        for violation in violations.prefix(20) { print("   VIOLATION: \(violation)") }
        if violations.count > 20 { print("   … \(violations.count - 20) more violations") }
    }

    var json: [String: Any] {
        ["name": name, "passed": passed, "figures": Dictionary(figures, uniquingKeysWith: { $1 }),
         "violations": violations, "notes": notes]
    }
}

/// A seeded generator (SplitMix64): the same seed drives the same run.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
}

/// A folder under the system temp directory, removed by `remove()` or, at the latest, by
/// `removeAll()` before the harness exits (servers stop in detached tasks that may not finish).
struct ScratchDirectory {
    let url: URL
    private static let created = Mutex<[URL]>([])

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("sync-torture-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let url = url
        Self.created.withLock { $0.append(url) }
    }

    static func removeAll() {
        for url in created.withLock({ $0 }) { try? FileManager.default.removeItem(at: url) }
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The `sqlite3` shell, used read-only for `PRAGMA integrity_check` and the schema. CI machines
/// may lack it (only libsqlite3-dev is installed there); the checks that need it are then skipped
/// and noted.
enum SQLiteShell {
    static let isAvailable: Bool = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/sqlite3") }
    }()
}
