/// Tells observers which collections a commit changed.
///
/// The store calls ``notify(_:)`` after every commit; each observer of a changed collection
/// has its ``ChangeSignal`` raised. Signals coalesce: many commits before the observer looks
/// again count as one, which is how a slow consumer gets the latest result, not a backlog.
final class ChangeHub: Sendable {
    private let observers = Locked<(next: Int, byID: [Int: (collection: String, signal: ChangeSignal)], closed: Bool)>(
        (0, [:], false))

    /// Registers an observer of `collection`. Keep the registration alive while observing.
    func register(_ collection: String) -> Registration {
        let signal = ChangeSignal()
        let id: Int = observers.withLock { state in
            defer { state.next += 1 }
            if state.closed { signal.finish() } else { state.byID[state.next] = (collection, signal) }
            return state.next
        }
        return Registration(hub: self, id: id, signal: signal)
    }

    func notify(_ collections: Set<String>) {
        let signals = observers.withLock { state in
            state.byID.values.filter { collections.contains($0.collection) }.map(\.signal)
        }
        for signal in signals { signal.raise() }
    }

    /// Ends every observation (the store is closing).
    func finish() {
        let signals = observers.withLock { state in
            state.closed = true
            defer { state.byID.removeAll() }
            return state.byID.values.map(\.signal)
        }
        for signal in signals { signal.finish() }
    }

    /// How many observers are registered (tests and diagnostics).
    var observerCount: Int { observers.withLock { $0.byID.count } }

    fileprivate func unregister(_ id: Int) {
        observers.withLock { _ = $0.byID.removeValue(forKey: id) }
    }

    /// An observer's membership; unregisters when released.
    final class Registration: Sendable {
        private let hub: ChangeHub
        private let id: Int
        let signal: ChangeSignal

        fileprivate init(hub: ChangeHub, id: Int, signal: ChangeSignal) {
            self.hub = hub
            self.id = id
            self.signal = signal
        }

        deinit { hub.unregister(id) }
    }
}

/// A coalescing, single-waiter "something changed" flag.
final class ChangeSignal: Sendable {
    private enum State {
        case idle
        case raised
        case waiting(CheckedContinuation<Bool, Never>)
        case finished
    }

    private let state = Locked<State>(.idle)

    /// Marks a change; wakes the waiter if there is one.
    func raise() {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { state in
            switch state {
            case .idle: state = .raised; return nil
            case .raised, .finished: return nil
            case .waiting(let continuation): state = .idle; return continuation
            }
        }
        waiter?.resume(returning: true)
    }

    /// No more changes will come; wakes the waiter with `false`.
    func finish() {
        let waiter: CheckedContinuation<Bool, Never>? = state.withLock { state in
            defer { state = .finished }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        waiter?.resume(returning: false)
    }

    /// Waits for a change since the last wait. Returns false when finished or when the
    /// task is cancelled.
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { state in
                    switch state {
                    case .raised: state = .idle; return true
                    case .finished: return false
                    case .idle:
                        if Task.isCancelled { return false }
                        state = .waiting(continuation)
                        return nil
                    case .waiting: preconditionFailure("ChangeSignal supports one waiter")
                    }
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Bool, Never>? = state.withLock { state in
                if case .waiting(let continuation) = state { state = .idle; return continuation }
                return nil
            }
            waiter?.resume(returning: false)
        }
    }
}
