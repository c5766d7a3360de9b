/// Fans values out to any number of `AsyncStream` subscribers.
///
/// Each ``stream()`` call gets its own stream, buffered up to ``bufferLimit`` values (the oldest
/// are dropped past that, so a subscriber that never reads cannot grow memory). With
/// `replaysLatest`, a new subscriber first gets the latest value (a status, not an event).
final class Broadcast<Value: Sendable>: Sendable {
    static var bufferLimit: Int { 4_096 }

    private struct State {
        var next = 0
        var continuations: [Int: AsyncStream<Value>.Continuation] = [:]
        var latest: Value?
        var finished = false
    }

    private let state = Locked(State())
    private let replaysLatest: Bool

    init(replaysLatest: Bool, initial: Value? = nil) {
        self.replaysLatest = replaysLatest
        state.withLock { $0.latest = initial }
    }

    var latest: Value? { state.withLock { $0.latest } }

    func stream() -> AsyncStream<Value> {
        let (stream, continuation) = AsyncStream<Value>.makeStream(bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let id: Int? = state.withLock { state in
            if replaysLatest, let latest = state.latest { continuation.yield(latest) }
            guard !state.finished else { return nil }
            defer { state.next += 1 }
            state.continuations[state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func yield(_ value: Value) {
        let targets = state.withLock { state in
            state.latest = value
            return Array(state.continuations.values)
        }
        for continuation in targets { continuation.yield(value) }
    }

    func finish() {
        let targets = state.withLock { state in
            state.finished = true
            defer { state.continuations.removeAll() }
            return Array(state.continuations.values)
        }
        for continuation in targets { continuation.finish() }
    }
}
