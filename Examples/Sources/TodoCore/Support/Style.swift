/// ANSI styling that switches itself off where colour is unwelcome.
///
/// Colour is on only when the stream is a terminal, `NO_COLOR` is absent or empty (no-color.org),
/// `TERM` is not `dumb` and `--no-color` was not given. A non-empty `FORCE_COLOR` other than `0`
/// turns it on where the stream is not a terminal or `TERM` is `dumb`, but never over `NO_COLOR` or
/// `--no-color`: a user who asked for no colour gets none.
struct Style: Sendable {
    let enabled: Bool

    init(enabled: Bool) { self.enabled = enabled }

    /// Decides whether to colour a stream.
    static func colorEnabled(isTerminal: Bool, environment: [String: String], noColorFlag: Bool) -> Bool {
        if noColorFlag { return false }
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty { return false }
        if let force = environment["FORCE_COLOR"], !force.isEmpty, force != "0" { return true }
        if environment["TERM"] == "dumb" { return false }
        return isTerminal
    }

    func green(_ text: String) -> String { paint(text, "32") }
    func red(_ text: String) -> String { paint(text, "31") }
    func yellow(_ text: String) -> String { paint(text, "33") }
    func cyan(_ text: String) -> String { paint(text, "36") }
    func bold(_ text: String) -> String { paint(text, "1") }
    func dim(_ text: String) -> String { paint(text, "2") }

    private func paint(_ text: String, _ code: String) -> String {
        enabled && !text.isEmpty ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}
