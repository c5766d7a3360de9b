import Foundation

/// Sends batches of operations another way than the backend (the realtime connection).
protocol PushChannel: Sendable {
    /// The results for a prefix of the batch, or nil when the channel cannot send now.
    func push(_ batch: PushBatch) async throws -> [PushResult]?
}

/// Runs sync: push the outbox, then pull every collection; when and how often is decided by
/// ``SyncSchedule``.
///
/// Data flow of one run:
/// 1. `capabilities()` once (v1 or v2).
/// 2. Push: take the oldest pending ops (counted as sent in the same transaction), send them,
///    record each answer in one transaction (acknowledged ops leave the outbox together with
///    the document's new server version; conflicts are resolved and the result re-queued;
///    rejected ops are kept as rejected). Repeat while there is progress; the next batch is
///    sent while the last one's answers are recorded (`pushAll`).
/// 3. Pull: for each collection, pages from the stored cursor; each page and its cursor commit
///    together, so a crash neither skips nor repeats a change.
///
/// The loop (``run()``) is owned by `SyncLayer` and cancelled by its `close()`.
actor SyncEngine {
    let store: LocalStore
    let backend: any SyncBackend
    let config: SyncConfig
    let tokens: TokenStore
    private let inbox = Locked<[SyncSchedule.Event]>([])
    private let wake = ChangeSignal()
    private var schedule: SyncSchedule
    private let status: Broadcast<SyncStatus>
    private let epoch = ContinuousClock.now

    private var requested = 0
    private var completed = 0
    private var waiters: [(id: Int, target: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiterID = 0
    private var lastResult: Result<Void, SyncError> = .success(())
    private var stopped = false
    /// Another way to send batches (the realtime connection), used while it is available.
    private var channel: (any PushChannel)?
    /// One push at a time, whatever its trigger: operations of a document must reach the
    /// server in order, so two batches are never in flight together.
    private var pushing = false
    private var pushQueue: [CheckedContinuation<Void, Never>] = []
    /// Operations and payload bytes acknowledged during the current run.
    private var runPushed = (operations: 0, bytes: 0)

    init(store: LocalStore, backend: any SyncBackend, config: SyncConfig, tokens: TokenStore, status: Broadcast<SyncStatus>) {
        self.store = store
        self.backend = backend
        self.config = config
        self.tokens = tokens
        self.status = status
        self.schedule = SyncSchedule(autoSync: config.enableAutoSync, interval: config.syncInterval)
    }

    private var now: Int64 { (ContinuousClock.now - epoch).milliseconds }

    /// Tells the loop something happened (callable from any thread).
    nonisolated func post(_ event: SyncSchedule.Event) {
        inbox.withLock { $0.append(event) }
        wake.raise()
    }

    // MARK: The loop

    func run() async {
        schedule.handle(.started, now: now)
        while !Task.isCancelled {
            for event in inbox.withLock({ events in defer { events.removeAll() }; return events }) {
                schedule.handle(event, now: now)
            }
            switch schedule.nextAction(now: now) {
            case .sync:
                await performRun()
            case .sleep(let until):
                await sleep(until: until)
            }
        }
        stopped = true
        let cancelled = waiters
        waiters.removeAll()
        for waiter in cancelled { waiter.continuation.resume(throwing: CancellationError()) }
    }

    private func sleep(until deadline: Int64?) async {
        let delay = deadline.map { $0 - now }
        if let delay, delay <= 0 { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [wake] in _ = await wake.wait() }
            if let delay { group.addTask { try? await Task.sleep(for: .milliseconds(delay)) } }
            await group.next()
            group.cancelAll()
        }
    }

    /// Runs a full sync (push, then pull) that starts after this call, and waits for it.
    /// Cancelling the calling task stops the wait (with `CancellationError`), not the sync.
    func syncNow() async throws {
        guard !stopped else { throw SyncLayerError(.closed, "the SyncLayer instance was closed") }
        requested += 1
        let target = requested
        let id = nextWaiterID
        nextWaiterID += 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                waiters.append((id, target, continuation))
                post(.requested)
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: CancellationError())
    }

    private func performRun() async {
        let generation = requested
        schedule.handle(.runStarted, now: now)
        runPushed = (0, 0)
        let started = ContinuousClock.now
        store.events.emit(SyncEvent(.syncStarted))
        update(.syncing)
        let result: Result<Void, SyncError>
        do {
            let pulled = try await syncOnce()
            let elapsed = ContinuousClock.now - started
            schedule.handle(.succeeded, now: now)
            store.events.emit(SyncEvent(.syncCompleted, metadata: [
                "durationMs": .int(Int(elapsed.milliseconds)), "pulled": .int(pulled),
                "pushed": .int(runPushed.operations), "pushedBytes": .int(runPushed.bytes),
            ]))
            let finished = Date()
            _ = try? store.write { context in
                try context.db.run("INSERT INTO sl_meta (key, value) VALUES ('last_sync_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                   [.text(Timestamp.format(finished))])
            }
            status.yield(SyncStatus(phase: .idle, lastSyncedAt: finished))
            result = .success(())
        } catch {
            let error = SyncEngine.syncError(error)
            if error.kind == .unauthorized {
                schedule.handle(.authRequired, now: now)
                store.events.emit(SyncEvent(.authRequired, error: error.description))
                update(.authRequired, error: error)
            } else {
                schedule.handle(.failed(retryAfter: error.retryAfter, jitter: Double.random(in: 0...1)), now: now)
                update(error.kind == .network ? .offline : .error, error: error)
            }
            store.events.emit(SyncEvent(.syncFailed, error: error.description))
            store.logger.log(.info, "sync failed: \(error)", source: "sync")
            result = .failure(error)
        }
        completed = generation
        lastResult = result
        // Waiters whose request this run served, and every waiter when no further run is
        // scheduled (auto-sync off, or blocked on auth): they get this run's result.
        let nothingScheduled = schedule.nextAction(now: now) == .sleep(until: nil) && inbox.withLock { $0.isEmpty }
        let ready = waiters.filter { $0.target <= completed || nothingScheduled }
        waiters.removeAll { $0.target <= completed || nothingScheduled }
        for waiter in ready { waiter.continuation.resume(with: result.mapError { $0 as any Error }) }
    }

    private func update(_ phase: SyncStatus.Phase, error: SyncError? = nil) {
        let last = status.latest?.lastSyncedAt
        status.yield(SyncStatus(phase: phase, lastSyncedAt: last, lastError: error))
    }

    static func syncError(_ error: any Error) -> SyncError {
        if let error = error as? SyncError { return error }
        if error is CancellationError { return SyncError.network("cancelled") }
        return SyncError(kind: .invalidResponse, message: "\(error)", isRetryable: true)
    }

    // MARK: One sync

    /// Push then pull. Returns the number of remote changes applied.
    func syncOnce() async throws -> Int {
        let capabilities = try await backend.capabilities()
        try await withPushLock { try await pushAll(capabilities) }
        return try await pullAll(capabilities)
    }

    /// Pushes the outbox now, without pulling (the realtime path after a local write).
    func pushNow() async throws {
        let capabilities = try await backend.capabilities()
        try await withPushLock { try await pushAll(capabilities) }
    }

    func setPushChannel(_ channel: (any PushChannel)?) {
        self.channel = channel
    }

    private func withPushLock<T>(_ body: () async throws -> T) async throws -> T {
        while pushing { await withCheckedContinuation { pushQueue.append($0) } }
        pushing = true
        defer {
            pushing = false
            if !pushQueue.isEmpty { pushQueue.removeFirst().resume() }
        }
        return try await body()
    }

    /// Pushes until the outbox is empty or a retryable failure stops it.
    ///
    /// Two batches are never in flight together, but sending overlaps with recording: when the
    /// answer to batch n arrives, batch n+1 is sent, and n's answers are recorded while the server
    /// works on n+1 (then n+2 is taken, to go out the moment n+1 is answered). Batch n+1 holds no document of batch n (see `takeBatch`), so
    /// recording n changes nothing that n+1 carries; and this happens only when n's answers leave
    /// none of n queued, so no document's earlier op can stay behind a later one.
    private func pushAll(_ capabilities: BackendCapabilities) async throws {
        let pending = try store.scalar(sql: "SELECT count(*) FROM sl_outbox WHERE state = 0", bindings: [])
        var budget = pending / max(1, capabilities.maxOpsPerBatch) * 2 + 10  // conflicts re-queue; stop runaway loops
        let limit = capabilities.maxOpsPerBatch, maxBytes = capabilities.maxBodyBytes * 3 / 4
        var batch = try store.takeBatch(limit: limit, maxBytes: maxBytes)
        guard !batch.isEmpty else { return }
        var answer = await send(batch)
        // The batch after the one in flight, taken while the server works on that one.
        var ahead: [OutboxEntry]?
        while true {
            budget -= 1
            var next: (batch: [OutboxEntry], answer: Task<PushAnswer, Never>)?
            if budget > 0, case .results(let results) = answer, Self.settles(batch, results), let last = batch.last {
                let following = try ahead ?? store.takeBatch(limit: limit, maxBytes: maxBytes, after: last.seq,
                                                             inFlight: Set(batch.map(\.document)))
                ahead = nil
                if !following.isEmpty {
                    let request = pushRequest(following)
                    next = (following, Task.detached { [channel, backend] in
                        await Self.send(request, channel: channel, backend: backend)
                    })
                }
            } else if let taken = ahead {
                // Not sent after all: its ops count one send fewer, so they fold and re-base as before.
                try store.untake(taken)
                ahead = nil
            }
            do {
                try await record(batch, answer)
            } catch {
                // Whatever the next batch did on the server is recorded before the error is reported.
                if let next { try? await record(next.batch, await Self.value(of: next.answer)) }
                throw error
            }
            if let next {
                // Taken now, sent when `next` is answered (if that answer settles it): of no document
                // of `next`, and behind it, like any batch that follows one in flight.
                if budget > 1, let last = next.batch.last {
                    let taken = try store.takeBatch(limit: limit, maxBytes: maxBytes, after: last.seq,
                                                    inFlight: Set(next.batch.map(\.document)))
                    ahead = taken.isEmpty ? nil : taken
                }
                batch = next.batch
                answer = await Self.value(of: next.answer)
                continue
            }
            guard budget > 0 else { return }
            batch = try store.takeBatch(limit: limit, maxBytes: maxBytes)
            guard !batch.isEmpty else { return }
            answer = await send(batch)
        }
    }

    /// What sending a batch gave: the server's answers, or the failure of the whole request.
    private enum PushAnswer: Sendable {
        case results([PushResult])
        case failure(SyncError)
    }

    /// Whether the answers leave none of the batch's operations queued; only then may the next
    /// batch go out before they are recorded (a queued leftover must precede its document's later ops).
    private static func settles(_ batch: [OutboxEntry], _ results: [PushResult]) -> Bool {
        results.count == batch.count && !results.contains { if case .retry = $0 { true } else { false } }
    }

    private func pushRequest(_ batch: [OutboxEntry]) -> PushBatch {
        PushBatch(clientID: store.clientID, operations: batch.map(\.operation))
    }

    private func send(_ batch: [OutboxEntry]) async -> PushAnswer {
        await Self.send(pushRequest(batch), channel: channel, backend: backend)
    }

    /// Over the realtime channel when it can take the batch, else over HTTP with the same op ids
    /// (whatever the channel delivered is a duplicate there).
    private static func send(_ request: PushBatch, channel: (any PushChannel)?, backend: any SyncBackend) async -> PushAnswer {
        do {
            if let channel, let answered = try? await channel.push(request) { return .results(answered) }
            return .results(try await backend.push(request))
        } catch {
            return .failure(syncError(error))
        }
    }

    /// The task's answer; cancelling the waiter cancels the request.
    private static func value(of task: Task<PushAnswer, Never>) async -> PushAnswer {
        await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
    }

    /// Sends one batch and records its answers (the path of split batches).
    private func push(_ batch: [OutboxEntry]) async throws {
        try await record(batch, await send(batch))
    }

    /// Records a batch's answers in one transaction and reports a retryable failure by throwing.
    private func record(_ batch: [OutboxEntry], _ answer: PushAnswer) async throws {
        let results: [PushResult]
        switch answer {
        case .results(let answered):
            results = answered
        case .failure(let error) where Self.refusesTheBody(error):
            if batch.count > 1 {
                // The server refused the batch's content: split it to find the operation at fault.
                let middle = batch.count / 2
                try await push(Array(batch[..<middle]))
                try await push(Array(batch[middle...]))
                return
            }
            _ = try store.recordPush(batch, results: [.rejected(opID: batch[0].operation.opID, error: error)], failure: nil,
                                     maxRetries: config.maxRetries, resolver: resolver)
            return
        case .failure(let error) where error.kind == .http && !error.isRetryable:
            // Refused whatever the ops (403, 404, 405, 409 for the whole request…): the queue is kept
            // as it is and the sync fails with the error; no op is rejected or counts a failure.
            throw error
        case .failure(let error):
            _ = try store.recordPush(batch, results: [], failure: error, maxRetries: config.maxRetries, resolver: resolver)
            throw error
        }
        let outcome = try store.recordPush(batch, results: results, failure: nil, maxRetries: config.maxRetries,
                                           resolver: resolver)
        runPushed.operations += outcome.synced
        runPushed.bytes += outcome.syncedBytes
        if let error = outcome.retryError { throw error }
    }

    /// A whole-request answer about the request's body (400, 413, 422): one of the operations may
    /// be at fault, so the batch is split until the operation is found and rejected. Any other
    /// refusal of the whole request says nothing about the operations.
    static func refusesTheBody(_ error: SyncError) -> Bool {
        error.kind == .http && !error.isRetryable && [400, 413, 422].contains(error.status ?? 0)
    }

    private func pullAll(_ capabilities: BackendCapabilities) async throws -> Int {
        var applied = 0
        for collection in config.collections {
            applied += try await pull(collection, capabilities: capabilities, restarted: false)
        }
        return applied
    }

    private func pull(_ collection: String, capabilities: BackendCapabilities, restarted: Bool) async throws -> Int {
        let version = capabilities.protocolVersion
        let filter = config.syncFilters[collection]
        let limit = min(filter?.limit ?? 1_000, capabilities.maxPullLimit)  // capped by what the server allows
        let resolver = resolver(collection)
        let cursor = try store.pullCursor(collection, protocolVersion: version, filter: filter)
        let backend = backend
        @Sendable func fetch(_ cursor: String?) async throws -> PullPage {
            try await backend.pull(PullRequest(collection: collection, cursor: cursor, limit: limit, filter: filter))
        }
        var page: PullPage
        do {
            page = try await fetch(cursor)
        } catch let error as SyncError where !restarted && (error.status == 410 || error.code == "INVALID_CURSOR") {
            store.logger.log(.info, "pull cursor of \(collection) expired; pulling from the start", source: "sync")
            try store.resetPullCursor(collection, protocolVersion: version)
            return try await pull(collection, capabilities: capabilities, restarted: true)
        }
        var pageCursor = cursor
        var applied = 0
        while true {
            // A page that does not move the cursor would repeat forever (SyncLayer Dart's D7).
            let more = page.hasMore && page.cursor != pageCursor && !page.records.isEmpty
            // The next page is fetched while this one is applied. Only the apply stores a cursor,
            // in the page's own transaction, so a failure anywhere leaves the store where the last
            // applied page left it; a prefetched page that is never applied is just dropped.
            let next = more ? Task { [cursor = page.cursor] in try await fetch(cursor) } : nil
            do {
                applied += try store.applyPage(page, collection: collection, protocolVersion: version, filter: filter,
                                               resolver: resolver).applied
            } catch {
                next?.cancel()
                throw error
            }
            guard let next else { break }
            pageCursor = page.cursor
            page = try await withTaskCancellationHandler { try await next.value } onCancel: { next.cancel() }
        }
        return applied
    }

    private func resolver(_ collection: String) -> ConflictResolver {
        ConflictResolver(config: config, collection: collection)
    }
}
