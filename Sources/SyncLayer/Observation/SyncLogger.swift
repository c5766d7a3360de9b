import Foundation

/// Severity of a log record; the seven levels of swift-log.
public enum LogLevel: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    case trace, debug, info, notice, warning, error, critical

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }
}

/// One log record from the library.
///
/// Messages name collections, ids and counts, never document values or tokens.
public struct LogRecord: Sendable {
    public let level: LogLevel
    public let message: String
    public let metadata: [String: String]
    /// The library component that logged (`store`, `sync`, `realtime`, …).
    public let source: String
    public let file: String
    public let line: UInt
    public let date: Date
}

/// Where the library's log records go: a level threshold and a handler.
///
/// The library never prints. Bridge to swift-log, `os.Logger` or anything else:
///
/// ```swift
/// let logger = Logger(label: "sync")
/// config.logger = SyncLogger(minimumLevel: .debug) { record in
///     logger.log(level: .init(rawValue: record.level.description)!, "\(record.message)")
/// }
/// ```
public struct SyncLogger: Sendable {
    public var minimumLevel: LogLevel
    private let handler: (@Sendable (LogRecord) -> Void)?

    public init(minimumLevel: LogLevel = .info, handler: @escaping @Sendable (LogRecord) -> Void) {
        self.minimumLevel = minimumLevel
        self.handler = handler
    }

    private init() {
        minimumLevel = .critical
        handler = nil
    }

    /// Logs nothing.
    public static let disabled = SyncLogger()

    /// Writes `[level] source: message` lines to standard error.
    public static func standardError(minimumLevel: LogLevel = .info) -> SyncLogger {
        SyncLogger(minimumLevel: minimumLevel) { record in
            let line = "[\(record.level)] \(record.source): \(record.message)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    func log(_ level: LogLevel, _ message: @autoclosure () -> String, metadata: [String: String] = [:],
             source: String, file: String = #fileID, line: UInt = #line) {
        guard let handler, level >= minimumLevel else { return }
        handler(LogRecord(level: level, message: message(), metadata: metadata, source: source,
                          file: file, line: line, date: Date()))
    }
}
