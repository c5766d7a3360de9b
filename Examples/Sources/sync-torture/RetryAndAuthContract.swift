import Foundation
import SyncLayer
import SyncServer
import Synchronization
import enum SyncLayer.JSONValue

/// C04/C21/C22/R6 against the reference server: nothing is sent before `Retry-After` (503 and 429),
/// answered failures are retried and drain, a rejected op does not block the queue, and a 401 leads
/// to exactly one token refresh, shared by concurrent syncs.
enum RetryAndAuthContract {
    static func run(report: Report) async throws {
        let server = try await TortureServer.start("contract")
        defer { Task { await server.stop() } }

        // Retry-After: a 503 then a 429, each asking for 1 s.
        var early = 0
        var waits: [Double] = []
        for code in [503, 429] {
            let transport = RecordingTransport()
            let client = try await SyncLayer(config: SyncConfig(
                baseURL: server.baseURL, collections: ["todos"], authToken: TortureServer.token, maxRetries: 100,
                enableAutoSync: false, storage: .inMemory, protocolVersion: .v2, transport: transport))
            try await client.collection("todos").save(["s": .int(code)], id: "retry-\(code)")
            if code == 503 {
                server.faults.failNextWrites(1, status: .serviceUnavailable, retryAfter: 1)
            } else {
                server.faults.failNextWrites(1, status: .tooManyRequests, retryAfter: 1)
            }
            do { try await client.syncNow() } catch {}
            // Both an explicit sync and a new write, right away: they must wait.
            try await client.collection("todos").save(["again": true], id: "retry-\(code)-2")
            try await client.syncNow()
            let pushes = transport.exchanges.filter { $0.url.hasSuffix("/v2/push") }
            if let refused = pushes.first(where: { $0.status == code }),
               let next = pushes.first(where: { $0.sentAt > refused.answeredAt }) {
                let wait = (next.sentAt - refused.answeredAt) / .seconds(1)
                waits.append(wait)
                if wait < 1.0 { early += 1 }
            } else {
                report.violation("\(code): no refused push followed by a retry in \(pushes.map(\.status))")
            }
            if try await client.pendingOperationCount() != 0 { report.violation("\(code): queue not drained") }
            await client.close()
        }
        report.set("requests sent before Retry-After (503, 429)", early)
        report.set("waits after Retry-After: 1 s", waits.map { String(format: "%.4f s", $0) }.joined(separator: ", "))
        if early > 0 { report.violation("\(early) requests sent before Retry-After elapsed") }

        // Answered 500s: kept and retried until they drain.
        let retrying = try await SyncLayer(config: SyncConfig(
            baseURL: server.baseURL, collections: ["todos"], authToken: TortureServer.token, maxRetries: 100,
            enableAutoSync: false, storage: .inMemory, protocolVersion: .v2))
        try await retrying.collection("todos").save(["x": 1], id: "five-hundred")
        server.faults.failNextWrites(3, status: .internalServerError)
        try await withTimeout(.seconds(30)) { try await retrying.waitForPendingWrites() }
        let fiveHundred = try await server.documents("todos")["five-hundred"] != nil
        report.set("op after 3 answered 500s reached the server", fiveHundred)
        if !fiveHundred { report.violation("op lost after 500s") }
        await retrying.close()

        // A rejected op (document over the server's 1 MiB limit) does not block the others.
        let rejecting = try await SyncLayer(config: SyncConfig(
            baseURL: server.baseURL, collections: ["todos"], authToken: TortureServer.token,
            enableAutoSync: false, storage: .inMemory, protocolVersion: .v2))
        try await rejecting.collection("todos").save(["big": .string(String(repeating: "y", count: 1_200_000))], id: "too-big")
        for i in 0..<5 { try await rejecting.collection("todos").save(["i": .int(i)], id: "after-big-\(i)") }
        try await withTimeout(.seconds(30)) { try await rejecting.waitForPendingWrites() }
        let rejected = try await rejecting.rejectedOperations()
        let serverTodos = try await server.documents("todos")
        let followers = (0..<5).filter { serverTodos["after-big-\($0)"] != nil }.count
        report.set("rejected ops reported (1 injected)", rejected.count)
        report.set("ops after the rejected one that reached the server", "\(followers)/5")
        if rejected.count != 1 || followers != 5 { report.violation("rejected op: reported \(rejected.count), followers \(followers)/5") }
        await rejecting.close()

        // 401 → one refresh, shared by concurrent syncs.
        let refreshes = Mutex(0)
        let refreshing = try await SyncLayer(config: SyncConfig(
            baseURL: server.baseURL, collections: ["todos"], authToken: "expired-token",
            tokenProvider: {
                refreshes.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(50))
                return TortureServer.token
            },
            enableAutoSync: false, storage: .inMemory, protocolVersion: .v2))
        try await refreshing.collection("todos").save(["auth": true], id: "after-401")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await refreshing.syncNow() } }
            try await group.waitForAll()
        }
        let refreshCount = refreshes.withLock { $0 }
        let arrived = try await server.documents("todos")["after-401"] != nil
        report.set("token refreshes for one expiry and 4 concurrent syncs", refreshCount)
        report.set("op behind the 401 reached the server", arrived)
        if refreshCount != 1 { report.violation("\(refreshCount) refreshes for one 401") }
        if !arrived { report.violation("op behind the 401 lost") }
        await refreshing.close()

        // 401 and a provider that cannot help: sync pauses, the queue is kept.
        let stuck = try await SyncLayer(config: SyncConfig(
            baseURL: server.baseURL, collections: ["todos"], authToken: "revoked",
            tokenProvider: { "still-wrong" }, enableAutoSync: false, storage: .inMemory, protocolVersion: .v2))
        try await stuck.collection("todos").save(["kept": true], id: "kept-while-unauthorized")
        var unauthorized = false
        do { try await stuck.syncNow() } catch let error as SyncError { unauthorized = error.kind == .unauthorized }
        let kept = try await stuck.pendingOperationCount()
        report.set("failed refresh: typed unauthorized error, queue kept", unauthorized && kept == 1)
        if !(unauthorized && kept == 1) { report.violation("failed refresh: unauthorized=\(unauthorized) pending=\(kept)") }
        await stuck.updateAuthToken(TortureServer.token)
        try await withTimeout(.seconds(30)) { try await stuck.waitForPendingWrites() }
        await stuck.close()
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    var description: String { "timed out" }
}

/// Runs `body`, throwing `TimeoutError` when it takes longer than `limit`.
///
/// Returns at the limit even when `body` ignores cancellation (it is cancelled and left to end
/// on its own): a task group would wait for it, and a stuck SDK call would hang the harness.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = TimeoutRace<T>()
    return try await withCheckedThrowingContinuation { continuation in
        race.start(continuation)
        let work = Task {
            do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
        }
        let timer = Task {
            try? await Task.sleep(for: limit)
            if race.finish(.failure(TimeoutError())) { work.cancel() }
        }
        race.onFinish { timer.cancel() }
    }
}

/// The first of a body and a timer to finish resumes the continuation; the other is ignored.
private final class TimeoutRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var finished = false
        var cleanup: (@Sendable () -> Void)?
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>) { state.withLock { $0.continuation = continuation } }

    /// Runs `cleanup` once the race is decided (at once if it already is).
    func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if state.finished { return true }
            state.cleanup = cleanup
            return false
        }
        if now { cleanup() }
    }

    /// Resumes with `result` if nothing did before; true when this call decided the race.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, cleanup) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer { state.continuation = nil; state.cleanup = nil }
            return (state.continuation, state.cleanup)
        }
        guard let continuation else { return false }
        continuation.resume(with: result)
        cleanup?()
        return true
    }
}
