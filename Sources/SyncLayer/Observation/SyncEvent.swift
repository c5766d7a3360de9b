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
        /// A pulled page was applied and committed with its cursor; `collection` is set and
        /// `metadata["count"]` is how many of its records changed the store. Not in SyncLayer (Dart).
        case pagePulled
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

/// Events fan out to every subscriber of ``SyncLayer/events``; metrics count them.
final class EventHub: Sendable {
    private let broadcast = Broadcast<SyncEvent>(replaysLatest: false)
    let metrics = Locked(SyncMetrics())

    func stream() -> AsyncStream<SyncEvent> { broadcast.stream() }

    func emit(_ event: SyncEvent) {
        metrics.withLock { $0.count(event) }
        broadcast.yield(event)
    }

    func finish() { broadcast.finish() }
}
