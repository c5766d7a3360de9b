import Foundation
import SyncLayer

/// Writes a command's results (stdout) and diagnostics (stderr), styled or as JSON.
struct Printer: Sendable {
    let console: Console
    /// `--json`: results are JSON documents; human lines are not printed.
    let json: Bool
    /// Styling for stdout.
    let style: Style
    /// Styling for stderr.
    let errorStyle: Style

    /// A line of human output (skipped in JSON mode).
    func line(_ text: String = "") {
        guard !json else { return }
        console.write(text + "\n")
    }

    /// A JSON document on stdout: pretty-printed, keys sorted.
    func document(_ value: JSONValue) {
        console.write(Printer.encode(value, pretty: true) + "\n")
    }

    /// One line of NDJSON on stdout (streams: `watch --json`, `demo --json`).
    func record(_ value: JSONValue) {
        console.write(Printer.encode(value, pretty: false) + "\n")
    }

    /// A diagnostic for people on stderr (also in JSON mode).
    func note(_ text: String) {
        console.write(text + "\n", to: .error)
    }

    /// `todo: warning: …` on stderr.
    func warning(_ text: String) {
        console.write("todo: " + errorStyle.yellow("warning:") + " " + text + "\n", to: .error)
    }

    static func encode(_ value: JSONValue, pretty: Bool) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            : [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }
}
