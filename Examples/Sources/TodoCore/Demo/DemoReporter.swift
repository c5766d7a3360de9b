import Foundation
import Synchronization
import SyncLayer

/// Prints the demo as it goes: a ✓ line with milliseconds per observed step, or NDJSON.
final class DemoReporter: Sendable {
    private let printer: Printer
    private let steps = Mutex(0)

    init(printer: Printer) {
        self.printer = printer
    }

    var stepCount: Int { steps.withLock { $0 } }

    func header(strategy: ConflictStrategy) {
        if printer.json {
            printer.record(["version": .int(TodoRendering.schemaVersion), "event": "start", "strategy": .string(strategy.rawValue)])
        } else {
            let style = printer.style
            printer.line(style.bold("todo demo") + style.dim(" · reference server + two clients (laptop, phone) · conflict strategy ")
                         + style.bold(strategy.rawValue))
            printer.line()
        }
    }

    /// A step that was observed, with how long it took.
    func step(_ text: String, elapsed: Duration) {
        let number = steps.withLock { steps in
            steps += 1
            return steps
        }
        let milliseconds = elapsed.wholeMilliseconds
        if printer.json {
            printer.record(["event": "step", "step": .int(number), "text": .string(text), "ms": .int(milliseconds)])
        } else {
            let style = printer.style
            let padded = text.count < 56 ? text.padding(toLength: 56, withPad: " ", startingAt: 0) : text + " "
            let time = "\(milliseconds) ms"
            printer.line("  \(style.green("✓")) \(padded)\(style.dim(String(repeating: " ", count: max(0, 8 - time.count)) + time))")
        }
    }

    /// Something done (not waited for), e.g. the offline edits.
    func action(_ text: String) {
        if printer.json {
            printer.record(["event": "action", "text": .string(text)])
        } else {
            printer.line("  \(printer.style.cyan("•")) \(text)")
        }
    }

    /// An indented detail under the previous line.
    func detail(_ text: String, note: String? = nil) {
        if printer.json {
            printer.record(["event": "detail", "text": .string(text), "note": note.map(JSONValue.string) ?? .null])
        } else {
            let padded = note == nil ? text : text.padding(toLength: max(text.count, 30), withPad: " ", startingAt: 0)
            printer.line("      \(padded)\(note.map { "  " + printer.style.dim($0) } ?? "")")
        }
    }

    /// A step that was not observed.
    func failed(_ text: String) {
        if printer.json {
            printer.record(["event": "failed", "text": .string(text)])
        } else {
            printer.line("  \(printer.style.red("✗")) \(text)")
        }
    }

    func finish(elapsed: Duration, kept: String?) {
        let steps = stepCount
        if printer.json {
            printer.record(["event": "done", "steps": .int(steps), "ms": .int(elapsed.wholeMilliseconds),
                            "kept": kept.map(JSONValue.string) ?? .null])
        } else {
            let seconds = (Double(elapsed.wholeMilliseconds) / 1000).formatted(.number.precision(.fractionLength(1)))
            printer.line()
            printer.line(printer.style.green("All \(steps) steps observed in \(seconds) s.") + " "
                         + (kept.map { "Server stopped; data kept in \($0)." } ?? "Server stopped, temporary stores removed."))
        }
    }
}
