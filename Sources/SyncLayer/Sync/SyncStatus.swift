import Foundation

/// Where sync stands, as ``SyncLayer/status`` and ``SyncLayer/statusUpdates``.
public struct SyncStatus: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable {
        /// No backend configured: changes stay queued locally.
        case disabled
        /// Waiting for the next sync.
        case idle
        /// A sync is running.
        case syncing
        /// The server could not be reached; retrying with backoff.
        case offline
        /// The last sync failed; retrying with backoff.
        case error
        /// The server refused the token and no token provider fixed it. See
        /// ``SyncLayer/updateAuthToken(_:)``.
        case authRequired
    }

    public var phase: Phase
    /// End of the last successful sync.
    public var lastSyncedAt: Date?
    /// Why the last sync failed, while it is failing.
    public var lastError: SyncError?

    public init(phase: Phase, lastSyncedAt: Date? = nil, lastError: SyncError? = nil) {
        self.phase = phase
        self.lastSyncedAt = lastSyncedAt
        self.lastError = lastError
    }
}
