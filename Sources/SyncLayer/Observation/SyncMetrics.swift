import Foundation

/// Counters of what the SDK did since the ``SyncLayer`` opened (SyncLayer Dart's
/// `SyncMetricsSnapshot`, per instance instead of process-wide).
public struct SyncMetrics: Sendable, Hashable {
    public var syncAttempts = 0
    public var syncSuccesses = 0
    public var syncFailures = 0
    public var conflictsDetected = 0
    public var conflictsResolved = 0
    public var operationsQueued = 0
    public var operationsSynced = 0
    /// Operations rejected by the server or parked after `maxRetries`.
    public var operationsFailed = 0
    /// Remote changes applied by pulls, counted per committed page (``SyncEvent/EventType/pagePulled``),
    /// so the pages of a sync that failed later count too.
    public var remoteChangesApplied = 0
    /// Payload bytes of the operations acknowledged by syncs (documents and deltas as JSON).
    public var bytesPushed = 0
    /// End of the last successful sync.
    public var lastSyncTime: Date?
    /// Duration of the last successful sync.
    public var lastSyncDuration: Duration?
    private var totalSyncDuration: Duration = .zero

    /// Successful syncs over attempts, 0…1 (0 before the first attempt).
    public var successRate: Double { syncAttempts == 0 ? 0 : Double(syncSuccesses) / Double(syncAttempts) }

    /// Mean duration of the successful syncs.
    public var averageSyncDuration: Duration? { syncSuccesses == 0 ? nil : totalSyncDuration / syncSuccesses }

    public init() {}

    mutating func count(_ event: SyncEvent) {
        switch event.type {
        case .syncStarted: syncAttempts += 1
        case .syncCompleted:
            syncSuccesses += 1
            lastSyncTime = event.timestamp
            if let ms = event.metadata["durationMs"]?.intValue {
                lastSyncDuration = .milliseconds(ms)
                totalSyncDuration += .milliseconds(ms)
            }
            bytesPushed += event.metadata["pushedBytes"]?.intValue ?? 0
        case .syncFailed: syncFailures += 1
        case .conflictDetected: conflictsDetected += 1
        case .conflictResolved: conflictsResolved += 1
        case .operationQueued: operationsQueued += 1
        case .operationSynced: operationsSynced += 1
        case .operationFailed: operationsFailed += 1
        case .pagePulled: remoteChangesApplied += event.metadata["count"]?.intValue ?? 0
        default: break
        }
    }
}
