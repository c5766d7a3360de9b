/// The server's core, shared by HTTP routes and WebSocket sessions: writes go through here so every
/// committed change reaches the realtime hub.
final class SyncService: Sendable {
    let store: any SyncStore
    let hub: RealtimeHub
    let limits: ServerConfiguration.Limits
    let faults: FaultInjector

    init(store: any SyncStore, hub: RealtimeHub, limits: ServerConfiguration.Limits, faults: FaultInjector) {
        self.store = store
        self.hub = hub
        self.limits = limits
        self.faults = faults
    }

    /// Applies writes in one transaction, then wakes the subscribers of every changed collection.
    ///
    /// - Parameter connection: the WebSocket connection that sent the writes, whose own changes are not
    ///   echoed back to it.
    func write(_ operations: [WriteOperation], from connection: ConnectionID? = nil) async throws -> [WriteOutcome] {
        if let connection {
            for opID in operations.compactMap(\.opID) { hub.registerOrigin(opID: opID, connection: connection) }
        }
        let outcomes = try await store.write(operations, limits: limits.document)
        var changed = Set<String>()
        for case .applied(let write) in outcomes { changed.insert(write.collection) }
        if !changed.isEmpty { hub.notify(changed) }
        return outcomes
    }

    /// A v2 cursor for `seq` in this database (PROTOCOL.md §4.2).
    func cursor(for seq: Int64) -> String { "\(store.databaseID):\(seq)" }

    /// The seq a client cursor stands for; nil cursor means "from the beginning".
    func seq(fromCursor cursor: String?) throws(APIError) -> Int64 {
        guard let cursor, !cursor.isEmpty else { return 0 }
        let parts = cursor.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let seq = Int64(parts[1]), seq >= 0 else {
            throw APIError(.badRequest, code: "INVALID_CURSOR", message: "malformed cursor")
        }
        guard parts[0] == store.databaseID else {
            throw APIError(.gone, code: "CURSOR_EXPIRED", message: "cursor belongs to another database; pull again without a cursor")
        }
        return seq
    }
}
