/// The fifteen filter operators of SyncLayer (Dart)'s query builder.
///
/// Comparisons are typed: a number matches numbers (`1` equals `1.0`), a string matches
/// strings, a boolean matches booleans; values of different kinds never match, and ordering
/// operators (`isGreaterThan`, …) are false across kinds. `null` and a missing field are the
/// same thing to every operator.
public enum QueryOperator: String, Sendable, Hashable, CaseIterable {
    case isEqualTo, isNotEqualTo
    case isGreaterThan, isGreaterThanOrEqualTo, isLessThan, isLessThanOrEqualTo
    /// String prefix (strings only).
    case startsWith
    /// String suffix (strings only).
    case endsWith
    /// Substring (strings only).
    case contains
    /// The field is an array holding the value.
    case arrayContains
    /// The field is an array holding any of the values.
    case arrayContainsAny
    /// The field equals one of the values.
    case whereIn
    /// The field equals none of the values (a missing field is included).
    case whereNotIn
    /// The field is null or missing.
    case isNull
    /// The field is present and not null.
    case isNotNull
}

/// One `where` condition.
public struct QueryFilter: Sendable, Hashable {
    public let field: String
    public let op: QueryOperator
    public let value: JSONValue

    public init(field: String, op: QueryOperator, value: JSONValue) {
        self.field = field
        self.op = op
        self.value = value
    }
}

/// One `orderBy` key.
public struct SortOrder: Sendable, Hashable {
    public let field: String
    public let descending: Bool

    public init(field: String, descending: Bool = false) {
        self.field = field
        self.descending = descending
    }
}
