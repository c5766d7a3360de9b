import Foundation
import Synchronization

/// When numbered events arrived, and a way to wait for one of them (with a timeout).
///
/// The observer side calls ``record(_:)`` from its loop; the measuring side awaits
/// ``wait(for:timeout:)``. Only the first arrival of a number counts.
final class Arrivals: Sendable {
    private struct State {
        var seen: [Int: ContinuousClock.Instant] = [:]
        var waiting: [Int: CheckedContinuation<ContinuousClock.Instant?, Never>] = [:]
        var recorded: Set<Int> = []
    }

    private let state = Mutex(State())

    func record(_ number: Int, at instant: ContinuousClock.Instant = .now) {
        let waiter = state.withLock { state -> CheckedContinuation<ContinuousClock.Instant?, Never>? in
            guard state.recorded.insert(number).inserted else { return nil }
            if let waiter = state.waiting.removeValue(forKey: number) { return waiter }
            state.seen[number] = instant
            return nil
        }
        waiter?.resume(returning: instant)
    }

    /// The arrival time of `number`, or nil after `timeout`.
    func wait(for number: Int, timeout: Duration) async -> ContinuousClock.Instant? {
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            expire(number)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let now = state.withLock { state -> ContinuousClock.Instant?? in
                if let instant = state.seen.removeValue(forKey: number) { return .some(instant) }
                state.waiting[number] = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    private func expire(_ number: Int) {
        let waiter = state.withLock { $0.waiting.removeValue(forKey: number) }
        waiter?.resume(returning: nil)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
