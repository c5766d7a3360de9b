import Synchronization

/// Runs `operation` and returns its result, or `nil` when `timeout` passes first.
///
/// Unlike a task group, this returns at the deadline even when the operation does not react
/// to cancellation: the operation is cancelled and left to its owner. `SyncLayer.syncNow()`
/// reacts (it stops waiting and the run goes on in the sync loop), but awaiting another task's
/// `value`, as `todo sync` does for its event watcher, does not.
///
/// - Throws: what the operation throws, or `CancellationError` when the caller is cancelled.
func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
    let race = Race<T?>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.wait(with: continuation)
            race.own(Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
            })
            race.own(Task {
                try? await Task.sleep(for: timeout)
                race.finish(.success(nil))
            })
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of several outcomes, delivered once to one waiter.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    func wait(with continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func own(_ task: Task<Void, Never>) {
        let finished = state.withLock { state in
            state.tasks.append(task)
            return state.result != nil
        }
        if finished { task.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard state.result == nil else { return (nil, []) }
            state.result = result
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
    }
}

/// The first element of `sequence` that satisfies `condition`, or `nil` when `timeout` passes
/// first or the sequence ends. The sequence is iterated in a child task and cancelled after.
func firstElement<S: AsyncSequence & Sendable>(
    of sequence: S, within timeout: Duration, where condition: @escaping @Sendable (S.Element) -> Bool
) async throws -> S.Element? where S.Element: Sendable {
    try await withThrowingTaskGroup(of: S.Element?.self) { group in
        group.addTask {
            for try await element in sequence where condition(element) { return element }
            return nil
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}
