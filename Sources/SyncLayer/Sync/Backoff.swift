/// Exponential backoff with full jitter: after the n-th failure in a row, wait a random time
/// in `0 … min(maximum, initial × 2ⁿ⁻¹)`, and never less than the server's `Retry-After`.
struct Backoff: Sendable, Hashable {
    var initial: Duration = .seconds(1)
    var maximum: Duration = .seconds(300)

    /// The ceiling of the n-th delay, before jitter.
    func ceiling(afterFailures failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        let doublings = min(failures - 1, 40)
        let ceiling = initial * Double(UInt64(1) << UInt64(doublings))
        return min(ceiling, maximum)
    }

    /// The delay after `failures` failures in a row; `unit` is a random number in 0…1.
    func delay(afterFailures failures: Int, retryAfter: Duration?, unit: Double) -> Duration {
        let jittered = ceiling(afterFailures: failures) * min(max(unit, 0), 1)
        return max(jittered, retryAfter ?? .zero)
    }
}
