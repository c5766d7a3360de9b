/// When to sync: a pure state machine, events in, the next action out (no I/O, no clock of
/// its own; times are milliseconds on any monotonic scale).
///
/// - Auto-sync on: a sync right after start, `debounce` after each local write, every
///   `interval` after a success.
/// - After a retryable failure: the next attempt after the backoff delay, and never before the
///   server's `Retry-After` — not even for a local write or an explicit request.
/// - An explicit request (`syncNow`) runs as soon as `Retry-After` allows, skipping our own
///   backoff.
/// - After a 401 no provider could fix: nothing until the token changes or the app asks.
struct SyncSchedule: Sendable {
    enum Event: Sendable, Equatable {
        case started
        case localWrite
        case requested
        case tokenUpdated
        case runStarted
        case succeeded
        case failed(retryAfter: Duration?, jitter: Double)
        case authRequired
    }

    enum Action: Equatable {
        case sync
        /// Sleep until this time, or until the next event when nil.
        case sleep(until: Int64?)
    }

    let autoSync: Bool
    let interval: Int64
    let debounce: Int64
    let backoff: Backoff

    private(set) var due: Int64?
    private(set) var backoffUntil: Int64?
    private(set) var retryAfterUntil: Int64?
    private(set) var failures = 0
    private(set) var authBlocked = false
    private(set) var running = false

    init(autoSync: Bool, interval: Duration, debounce: Duration = .milliseconds(50), backoff: Backoff = Backoff()) {
        self.autoSync = autoSync
        self.interval = interval.milliseconds
        self.debounce = debounce.milliseconds
        self.backoff = backoff
    }

    mutating func handle(_ event: Event, now: Int64) {
        switch event {
        case .started:
            if autoSync { schedule(at: now) }
        case .localWrite:
            if autoSync && !authBlocked { schedule(at: now + debounce) }
        case .requested:
            backoffUntil = nil
            schedule(at: now)
        case .tokenUpdated:
            authBlocked = false
            if autoSync { schedule(at: now) }
        case .runStarted:
            running = true
            due = nil
        case .succeeded:
            running = false
            failures = 0
            backoffUntil = nil
            if autoSync { schedule(at: now + interval) }
        case .failed(let retryAfter, let jitter):
            running = false
            failures += 1
            let delay = backoff.delay(afterFailures: failures, retryAfter: retryAfter, unit: jitter)
            backoffUntil = now + delay.milliseconds
            // `now` is whole milliseconds rounded down: the answer came up to 1 ms after it, so one
            // more millisecond keeps the next request from leaving (just) before Retry-After.
            if let retryAfter { retryAfterUntil = now + retryAfter.millisecondsRoundedUp + 1 }
            if autoSync { schedule(at: backoffUntil!) }
        case .authRequired:
            running = false
            authBlocked = true
        }
    }

    func nextAction(now: Int64) -> Action {
        guard !running, let due else { return .sleep(until: nil) }
        let start = max(due, backoffUntil ?? due, retryAfterUntil ?? due)
        return start <= now ? .sync : .sleep(until: start)
    }

    private mutating func schedule(at time: Int64) {
        due = min(due ?? time, time)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    var millisecondsRoundedUp: Int64 {
        milliseconds + (components.attoseconds % 1_000_000_000_000_000 > 0 ? 1 : 0)
    }
}
