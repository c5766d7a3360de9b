import Foundation

/// Everything a ``SyncLayer`` needs: where to keep data, which collections exist, and how
/// to reach the backend.
///
/// Mirrors SyncLayer (Dart) 1.7.3's `SyncConfig`. Only `collections` is required: without a
/// `baseURL` the store works offline and keeps every change queued.
///
/// ```swift
/// let config = SyncConfig(
///     baseURL: URL(string: "https://api.example.com"),
///     collections: ["todos", "lists"],
///     storage: .file("/var/lib/app/sync.sqlite")
/// )
/// let sync = try await SyncLayer(config: config)
/// ```
///
/// ``validate()`` (called by `SyncLayer.init`) rejects invalid values with a
/// ``SyncLayerError`` in every build, not only in debug builds.
public struct SyncConfig: Sendable {
    /// Where the local database lives.
    public enum Storage: Sendable, Hashable {
        /// `<Application Support>/synclayer/synclayer.sqlite` on Apple platforms,
        /// `$XDG_DATA_HOME/synclayer/synclayer.sqlite` (or `~/.local/share/…`) on Linux.
        case `default`
        /// A database file at this path; its folder must exist.
        case file(String)
        /// A private in-memory database, gone when the `SyncLayer` closes.
        case inMemory
    }

    /// How hard each commit pushes data to disk.
    public enum Durability: Sendable, Hashable {
        /// WAL with `synchronous=NORMAL`: a commit survives an app crash; a power loss may lose
        /// the last commits, never corrupt the file. About 15× faster than `.full`.
        case normal
        /// WAL with `synchronous=FULL`: every commit survives a power loss.
        case full
    }

    /// REST base URL of the sync backend (no trailing slash needed). `nil`: offline only.
    public var baseURL: URL?
    /// The collections this app uses. Only these can be opened, pulled and subscribed to.
    public var collections: [String]
    /// Bearer token sent with every request.
    public var authToken: String?
    /// Called for a fresh token when the server answers 401; `nil` keeps `authToken`.
    public var tokenProvider: (@Sendable () async throws -> String)?
    /// Interval of automatic sync when ``enableAutoSync`` is on. Default 5 minutes.
    public var syncInterval: Duration
    /// Attempts for an operation that keeps failing with a retryable error before it is
    /// parked as failed (it can be retried by the app). Default 10.
    public var maxRetries: Int
    /// Sync on start, after local writes, and every ``syncInterval``. Default true.
    public var enableAutoSync: Bool
    /// How conflicts between local and remote changes are resolved. Default last write wins.
    public var conflictStrategy: ConflictStrategy
    /// The resolver used by ``ConflictStrategy/custom``.
    public var customConflictResolver: CustomConflictResolver?
    /// Per-collection strategy overrides.
    public var collectionConflictStrategies: [String: ConflictStrategy]
    /// Per-collection pull filters.
    public var syncFilters: [String: SyncFilter]
    /// Push and receive changes over a WebSocket as they happen. Needs ``websocketURL``, and
    /// ``baseURL`` or ``customBackend`` (HTTP sync carries what the socket misses).
    public var enableRealtimeSync: Bool
    /// WebSocket endpoint (`ws://`, `wss://`, `http://` or `https://`).
    public var websocketURL: URL?
    /// First delay before reconnecting the WebSocket; later delays grow exponentially.
    public var websocketReconnectDelay: Duration
    /// Reconnect attempts before giving up; `nil` (the default) never gives up.
    public var maxWebsocketReconnectAttempts: Int?
    /// Where the local database lives. Default ``Storage/default``.
    public var storage: Storage
    /// Commit durability. Default ``Durability/normal``.
    public var durability: Durability
    /// Receives the library's log records. Default: nothing is logged.
    public var logger: SyncLogger
    /// Your own backend instead of the REST protocol (SyncLayer Dart's `customBackendAdapter`).
    public var customBackend: (any SyncBackend)?
    /// Which REST protocol to speak with ``baseURL``. Default: v2 when the server offers it.
    public var protocolVersion: RESTBackend.ProtocolVersion
    /// How HTTP requests are sent. Default ``defaultTransport()``: libcurl on Linux, `URLSession` elsewhere.
    public var transport: (any HTTPTransport)?
    /// A PEM file of the certificate authorities to trust for `https://` and `wss://` instead of
    /// the system's: a private CA, or one made for tests. Default nil: the system's.
    ///
    /// It applies to the default HTTP transport and to the realtime WebSocket; a ``transport`` of
    /// your own takes its CA itself (`CurlHTTPTransport(caBundlePath:)`). Linux only (libcurl):
    /// on Apple platforms ``validate()`` refuses it, because `URLSession` takes no CA file; add
    /// the CA to the system's trust settings (a configuration profile) there.
    public var caBundlePath: String?

    public init(
        baseURL: URL? = nil,
        collections: [String],
        authToken: String? = nil,
        tokenProvider: (@Sendable () async throws -> String)? = nil,
        syncInterval: Duration = .seconds(300),
        maxRetries: Int = 10,
        enableAutoSync: Bool = true,
        conflictStrategy: ConflictStrategy = .lastWriteWins,
        customConflictResolver: CustomConflictResolver? = nil,
        collectionConflictStrategies: [String: ConflictStrategy] = [:],
        syncFilters: [String: SyncFilter] = [:],
        enableRealtimeSync: Bool = false,
        websocketURL: URL? = nil,
        websocketReconnectDelay: Duration = .seconds(1),
        maxWebsocketReconnectAttempts: Int? = nil,
        storage: Storage = .default,
        durability: Durability = .normal,
        logger: SyncLogger = .disabled,
        customBackend: (any SyncBackend)? = nil,
        protocolVersion: RESTBackend.ProtocolVersion = .automatic,
        transport: (any HTTPTransport)? = nil,
        caBundlePath: String? = nil
    ) {
        self.baseURL = baseURL
        self.collections = collections
        self.authToken = authToken
        self.tokenProvider = tokenProvider
        self.syncInterval = syncInterval
        self.maxRetries = maxRetries
        self.enableAutoSync = enableAutoSync
        self.conflictStrategy = conflictStrategy
        self.customConflictResolver = customConflictResolver
        self.collectionConflictStrategies = collectionConflictStrategies
        self.syncFilters = syncFilters
        self.enableRealtimeSync = enableRealtimeSync
        self.websocketURL = websocketURL
        self.websocketReconnectDelay = websocketReconnectDelay
        self.maxWebsocketReconnectAttempts = maxWebsocketReconnectAttempts
        self.storage = storage
        self.durability = durability
        self.logger = logger
        self.customBackend = customBackend
        self.protocolVersion = protocolVersion
        self.transport = transport
        self.caBundlePath = caBundlePath
    }

    /// Checks every option.
    ///
    /// - Throws: ``SyncLayerError`` with code ``SyncLayerError/Code/invalidConfiguration`` (or
    ///   ``SyncLayerError/Code/invalidCollectionName``) naming the option.
    public func validate() throws {
        func invalid(_ message: String) -> SyncLayerError { SyncLayerError(.invalidConfiguration, message) }

        guard !collections.isEmpty else { throw invalid("collections must name at least one collection") }
        for name in collections { try Identifiers.validateCollection(name) }
        guard Set(collections).count == collections.count else { throw invalid("collections lists a name twice") }
        let known = Set(collections)
        if let url = baseURL {
            guard let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
                throw invalid("baseURL must be an http or https URL with a host")
            }
        }
        if let token = authToken, token.isEmpty || token.contains(where: { $0.isNewline }) {
            throw invalid("authToken must be non-empty and on one line")
        }
        guard syncInterval > .zero else { throw invalid("syncInterval must be positive") }
        guard maxRetries >= 0 else { throw invalid("maxRetries must not be negative") }
        let strategies = [conflictStrategy] + Array(collectionConflictStrategies.values)
        if strategies.contains(.custom) && customConflictResolver == nil {
            throw invalid("conflictStrategy .custom needs customConflictResolver")
        }
        for name in collectionConflictStrategies.keys where !known.contains(name) {
            throw invalid("collectionConflictStrategies names '\(name)', which is not in collections")
        }
        for (name, filter) in syncFilters {
            guard known.contains(name) else { throw invalid("syncFilters names '\(name)', which is not in collections") }
            try filter.validate()
        }
        if enableRealtimeSync {
            guard let url = websocketURL else { throw invalid("enableRealtimeSync needs websocketURL") }
            guard baseURL != nil || customBackend != nil else {
                throw invalid("enableRealtimeSync needs baseURL (or customBackend): HTTP sync carries what the socket misses")
            }
            guard let scheme = url.scheme?.lowercased(), ["ws", "wss", "http", "https"].contains(scheme), url.host != nil else {
                throw invalid("websocketURL must be a ws, wss, http or https URL with a host")
            }
        }
        guard websocketReconnectDelay > .zero else { throw invalid("websocketReconnectDelay must be positive") }
        if let attempts = maxWebsocketReconnectAttempts, attempts < 0 {
            throw invalid("maxWebsocketReconnectAttempts must not be negative")
        }
        if case .file(let path) = storage, path.isEmpty { throw invalid("storage .file needs a path") }
        if let caBundlePath { try Self.validateCABundle(caBundlePath, option: "caBundlePath") }
    }

    /// Refuses a CA bundle that is not a readable file, or any CA bundle where `URLSession` does
    /// the networking (it takes no CA file).
    static func validateCABundle(_ path: String, option: String) throws {
        #if canImport(CCurl)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: path) else {
            throw SyncLayerError(.invalidConfiguration, "\(option) '\(path)' is not a readable file")
        }
        #else
        throw SyncLayerError(.invalidConfiguration,
                             "\(option) needs libcurl (Linux); with URLSession, trust the CA in the system's settings")
        #endif
    }
}

/// A pull filter for one collection, sent to the server as query parameters and applied again
/// by the client to every pulled record (v2 servers may ignore it).
///
/// Mirrors SyncLayer (Dart)'s `SyncFilter`. It narrows what is pulled; it never turns off
/// incremental pulls. Changing a collection's filter (anything but `limit`) pulls that collection
/// again from the start, so a widened filter brings the older records that now match.
public struct SyncFilter: Sendable, Hashable {
    /// Equality conditions on top-level fields (AND).
    public var `where`: [String: JSONValue]
    /// Only records changed strictly after this date (their `updatedAt`): v1 servers get it as
    /// `since`; on v2 the client drops live records changed at or before it, unless it already
    /// holds the document. Deletes always apply.
    public var since: Date?
    /// Page size for pulls of this collection.
    public var limit: Int?
    /// Only these fields are pulled (records are then partial; see the sync guide).
    public var fields: [String]?
    /// These fields are not pulled.
    public var excludeFields: [String]?

    public init(where: [String: JSONValue] = [:], since: Date? = nil, limit: Int? = nil,
                fields: [String]? = nil, excludeFields: [String]? = nil) {
        self.where = `where`
        self.since = since
        self.limit = limit
        self.fields = fields
        self.excludeFields = excludeFields
    }

    /// What decides which records and fields are pulled (not `limit`), as canonical JSON; `""`
    /// for a filter that filters nothing. A pull cursor is kept with the fingerprint it was
    /// pulled under.
    var fingerprint: String {
        var parts: [String: JSONValue] = [:]
        if !`where`.isEmpty { parts["where"] = .object(`where`) }
        if let since { parts["since"] = .double(since.timeIntervalSince1970) }
        if let fields { parts["fields"] = .array(fields.sorted().map(JSONValue.string)) }
        if let excludeFields { parts["excludeFields"] = .array(excludeFields.sorted().map(JSONValue.string)) }
        return parts.isEmpty ? "" : JSONText.encode(parts)
    }

    func validate() throws {
        if fields != nil && excludeFields != nil {
            throw SyncLayerError(.invalidConfiguration, "a SyncFilter takes fields or excludeFields, not both")
        }
        if let limit, limit <= 0 { throw SyncLayerError(.invalidConfiguration, "SyncFilter.limit must be positive") }
    }
}
