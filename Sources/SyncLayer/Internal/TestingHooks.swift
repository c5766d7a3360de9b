import Foundation

/// Hooks for the reliability harness (`sync-torture`, `sync-crash-client`), not API: import with
/// `@_spi(Testing) import SyncLayer`. They exist so crash tests can stop the process at points no
/// public API reaches.
@_spi(Testing) public enum TestingHooks {
    /// The points inside the store's write transactions, just before they commit.
    public enum TransactionPoint: String, Sendable, CaseIterable {
        /// Inside the transaction that records the server's answers to a pushed batch.
        case acknowledgements
        /// Inside a pulled page's transaction, after its records and before its cursor is stored.
        case beforeCursor
    }

    private static let handler = Locked<(@Sendable (TransactionPoint) -> Void)?>(nil)

    /// Called (on the writing thread, inside the open transaction) at each ``TransactionPoint``.
    /// A crash harness SIGKILLs itself here; the transaction must then leave no trace.
    public static func onTransactionPoint(_ body: (@Sendable (TransactionPoint) -> Void)?) {
        handler.withLock { $0 = body }
    }

    static func reached(_ point: TransactionPoint) {
        handler.withLock { $0 }?(point)
    }

    /// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2), for test servers that speak
    /// the handshake themselves.
    public static func webSocketAccept(for key: String) -> String { WebSocketHandshake.accept(for: key) }
}

extension SyncLayer {
    /// Opens an instance whose wall clock runs `skew` ahead of (or, negative, behind) the
    /// system's: clock-skew tests of the hybrid logical clock and last-write-wins.
    @_spi(Testing) public convenience init(config: SyncConfig, clockSkew skew: Duration) throws {
        let offset = Int64(skew / .milliseconds(1))
        try self.init(config: config, wallClock: WallClock { WallClock.nowMilliseconds() + offset })
    }
}
