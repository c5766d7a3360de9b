import Foundation

/// Something that happened in the SDK, delivered through ``SyncLayer/events``.
///
/// Mirrors SyncLayer (Dart)'s `SyncEvent`: a ``type``, the collection and record it concerns,
/// and metadata. Metadata carries ids, counts and names, never document values.
public struct SyncEvent: Sendable, Hashable {
    /// The kinds of event: SyncLayer (Dart)'s sixteen, plus SyncLayer for Swift's own.
    public enum EventType: String, Sendable, Hashable, CaseIterable {
        case syncStarted, syncCompleted, syncFailed
        case operationQueued, operationSynced, operationFailed
        case conflictDetected, conflictResolved
        case connectivityChanged
        case realtimeConnected, realtimeDisconnected
        case realtimeInsert, realtimeUpdate, realtimeDelete, realtimeSync
        case error
        /// The server rejected an operation for good; the document was brought back to the
        /// server's version. Not in SyncLayer (Dart).
        case operationRejected
        /// The server wants a new token and no token provider could give one.
        case authRequired
    }

    public let type: EventType
    public let collection: String?
    public let recordID: String?
    public let metadata: [String: JSONValue]
    public let error: String?
    public let timestamp: Date

    public init(_ type: EventType, collection: String? = nil, recordID: String? = nil,
                metadata: [String: JSONValue] = [:], error: String? = nil, timestamp: Date = Date()) {
        self.type = type
        self.collection = collection
        self.recordID = recordID
        self.metadata = metadata
        self.error = error
        self.timestamp = timestamp
    }
}

/// Fans events out to every subscriber.
///
/// Each call to ``stream()`` gets its own stream, buffered up to ``bufferLimit`` events (the
/// oldest are dropped past that, so a subscriber that never reads cannot grow memory).
final class EventHub: Sendable {
    static let bufferLimit = 4_096
    private let subscribers = Locked<(next: Int, streams: [Int: AsyncStream<SyncEvent>.Continuation], finished: Bool)>(
        (0, [:], false))

    func stream() -> AsyncStream<SyncEvent> {
        let (stream, continuation) = AsyncStream<SyncEvent>.makeStream(bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let id: Int? = subscribers.withLock { state in
            guard !state.finished else { return nil }
            defer { state.next += 1 }
            state.streams[state.next] = continuation
            return state.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { _ = $0.streams.removeValue(forKey: id) }
        }
        return stream
    }

    func emit(_ event: SyncEvent) {
        let targets = subscribers.withLock { Array($0.streams.values) }
        for continuation in targets { continuation.yield(event) }
    }

    func finish() {
        let targets = subscribers.withLock { state in
            state.finished = true
            defer { state.streams.removeAll() }
            return Array(state.streams.values)
        }
        for continuation in targets { continuation.finish() }
    }
}
