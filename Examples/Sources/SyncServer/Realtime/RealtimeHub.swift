import Foundation
import Synchronization

/// Identifies one WebSocket connection.
typealias ConnectionID = UUID

/// Who listens to which collection, and which connection sent which op.
///
/// The hub carries only wake-ups: each connection reads the changes after its own cursor from the store,
/// so fan-out is in seq order, gap-free, and the same code serves resume and live delivery.
final class RealtimeHub: Sendable {
    private struct Listener {
        var collections: Set<String> = []
        var pending: Set<String> = []
        var wake: AsyncStream<Void>.Continuation
    }

    private struct State {
        var listeners: [ConnectionID: Listener] = [:]
        var origins: [String: ConnectionID] = [:]
        var originOrder: [String] = []
        var originHead = 0
    }

    /// How many recent op ids keep their origin connection (echo suppression only needs recent ones).
    private static let originCapacity = 16_384
    private let state = Mutex(State())

    /// Registers a connection; `wake` gets a signal whenever one of its collections changed.
    func register(_ connection: ConnectionID, wake: AsyncStream<Void>.Continuation) {
        state.withLock { $0.listeners[connection] = Listener(wake: wake) }
    }

    func unregister(_ connection: ConnectionID) {
        let listener = state.withLock { $0.listeners.removeValue(forKey: connection) }
        listener?.wake.finish()
    }

    func subscribe(_ connection: ConnectionID, to collection: String) {
        state.withLock { _ = $0.listeners[connection]?.collections.insert(collection) }
    }

    func unsubscribe(_ connection: ConnectionID, from collection: String) {
        state.withLock { _ = $0.listeners[connection]?.collections.remove(collection) }
    }

    /// Wakes every connection subscribed to one of `collections`.
    func notify(_ collections: Set<String>) {
        let wakes = state.withLock { state in
            var wakes: [AsyncStream<Void>.Continuation] = []
            for (id, listener) in state.listeners where !listener.collections.isDisjoint(with: collections) {
                state.listeners[id]?.pending.formUnion(listener.collections.intersection(collections))
                wakes.append(listener.wake)
            }
            return wakes
        }
        for wake in wakes { wake.yield() }
    }

    /// The collections changed since the last call, for one connection.
    func takePending(_ connection: ConnectionID) -> Set<String> {
        state.withLock { state in
            let pending = state.listeners[connection]?.pending ?? []
            state.listeners[connection]?.pending = []
            return pending
        }
    }

    /// Remembers that `opID` was sent by `connection`, before it is written, so its change is not echoed.
    func registerOrigin(opID: String, connection: ConnectionID) {
        state.withLock { state in
            if state.originOrder.count < Self.originCapacity {
                state.originOrder.append(opID)
            } else {
                state.origins[state.originOrder[state.originHead]] = nil
                state.originOrder[state.originHead] = opID
                state.originHead = (state.originHead + 1) % Self.originCapacity
            }
            state.origins[opID] = connection
        }
    }

    func origin(of opID: String?) -> ConnectionID? {
        guard let opID else { return nil }
        return state.withLock { $0.origins[opID] }
    }
}
