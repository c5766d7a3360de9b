import Foundation

/// A value guarded by a lock.
///
/// `@unchecked Sendable` is safe because every access to `value` goes through
/// `withLock`, which holds `lock` for the whole closure.
/// (`Synchronization.Mutex` would do, but needs macOS 15 / iOS 18.)
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    @discardableResult
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
