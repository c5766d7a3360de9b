import Foundation
import HummingbirdWebSocket
import Logging
import NIOWebSocket
import Synchronization

/// One WebSocket connection (PROTOCOL.md §5): a reader loop for client messages, a delivery loop that
/// streams each subscribed collection from its cursor, a single writer, and an idle watchdog.
final class WebSocketSession: Sendable {
    enum Command: Sendable {
        case subscribe(collection: String, after: Int64?)
        case unsubscribe(collection: String)
    }

    enum Outgoing: Sendable {
        /// `faultable` messages (changes, acks) are subject to the WebSocket test hooks.
        case message(RealtimeMessage, faultable: Bool)
        case close(WebSocketErrorCode, reason: String)
    }

    let id = ConnectionID()
    private let service: SyncService
    private let idleTimeout: Duration
    private let logger: Logger
    private let lastActivity = Mutex(ContinuousClock.now)
    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let outgoingStream: AsyncStream<Outgoing>
    private let commands: AsyncStream<Command>.Continuation
    private let commandStream: AsyncStream<Command>
    private let wake: AsyncStream<Void>.Continuation
    private let wakeStream: AsyncStream<Void>

    init(service: SyncService, idleTimeout: Duration, logger: Logger) {
        self.service = service
        self.idleTimeout = idleTimeout
        self.logger = logger
        (outgoingStream, outgoing) = AsyncStream.makeStream()
        (commandStream, commands) = AsyncStream.makeStream()
        (wakeStream, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Serves the connection until the client leaves, the idle timer fires or the server shuts down.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        service.hub.register(id, wake: wake)
        defer { service.hub.unregister(id) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.writeLoop(outbound) }
            group.addTask { await self.deliveryLoop() }
            group.addTask { await self.watchdog() }
            defer {
                outgoing.finish()
                commands.finish()
                wake.finish()
                group.cancelAll()
            }
            for try await message in inbound.messages(maxSize: service.limits.maxWebSocketMessageBytes) {
                lastActivity.withLock { $0 = .now }
                switch message {
                case .text(let text): await handle(text)
                case .binary: send(.error("INVALID_MESSAGE", "binary frames are not supported"))
                }
            }
        }
    }

    func send(_ message: RealtimeMessage, faultable: Bool = false) {
        outgoing.yield(.message(message, faultable: faultable))
    }

    func serviceWrite(_ operation: WriteOperation) async throws -> WriteOutcome {
        try await service.write([operation], from: id)[0]
    }

    // MARK: Writer

    private func writeLoop(_ outbound: WebSocketOutboundWriter) async throws {
        var held: String?
        for await item in outgoingStream {
            switch item {
            case .close(let code, let reason):
                try await outbound.close(code, reason: reason)
                return
            case .message(let message, let faultable):
                let text = message.text
                var copies = 1
                if faultable, let fault = service.faults.takeWebSocketFault() {
                    switch fault {
                    case .drop: copies = 0
                    case .duplicate: copies = 2
                    case .reorder:
                        if held == nil {
                            held = text
                            continue
                        }
                    }
                }
                for _ in 0..<copies { try await outbound.write(.text(text)) }
                if let late = held {
                    held = nil
                    try await outbound.write(.text(late))
                }
            }
        }
    }

    // MARK: Idle timeout

    private func watchdog() async {
        while !Task.isCancelled {
            let deadline = lastActivity.withLock { $0 } + idleTimeout
            if ContinuousClock.now >= deadline {
                outgoing.yield(.close(.unknown(4408), reason: "idle timeout"))
                return
            }
            try? await Task.sleep(until: deadline, clock: .continuous)
        }
    }

    // MARK: Delivery

    private func deliveryLoop() async {
        var streams: [String: Stream] = [:]
        await withTaskGroup(of: Void.self) { group in
            // Wake-ups become commands so one loop handles both, in order.
            let (merged, mergedContinuation) = AsyncStream<Command?>.makeStream()
            group.addTask {
                for await command in self.commandStream { mergedContinuation.yield(command) }
                mergedContinuation.finish()
            }
            group.addTask {
                for await _ in self.wakeStream { mergedContinuation.yield(nil) }
                mergedContinuation.finish()
            }
            for await command in merged {
                do {
                    switch command {
                    case .subscribe(let collection, let after)?:
                        service.hub.subscribe(id, to: collection)
                        let start: Int64
                        if let after { start = after } else { start = try await service.store.latestSeq() }
                        var stream = Stream(cursor: start, lastSent: start)
                        try await deliver(collection, &stream)
                        streams[collection] = stream
                        let count = try await service.store.liveCount(in: collection)
                        send(RealtimeMessage(
                            type: "subscribed", collection: collection, timestamp: now,
                            metadata: ["recordCount": .int(Int64(count)), "cursor": .string(service.cursor(for: stream.cursor)),
                                       "seq": .int(stream.lastSent)]))
                    case .unsubscribe(let collection)?:
                        service.hub.unsubscribe(id, from: collection)
                        streams[collection] = nil
                        send(RealtimeMessage(type: "unsubscribed", collection: collection, timestamp: now))
                    case nil:
                        for collection in service.hub.takePending(id) {
                            guard var stream = streams[collection] else { continue }
                            try await deliver(collection, &stream)
                            streams[collection] = stream
                        }
                    }
                } catch {
                    logger.error("realtime delivery failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
                    send(.error("SERVER_ERROR", "delivery failed"))
                }
            }
            group.cancelAll()
        }
    }

    /// Where one subscribed collection's stream stands on this connection.
    private struct Stream {
        /// The last change read (sent, or skipped as this connection's own).
        var cursor: Int64
        /// The last change sent (the subscribe start before the first): the next change's `prevSeq`.
        var lastSent: Int64
    }

    /// Sends every change of `collection` after the stream's cursor, except this connection's own,
    /// each with the seq of the one sent before it (`prevSeq`), so a client can tell a lost message.
    private func deliver(_ collection: String, _ stream: inout Stream) async throws {
        while true {
            let page = try await service.store.changes(in: collection, after: stream.cursor, limit: 200)
            for record in page.records {
                stream.cursor = record.seq
                if service.hub.origin(of: record.opID) != id {
                    send(.change(record, cursor: service.cursor(for: record.seq), prevSeq: stream.lastSent), faultable: true)
                    stream.lastSent = record.seq
                }
            }
            if !page.hasMore { return }
        }
    }

    private var now: String { Timestamp.format(milliseconds: SQLiteSyncStore.systemMilliseconds()) }

    // MARK: Client messages

    private func handle(_ text: String) async {
        guard let message = RealtimeMessage(text: text, maxDepth: 64) else {
            send(.error("INVALID_MESSAGE", "a message is a JSON object with a string type"))
            return
        }
        switch message.type {
        case "ping":
            send(RealtimeMessage(type: "pong", timestamp: now))
        case "pong":
            break
        case "subscribe", "unsubscribe", "sync":
            guard let collection = message.collection, Identifiers.isValidCollection(collection) else {
                send(.error("INVALID_MESSAGE", "invalid or missing collection", collection: message.collection))
                return
            }
            if message.type == "unsubscribe" {
                commands.yield(.unsubscribe(collection: collection))
            } else if message.type == "sync" {
                await snapshot(collection)
            } else {
                var after: Int64?
                if let cursor = message.metadata?["cursor"], !cursor.isNull {
                    do throws(APIError) {
                        guard let text = cursor.stringValue else { throw APIError(.badRequest, code: "INVALID_CURSOR", message: "cursor must be a string") }
                        after = try service.seq(fromCursor: text)
                    } catch {
                        send(.error(error.code, error.message, collection: collection))
                        return
                    }
                }
                commands.yield(.subscribe(collection: collection, after: after))
            }
        case "insert", "update", "delete":
            await change(message)
        default:
            send(.error("INVALID_MESSAGE", "unknown message type"))
        }
    }

    private func snapshot(_ collection: String) async {
        do {
            let seq = try await service.store.latestSeq()
            let limit = service.limits.maxPullLimit
            let records = try await service.store.liveRecords(LegacyQuery(collection: collection, limit: limit + 1))
            let items: [JSONValue] = records.prefix(limit).map { record in
                [
                    "id": .string(record.recordID), "data": .object(record.data ?? [:]), "version": .int(record.version),
                    "updatedAt": .string(Timestamp.format(milliseconds: record.updatedAt)),
                ]
            }
            send(RealtimeMessage(
                type: "sync", collection: collection, data: ["records": .array(items)], timestamp: now,
                metadata: ["cursor": .string(service.cursor(for: seq)), "hasMore": .bool(records.count > limit)]))
        } catch {
            send(.error("SERVER_ERROR", "snapshot failed", collection: collection))
        }
    }
}
