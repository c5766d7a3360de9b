import Foundation
import HummingbirdWSClient
import Logging
import NIOWebSocket
import SyncServer

/// What a test client sees on its connection.
enum WebSocketEvent: Sendable {
    case message(JSONValue)
    case closed(code: Int?)

    var json: JSONValue? {
        if case .message(let value) = self { return value }
        return nil
    }
}

/// An imperative WebSocket client over HummingbirdWSClient's closure API: `send`, then await `next()`.
final class WebSocketTestClient: Sendable {
    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let task: Task<Void, Never>

    private enum Outgoing: Sendable {
        case text(String)
        case close
    }

    /// Connects and returns once the upgrade completed (or throws when it failed).
    static func connect(_ url: String, token: String? = testToken) async throws -> WebSocketTestClient {
        var configuration = WebSocketClientConfiguration()
        if let token { configuration.additionalHeaders[.authorization] = "Bearer \(token)" }
        configuration.maxFrameSize = 1 << 22
        let (started, startedContinuation) = AsyncStream<Result<Void, any Error>>.makeStream()
        let (outgoingStream, outgoing) = AsyncStream<Outgoing>.makeStream()
        let inbox = Inbox()
        let task = Task {
            do {
                let closeFrame = try await WebSocketClient.connect(
                    url: url, configuration: configuration, logger: Logger(label: "ws-test", factory: { _ in SwiftLogNoOpLogHandler() })
                ) { inbound, outbound, _ in
                    startedContinuation.yield(.success(()))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await item in outgoingStream {
                                switch item {
                                case .text(let text): try await outbound.write(.text(text))
                                case .close:
                                    try await outbound.close(.normalClosure, reason: nil)
                                    return
                                }
                            }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 22) {
                            if case .text(let text) = message, let value = try? JSONParser.parse(Array(text.utf8)) {
                                await inbox.push(.message(value))
                            }
                        }
                        group.cancelAll()
                    }
                }
                await inbox.push(.closed(code: closeFrame.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) }))
            } catch {
                startedContinuation.yield(.failure(error))
                await inbox.push(.closed(code: nil))
            }
            startedContinuation.finish()
        }
        var iterator = started.makeAsyncIterator()
        switch await iterator.next() {
        case .success?: return WebSocketTestClient(inbox: inbox, outgoing: outgoing, task: task)
        case .failure(let error)?: throw error
        case nil: throw UnexpectedAnswer(status: 0, body: "connection ended before the upgrade")
        }
    }

    private init(inbox: Inbox, outgoing: AsyncStream<Outgoing>.Continuation, task: Task<Void, Never>) {
        self.inboxStorage = inbox
        self.outgoing = outgoing
        self.task = task
    }

    private let inboxStorage: Inbox

    func send(_ message: JSONValue) {
        outgoing.yield(.text(message.encoded))
    }

    func sendText(_ text: String) {
        outgoing.yield(.text(text))
    }

    /// The next event; nil only when nothing came within `timeout` (a safety net for failing tests).
    func next(timeout: Duration = .seconds(10)) async -> WebSocketEvent? {
        await inboxStorage.next(timeout: timeout)
    }

    /// The next message whose `type` is `type`, skipping others; nil on close or timeout.
    func next(type: String, timeout: Duration = .seconds(10)) async -> JSONValue? {
        while let event = await next(timeout: timeout) {
            guard let json = event.json else { return nil }
            if json["type"]?.stringValue == type { return json }
        }
        return nil
    }

    /// Subscribes and waits for `subscribed`; returns the messages received before it and the `subscribed` message.
    func subscribe(_ collection: String, cursor: String? = nil) async -> (before: [JSONValue], subscribed: JSONValue?) {
        var message: [String: JSONValue] = ["type": "subscribe", "collection": .string(collection)]
        if let cursor { message["metadata"] = ["cursor": .string(cursor)] }
        send(.object(message))
        var before: [JSONValue] = []
        while let event = await next(), let json = event.json {
            if json["type"] == "subscribed" { return (before, json) }
            before.append(json)
        }
        return (before, nil)
    }

    func close() async {
        outgoing.yield(.close)
        outgoing.finish()
        await task.value
    }
}

/// A buffer of events with one waiter at a time.
private actor Inbox {
    private var buffer: [WebSocketEvent] = []
    private var waiter: (id: UUID, continuation: CheckedContinuation<WebSocketEvent?, Never>)?

    func push(_ event: WebSocketEvent) {
        if let waiter {
            self.waiter = nil
            waiter.continuation.resume(returning: event)
        } else {
            buffer.append(event)
        }
    }

    func next(timeout: Duration) async -> WebSocketEvent? {
        if !buffer.isEmpty { return buffer.removeFirst() }
        let id = UUID()
        return await withCheckedContinuation { continuation in
            waiter = (id, continuation)
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
        }
    }

    private func expire(_ id: UUID) {
        guard let waiter, waiter.id == id else { return }
        self.waiter = nil
        waiter.continuation.resume(returning: nil)
    }
}
