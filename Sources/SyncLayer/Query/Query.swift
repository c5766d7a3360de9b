/// A query over one collection: filters, sort keys and paging, run in SQLite.
///
/// Queries are values: every builder method returns a new query and leaves the old one as it
/// was. Start one from a collection:
///
/// ```swift
/// let open = try await todos.where("done", isEqualTo: false).orderBy("text").limit(20).get()
/// let urgent = try await todos.where("meta.priority", isGreaterThan: 2).count()
/// ```
///
/// Results come in the order of the `orderBy` keys, then in insertion order. `null` and missing
/// values sort first in ascending order and last in descending order; across kinds, numbers
/// (and booleans, as 0 and 1) sort before strings, and arrays and objects sort by their JSON
/// text among the strings. Strings compare by their UTF-8 bytes (no locale, no Unicode
/// normalization: `"é"` composed and decomposed are different values to a query).
public struct Query<Element: Sendable>: QueryBuilding {
    let spec: QuerySpec
    let source: CollectionSource
    let transform: @Sendable (Document) throws -> Element
    /// The SELECT, built on first use and shared by the copies of this value (a watched query
    /// runs it after every change).
    private let compiled = Locked<(sql: String, bindings: [SQLValue])?>(nil)

    init(spec: QuerySpec, source: CollectionSource, transform: @escaping @Sendable (Document) throws -> Element) {
        self.spec = spec
        self.source = source
        self.transform = transform
    }

    func select() throws -> (sql: String, bindings: [SQLValue]) {
        if let compiled = compiled.withLock({ $0 }) { return compiled }
        let built = try QuerySQL.select(spec)
        compiled.withLock { $0 = built }
        return built
    }

    public var query: Query<Element> { self }

    func with(_ change: (inout QuerySpec) -> Void) -> Query<Element> {
        var spec = spec
        change(&spec)
        return Query(spec: spec, source: source, transform: transform)
    }

    /// The matching documents.
    public func get() async throws -> [Element] {
        try rows().map { try transform($0.document()) }
    }

    /// The first matching document, or nil (also when the query's `limit` is 0).
    public func first() async throws -> Element? {
        try with { $0.limit = min($0.limit ?? 1, 1) }.rows().first.map { try transform($0.document()) }
    }

    /// How many documents match (after `offset` and `limit`, when set).
    public func count() async throws -> Int {
        let store = try source.store()
        let (sql, bindings) = try QuerySQL.count(spec)
        return try store.scalar(sql: sql, bindings: bindings)
    }

    /// The current result, then a new result after each committed change to the collection
    /// that alters it.
    ///
    /// The observation ends when the consuming loop ends, when its task is cancelled, or when
    /// the ``SyncLayer`` closes. A consumer slower than the writes gets the latest result,
    /// never a backlog.
    ///
    /// ```swift
    /// for try await open in todos.where("done", isEqualTo: false).watch() { render(open) }
    /// ```
    public func watch() -> QueryObservation<Element> {
        QueryObservation(query: self)
    }

    func rows() throws -> [DocumentRow] {
        let store = try source.store()
        let (sql, bindings) = try select()
        return try store.documentRows(sql: sql, bindings: bindings)
    }

    /// The query plan SQLite chose (`EXPLAIN QUERY PLAN`), one line per step.
    public func explain() async throws -> [String] {
        let store = try source.store()
        let (sql, bindings) = try select()
        return try store.read { db in
            let statement = try db.statement("EXPLAIN QUERY PLAN " + sql, dynamic: true)
            try statement.bind(bindings)
            var lines: [String] = []
            while try statement.step() { lines.append(statement.text(3) ?? "") }
            return lines
        }
    }
}

/// The collection a query or reference reads: its name and the store, or why it is unusable.
struct CollectionSource: Sendable {
    let name: String
    private let resolved: Result<LocalStore, SyncLayerError>

    init(name: String, store: LocalStore, known: Set<String>) {
        self.name = name
        do {
            try Identifiers.validateCollection(name)
            guard known.contains(name) else {
                throw SyncLayerError(.unknownCollection, "collection '\(name)' is not in SyncConfig.collections")
            }
            resolved = .success(store)
        } catch let error as SyncLayerError {
            resolved = .failure(error)
        } catch {
            resolved = .failure(SyncLayerError(.invalidCollectionName, "\(error)"))
        }
    }

    /// The store, or the typed error that makes this collection unusable.
    func store() throws -> LocalStore { try resolved.get() }
}
