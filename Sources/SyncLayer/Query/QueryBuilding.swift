/// The query builder methods shared by collections and queries.
///
/// `CollectionReference`, `TypedCollectionReference` and `Query` all start or extend a query
/// with these; each returns a new ``Query``.
public protocol QueryBuilding: Sendable {
    associatedtype Element: Sendable
    /// The query built so far (for a collection: all of its documents).
    var query: Query<Element> { get }
}

extension QueryBuilding {
    /// Adds a condition; several are AND-ed.
    public func `where`(_ field: String, _ op: QueryOperator, _ value: JSONValue = .null) -> Query<Element> {
        query.with { $0.filters.append(QueryFilter(field: field, op: op, value: value)) }
    }

    /// `field == value`; `nil` matches null or missing fields.
    public func `where`(_ field: String, isEqualTo value: JSONValue) -> Query<Element> {
        self.where(field, .isEqualTo, value)
    }
    /// `field != value`; a missing field is included.
    public func `where`(_ field: String, isNotEqualTo value: JSONValue) -> Query<Element> {
        self.where(field, .isNotEqualTo, value)
    }
    public func `where`(_ field: String, isGreaterThan value: JSONValue) -> Query<Element> {
        self.where(field, .isGreaterThan, value)
    }
    public func `where`(_ field: String, isGreaterThanOrEqualTo value: JSONValue) -> Query<Element> {
        self.where(field, .isGreaterThanOrEqualTo, value)
    }
    public func `where`(_ field: String, isLessThan value: JSONValue) -> Query<Element> {
        self.where(field, .isLessThan, value)
    }
    public func `where`(_ field: String, isLessThanOrEqualTo value: JSONValue) -> Query<Element> {
        self.where(field, .isLessThanOrEqualTo, value)
    }
    public func `where`(_ field: String, startsWith prefix: String) -> Query<Element> {
        self.where(field, .startsWith, .string(prefix))
    }
    public func `where`(_ field: String, endsWith suffix: String) -> Query<Element> {
        self.where(field, .endsWith, .string(suffix))
    }
    public func `where`(_ field: String, contains substring: String) -> Query<Element> {
        self.where(field, .contains, .string(substring))
    }
    public func `where`(_ field: String, arrayContains value: JSONValue) -> Query<Element> {
        self.where(field, .arrayContains, value)
    }
    public func `where`(_ field: String, arrayContainsAny values: [JSONValue]) -> Query<Element> {
        self.where(field, .arrayContainsAny, .array(values))
    }
    public func `where`(_ field: String, whereIn values: [JSONValue]) -> Query<Element> {
        self.where(field, .whereIn, .array(values))
    }
    public func `where`(_ field: String, whereNotIn values: [JSONValue]) -> Query<Element> {
        self.where(field, .whereNotIn, .array(values))
    }
    /// `isNull: true` keeps null or missing fields; `isNull: false` keeps the others.
    public func `where`(_ field: String, isNull: Bool) -> Query<Element> {
        self.where(field, isNull ? .isNull : .isNotNull)
    }

    /// Sorts by a field; repeat for more keys.
    public func orderBy(_ field: String, descending: Bool = false) -> Query<Element> {
        query.with { $0.sorts.append(SortOrder(field: field, descending: descending)) }
    }

    /// At most `count` results.
    public func limit(_ count: Int) -> Query<Element> {
        query.with { $0.limit = count }
    }

    /// Skips the first `count` results.
    public func offset(_ count: Int) -> Query<Element> {
        query.with { $0.offset = count }
    }
}
