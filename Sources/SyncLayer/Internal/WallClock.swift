import Foundation

/// The source of wall-clock time, injectable so tests control time without sleeping.
struct WallClock: Sendable {
    let milliseconds: @Sendable () -> Int64

    static let system = WallClock { WallClock.nowMilliseconds() }

    static func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
