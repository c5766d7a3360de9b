import Foundation

/// An error from the SyncLayer API: bad configuration, bad input, a missing document.
///
/// Switch on ``code``; new codes may be added in minor releases, so keep a `default`.
/// Storage failures are ``StoreError``s.
///
/// ```swift
/// do { try await todos.update(id, ["done": true]) }
/// catch let error as SyncLayerError where error.code == .documentNotFound { … }
/// ```
public struct SyncLayerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases.
    public struct Code: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A `SyncConfig` value is missing or out of range.
        public static let invalidConfiguration = Code(rawValue: "invalidConfiguration")
        /// The collection is not listed in `SyncConfig.collections`.
        public static let unknownCollection = Code(rawValue: "unknownCollection")
        /// A collection name is empty, too long or has characters outside `[A-Za-z0-9_.-]`.
        public static let invalidCollectionName = Code(rawValue: "invalidCollectionName")
        /// A document id is empty, longer than 512 bytes or has control characters.
        public static let invalidDocumentID = Code(rawValue: "invalidDocumentID")
        /// A document cannot be stored: a non-finite number, nesting deeper than 256 levels, an
        /// `id` field that disagrees with the document id, or an update that would change it.
        /// (Size is not checked here: a document over SQLite's length limit, 1 GB by default,
        /// fails as a ``StoreError`` with `SQLITE_TOOBIG`.)
        public static let invalidDocument = Code(rawValue: "invalidDocument")
        /// `update` named a document that does not exist (or is deleted).
        public static let documentNotFound = Code(rawValue: "documentNotFound")
        /// A query field path is empty or has characters a path cannot hold.
        public static let invalidFieldPath = Code(rawValue: "invalidFieldPath")
        /// A query is malformed: a negative limit or offset, a value of the wrong kind for its
        /// operator (`whereIn` takes a list, `startsWith` a string, …), or a number that is not
        /// finite. (An empty `whereIn` list is valid: it matches nothing.)
        public static let invalidQuery = Code(rawValue: "invalidQuery")
        /// A typed model could not be encoded to, or decoded from, a document.
        public static let modelCoding = Code(rawValue: "modelCoding")
        /// The database was written by a newer SyncLayer whose schema this one does not know.
        public static let incompatibleSchema = Code(rawValue: "incompatibleSchema")
        /// Another `SyncLayer` in this process has the same database file open.
        public static let alreadyOpen = Code(rawValue: "alreadyOpen")
        /// The `SyncLayer` instance was closed.
        public static let closed = Code(rawValue: "closed")
    }

    public let code: Code
    /// A human-readable explanation. It names fields and ids, never document values.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "SyncLayerError.\(code): \(message)" }
}

extension SyncLayerError: LocalizedError {
    public var errorDescription: String? { description }
}

/// A failure of the local SQLite store.
///
/// Carries SQLite's result codes and the statement that failed. Statements bind every
/// value as a parameter, so ``sql`` never holds document data.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// SQLite's primary result code (`SQLITE_FULL` is 13, `SQLITE_READONLY` 8, …).
    public let resultCode: Int32
    /// SQLite's extended result code.
    public let extendedResultCode: Int32
    /// SQLite's message.
    public let message: String
    /// The statement that failed, if any.
    public let sql: String?

    public init(resultCode: Int32, extendedResultCode: Int32? = nil, message: String, sql: String? = nil) {
        self.resultCode = resultCode
        self.extendedResultCode = extendedResultCode ?? resultCode
        self.message = message
        self.sql = sql
    }

    /// The disk (or the database's size limit) is full.
    public var isDiskFull: Bool { resultCode == 13 }
    /// The database file, or its folder, cannot be written.
    public var isReadOnly: Bool { resultCode == 8 }
    /// The file is not a database or is damaged.
    public var isCorrupt: Bool { resultCode == 11 || resultCode == 26 }

    public var description: String {
        var text = "StoreError(\(resultCode)/\(extendedResultCode)): \(message)"
        if let sql { text += " — in: \(sql)" }
        return text
    }
}

extension StoreError: LocalizedError {
    public var errorDescription: String? { description }
}
