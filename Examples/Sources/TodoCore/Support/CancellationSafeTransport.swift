import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import SyncLayer

/// HTTP over `URLSession`, like the SDK's `URLSessionTransport`, minus two crashes on Linux.
///
/// Cancelling a task that awaits `URLSession.data(for:)` calls `URLSessionTask.cancel()` while
/// the Swift runtime holds the task's status lock; `cancel()` then waits for the session's work
/// queue, which may itself wait for that lock to resume the task with the response: a deadlock
/// (swift-corelibs-foundation#5412, fixed by #5417 after Swift 6.3). `SyncLayer.close()` cancels
/// its sync loop, so closing a store while a request was in flight could hang the process.
/// Cancelling the `URLSessionTask` from another queue instead races with its completion and
/// traps in `URLSession.behaviour(for:)` ("a task that is not in the registry").
///
/// So a cancelled request is abandoned, not cancelled: the caller gets `CancellationError` at
/// once, and the request runs to its end (at most `timeout`) with nobody waiting for it.
struct CancellationSafeTransport: HTTPTransport {
    private let session: URLSession
    private let timeout: TimeInterval

    init(timeout: TimeInterval = 30) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        session = URLSession(configuration: configuration)
        self.timeout = timeout
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        urlRequest.httpMethod = request.method
        urlRequest.httpBody = request.body
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let description = "\(request.method) \(request.url.path)"
        let answer = Answer()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                guard answer.wait(with: continuation) else { return }
                session.dataTask(with: urlRequest) { data, response, error in
                    if let error {
                        answer.finish(.failure(SyncError(kind: .network, message: "\(description): \(error.localizedDescription)",
                                                         isRetryable: true)))
                        return
                    }
                    guard let http = response as? HTTPURLResponse else {
                        answer.finish(.failure(SyncError(kind: .network, message: "\(description): not an HTTP answer", isRetryable: true)))
                        return
                    }
                    var headers: [String: String] = [:]
                    for (name, value) in http.allHeaderFields {
                        if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
                    }
                    answer.finish(.success(HTTPResponse(status: http.statusCode, headers: headers, body: data ?? Data())))
                }.resume()
            }
        } onCancel: {
            // Not here and now: the runtime holds this task's status lock while handlers run.
            DispatchQueue.global().async { answer.finish(.failure(CancellationError())) }
        }
    }
}

/// The one answer a request gives its caller: the response, or cancellation, whichever is first.
private final class Answer: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<HTTPResponse, any Error>?, done: Bool)>((nil, false))

    /// Parks the caller; false (and resumed with cancellation) when it was cancelled already.
    func wait(with continuation: CheckedContinuation<HTTPResponse, any Error>) -> Bool {
        let cancelled = state.withLock { state in
            if state.done { return true }
            state.continuation = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        return !cancelled
    }

    func finish(_ result: Result<HTTPResponse, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<HTTPResponse, any Error>? in
            defer {
                state.done = true
                state.continuation = nil
            }
            return state.done ? nil : state.continuation
        }
        continuation?.resume(with: result)
    }
}
