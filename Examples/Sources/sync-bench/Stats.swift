import Foundation

/// Samples of one measure (seconds, or operations per second) and their summary.
struct Samples {
    var values: [Double] = []

    mutating func add(_ value: Double) { values.append(value) }

    var sorted: [Double] { values.sorted() }
    var median: Double { percentile(50) }
    var minimum: Double { values.min() ?? .nan }
    var maximum: Double { values.max() ?? .nan }

    /// Nearest-rank percentile.
    func percentile(_ p: Double) -> Double {
        let s = sorted
        guard !s.isEmpty else { return .nan }
        let rank = Int((p / 100 * Double(s.count)).rounded(.up)) - 1
        return s[min(max(rank, 0), s.count - 1)]
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

/// Seconds spent in `body`.
func measure(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    return (ContinuousClock.now - start).seconds
}

enum Format {
    static func rate(_ perSecond: Double) -> String {
        if perSecond >= 1_000_000 { return String(format: "%.2fM/s", perSecond / 1_000_000) }
        if perSecond >= 1_000 { return String(format: "%.1fk/s", perSecond / 1_000) }
        return String(format: "%.0f/s", perSecond)
    }

    static func time(_ seconds: Double) -> String {
        if seconds < 1e-3 { return String(format: "%.0f µs", seconds * 1e6) }
        if seconds < 1 { return String(format: "%.2f ms", seconds * 1e3) }
        return String(format: "%.2f s", seconds)
    }

    static func rateSpread(_ s: Samples) -> String {
        "\(rate(s.median)) (\(rate(s.minimum))–\(rate(s.maximum)), n=\(s.values.count))"
    }

    static func timeSpread(_ s: Samples) -> String {
        "\(time(s.median)) (\(time(s.minimum))–\(time(s.maximum)), n=\(s.values.count))"
    }

    static func megabytes(_ kib: Int) -> String { String(format: "%.0f MB", Double(kib) / 1024) }
}

/// CPU time of this process, from getrusage.
enum CPU {
    /// User and system CPU time this process has used, in seconds (every thread).
    static var seconds: Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return value(usage.ru_utime) + value(usage.ru_stime)
    }
}

/// Resident memory of this process, from /proc/self/status.
enum Memory {
    /// VmHWM, the peak resident set, in KiB.
    static var peakKiB: Int { field("VmHWM") }
    /// VmHWM of another process (a child's), in KiB.
    static func peakKiB(of pid: Int32) -> Int { field("VmHWM", process: String(pid)) }
    /// VmRSS, the resident set now, in KiB.
    static var currentKiB: Int { field("VmRSS") }

    /// Resets VmHWM to the current RSS (Linux ≥ 4.0: write 5 to clear_refs), so a phase's peak
    /// is its own. Returns false where the kernel refuses.
    @discardableResult
    static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    private static func field(_ name: String, process: String = "self") -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
