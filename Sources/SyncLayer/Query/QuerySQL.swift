/// Turns a query into SQL over `sl_documents`.
///
/// Every value is a bound parameter. Field paths are validated (``Identifiers``) and written as
/// JSON-path literals, because SQLite only uses an expression index when the query spells the
/// expression exactly as the index does (`json_extract(data, '$."done"')`). The field `id`
/// means the document id.
struct QuerySQL {
    var clauses: [String] = ["collection = ?", "deleted = 0"]
    var bindings: [SQLValue]

    init(collection: String) { bindings = [.text(collection)] }

    /// A field as SQL: its value expression and its JSON-type expression.
    struct Field {
        let value: String
        let type: String
        let path: String?  // the JSON-path literal; nil for the id column

        init(_ name: String) throws {
            if name == "id" {
                value = "sl_documents.id"  // qualified: json_each has an `id` column too
                type = "'text'"
                path = nil
                return
            }
            let literal = try Field.pathLiteral(name)
            value = "json_extract(data, \(literal))"
            type = "json_type(data, \(literal))"
            path = literal
        }

        init(value: String, type: String) {
            self.value = value
            self.type = type
            path = nil
        }

        /// `'$."a"."b"'`: segments quoted for JSON path, the whole quoted for SQL.
        static func pathLiteral(_ name: String) throws -> String {
            let segments = try Identifiers.pathSegments(name)
            let jsonPath = "$" + segments.map { ".\"\($0)\"" }.joined()
            return "'" + jsonPath.replacingOccurrences(of: "'", with: "''") + "'"
        }
    }

    mutating func add(_ filter: QueryFilter) throws {
        let field = try Field(filter.field)
        let value = filter.value
        // SQLite binds NaN as NULL, and no stored value is infinite (documents refuse both).
        if let path = JSONText.firstNonFinitePath(in: value) {
            throw SyncLayerError(.invalidQuery,
                                 "\(filter.op) on \(Identifiers.describe(filter.field)) has a number that is not finite (at \(path))")
        }
        switch filter.op {
        case .isEqualTo:
            clauses.append(equality(field, value))
        case .isNotEqualTo:
            clauses.append("NOT coalesce(\(equality(field, value)), 0)")
        case .isGreaterThan, .isGreaterThanOrEqualTo, .isLessThan, .isLessThanOrEqualTo:
            let symbol = [QueryOperator.isGreaterThan: ">", .isGreaterThanOrEqualTo: ">=", .isLessThan: "<",
                          .isLessThanOrEqualTo: "<="][filter.op]!
            // The kind test is written so that SQLite evaluates `json_type` (which parses the
            // whole document) only for the rows the index range cannot tell apart by SQL value
            // alone: SQLite orders numbers before all text, and JSON booleans come out of
            // `json_extract` as the integers 0 and 1, arrays and objects as text.
            let v = field.value
            let kind: String
            switch value {
            case .int, .double: kind = "\(v) < '' AND (\(v) NOT IN (0, 1) OR \(field.type) IN ('integer', 'real'))"
            case .string: kind = "\(v) >= '' AND (substr(\(v), 1, 1) NOT IN ('[', '{') OR \(field.type) = 'text')"
            case .bool: kind = "\(field.type) IN ('true', 'false')"
            default:
                throw SyncLayerError(.invalidQuery, "\(filter.op) on \(Identifiers.describe(filter.field)) needs a number, string or boolean")
            }
            clauses.append("(\(v) \(symbol) ? AND \(kind))")
            bindings.append(sqlValue(value))
        case .startsWith, .endsWith, .contains:
            guard case .string(let text) = value else {
                throw SyncLayerError(.invalidQuery, "\(filter.op) on \(Identifiers.describe(filter.field)) needs a string")
            }
            let length = Int64(text.unicodeScalars.count)
            switch filter.op {
            case .startsWith:
                clauses.append("(\(field.type) = 'text' AND substr(\(field.value), 1, ?) = ?)")
                bindings += [.int(length), .text(text)]
            case .endsWith where length == 0, .contains where length == 0:
                clauses.append("(\(field.type) = 'text')")
            case .endsWith:
                clauses.append("(\(field.type) = 'text' AND substr(\(field.value), ?) = ?)")
                bindings += [.int(-length), .text(text)]
            default:
                clauses.append("(\(field.type) = 'text' AND instr(\(field.value), ?) > 0)")
                bindings.append(.text(text))
            }
        case .arrayContains, .arrayContainsAny:
            guard let path = field.path else {
                throw SyncLayerError(.invalidQuery, "\(filter.op) needs an array field, not the document id")
            }
            let candidates: [JSONValue]
            if filter.op == .arrayContains {
                candidates = [value]
            } else {
                guard case .array(let list) = value else {
                    throw SyncLayerError(.invalidQuery, "arrayContainsAny on \(Identifiers.describe(filter.field)) needs a list")
                }
                candidates = list
            }
            guard !candidates.isEmpty else { clauses.append("0"); return }
            // The candidates are one bound JSON array, so the SQL is the same for any list size.
            let element = Field(value: "e.value", type: "e.type")
            bindings.append(.text(JSONText.encode(.array(candidates))))
            clauses.append("(\(field.type) = 'array' AND EXISTS (SELECT 1 FROM json_each(data, \(path)) AS e, json_each(?) AS v WHERE \(QuerySQL.typedMatch(element))))")
        case .whereIn, .whereNotIn:
            guard case .array(let list) = value else {
                throw SyncLayerError(.invalidQuery, "\(filter.op) on \(Identifiers.describe(filter.field)) needs a list")
            }
            let any: String
            if list.isEmpty {
                any = "0"
            } else {
                // `x IN (…)` lets SQLite use an index on the field; the EXISTS keeps kinds apart.
                let json = SQLValue.text(JSONText.encode(.array(list)))
                bindings += [json, json]
                var test = "(\(field.value) IN (SELECT value FROM json_each(?)) AND EXISTS (SELECT 1 FROM json_each(?) AS v WHERE \(QuerySQL.typedMatch(field))))"
                if list.contains(.null) { test = "(\(test) OR \(field.value) IS NULL)" }
                any = test
            }
            clauses.append(filter.op == .whereIn ? any : "NOT coalesce(\(any), 0)")
        case .isNull:
            clauses.append("\(field.value) IS NULL")
        case .isNotNull:
            clauses.append("\(field.value) IS NOT NULL")
        }
    }

    /// Typed equality of a field and a `json_each` row `v`: the same SQL value and the same JSON
    /// kind (integers and reals are one kind), so `1`, `true` and `"1"` differ.
    static func typedMatch(_ field: Field) -> String {
        "(\(field.value) = v.value AND (\(field.type) = v.type OR (\(field.type) IN ('integer', 'real') AND v.type IN ('integer', 'real'))))"
    }

    /// Typed equality: `x = ?` narrowed by the JSON type, so `1`, `true` and `"1"` differ.
    private mutating func equality(_ field: Field, _ value: JSONValue) -> String {
        switch value {
        case .null:
            return "\(field.value) IS NULL"
        case .bool(let b):
            bindings.append(.int(b ? 1 : 0))
            return "(\(field.value) = ? AND \(field.type) = '\(b ? "true" : "false")')"
        case .int, .double:
            bindings.append(sqlValue(value))
            // Only 0 and 1 can also be a boolean; no text equals a number.
            return value == .int(0) || value == .int(1)
                ? "(\(field.value) = ? AND \(field.type) IN ('integer', 'real'))"
                : "\(field.value) = ?"
        case .string(let s):
            bindings.append(.text(s))
            // Only text that looks like an array or object can also be one; no number equals text.
            return field.path == nil || !(s.hasPrefix("[") || s.hasPrefix("{"))
                ? "\(field.value) = ?"
                : "(\(field.value) = ? AND \(field.type) = 'text')"
        case .array, .object:
            bindings.append(.text(JSONText.encode(value)))
            return "(\(field.value) = ? AND \(field.type) = '\(value.arrayValue != nil ? "array" : "object")')"
        }
    }

    private func sqlValue(_ value: JSONValue) -> SQLValue {
        switch value {
        case .int(let i): .int(Int64(i))
        case .double(let d): .double(d)
        case .bool(let b): .int(b ? 1 : 0)
        case .string(let s): .text(s)
        case .null: .null
        case .array, .object: .text(JSONText.encode(value))
        }
    }

    /// The full SELECT for documents.
    static func select(_ query: QuerySpec) throws -> (sql: String, bindings: [SQLValue]) {
        var builder = QuerySQL(collection: query.collection)
        for filter in query.filters { try builder.add(filter) }
        var sql = "SELECT \(DocumentRow.columns) FROM sl_documents WHERE " + builder.clauses.joined(separator: " AND ")
        let order = try query.sorts.map { "\(try Field($0.field).value) \($0.descending ? "DESC" : "ASC")" } + ["rowid ASC"]
        sql += " ORDER BY " + order.joined(separator: ", ")
        try builder.appendPaging(query, to: &sql)
        return (sql, builder.bindings)
    }

    /// `SELECT count(*)` of what ``select(_:)`` returns.
    static func count(_ query: QuerySpec) throws -> (sql: String, bindings: [SQLValue]) {
        var builder = QuerySQL(collection: query.collection)
        for filter in query.filters { try builder.add(filter) }
        let whereClause = builder.clauses.joined(separator: " AND ")
        guard query.limit != nil || query.offset != nil else {
            return ("SELECT count(*) FROM sl_documents WHERE " + whereClause, builder.bindings)
        }
        var inner = "SELECT 1 FROM sl_documents WHERE " + whereClause
        try builder.appendPaging(query, to: &inner)
        return ("SELECT count(*) FROM (\(inner))", builder.bindings)
    }

    private mutating func appendPaging(_ query: QuerySpec, to sql: inout String) throws {
        if let limit = query.limit, limit < 0 { throw SyncLayerError(.invalidQuery, "limit must not be negative") }
        if let offset = query.offset, offset < 0 { throw SyncLayerError(.invalidQuery, "offset must not be negative") }
        guard query.limit != nil || query.offset != nil else { return }
        sql += " LIMIT ? OFFSET ?"
        bindings += [.int(Int64(query.limit ?? -1)), .int(Int64(query.offset ?? 0))]
    }

    /// `CREATE INDEX` for a field: the expression every query on that field uses.
    static func createIndex(on field: String) throws -> String? {
        let field = try Field(field)
        guard let path = field.path else { return nil }  // the id is indexed already
        return "CREATE INDEX IF NOT EXISTS sl_idx_\(fnv1a(path)) ON sl_documents (collection, \(field.value)) WHERE deleted = 0"
    }

    private static func fnv1a(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// What a query asks for, independent of how results are decoded.
struct QuerySpec: Sendable, Hashable {
    let collection: String
    var filters: [QueryFilter] = []
    var sorts: [SortOrder] = []
    var limit: Int?
    var offset: Int?
}
