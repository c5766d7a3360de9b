/// Short ids: the first characters of a todo's id, as in `git`.
///
/// Listings show 8 characters, more when two ids share their first 8; commands accept any
/// prefix that names one todo (case-insensitive).
enum ShortID {
    static let minimumLength = 8

    /// The display length that keeps every id in `ids` distinct: at least 8.
    static func length(for ids: [String]) -> Int {
        let sorted = ids.map { $0.lowercased() }.sorted()
        var length = minimumLength
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            let common = zip(a, b).prefix { $0 == $1 }.count
            length = max(length, common + 1)
        }
        return length
    }

    /// The todo whose id is `input` or starts with it.
    ///
    /// - Throws: ``TodoError`` with ``ExitStatus/dataError`` when nothing matches or when the
    ///   prefix is ambiguous (the message lists the candidates).
    static func resolve(_ input: String, among todos: [Todo]) throws -> Todo {
        let wanted = input.lowercased()
        guard !wanted.isEmpty else { throw TodoError.usage("an id must not be empty") }
        if let exact = todos.first(where: { $0.id.lowercased() == wanted }) { return exact }
        let matches = todos.filter { $0.id.lowercased().hasPrefix(wanted) }
        switch matches.count {
        case 1:
            return matches[0]
        case 0:
            throw TodoError("no todo has id \(input)", status: .dataError, hint: "`todo list --all` shows every id")
        default:
            let width = max(length(for: matches.map(\.id)), wanted.count + 1)
            let candidates = matches.prefix(10).map { "  \($0.id.prefix(width))  \($0.text)" }.joined(separator: "\n")
            let more = matches.count > 10 ? "\n  … and \(matches.count - 10) more" : ""
            throw TodoError("id \(input) is ambiguous; it matches \(matches.count) todos:\n\(candidates)\(more)",
                            status: .dataError, hint: "type more characters of the id")
        }
    }
}
