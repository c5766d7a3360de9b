import Foundation
import Synchronization

/// Where the CLI writes: standard output for results, standard error for diagnostics.
///
/// The real console writes to the process's file descriptors; tests use ``capturing()`` and read
/// what each command wrote.
///
/// ```swift
/// let (console, captured) = Console.capturing()
/// let code = await TodoCLI.run(["list", "--json"], context: TodoContext(console: console, environment: [:]))
/// print(captured.output)
/// ```
public final class Console: Sendable {
    /// One of the two streams.
    public enum Stream: Sendable {
        case output, error
    }

    private let sink: @Sendable (Stream, String) -> Void
    /// Whether standard output is a terminal (colour, redraws).
    public let outputIsTerminal: Bool
    /// Whether standard error is a terminal (progress lines).
    public let errorIsTerminal: Bool

    public init(outputIsTerminal: Bool, errorIsTerminal: Bool, sink: @escaping @Sendable (Stream, String) -> Void) {
        self.outputIsTerminal = outputIsTerminal
        self.errorIsTerminal = errorIsTerminal
        self.sink = sink
    }

    /// The process's standard output and standard error.
    public static let standard = Console(
        outputIsTerminal: isatty(STDOUT_FILENO) == 1, errorIsTerminal: isatty(STDERR_FILENO) == 1
    ) { stream, text in
        let handle = stream == .output ? FileHandle.standardOutput : FileHandle.standardError
        handle.write(Data(text.utf8))
    }

    /// A console that keeps what is written, for tests.
    public static func capturing(terminal: Bool = false) -> (Console, CapturedOutput) {
        let captured = CapturedOutput()
        let console = Console(outputIsTerminal: terminal, errorIsTerminal: terminal) { stream, text in
            captured.record(text, to: stream)
        }
        return (console, captured)
    }

    /// Writes `text` as is (no newline added).
    public func write(_ text: String, to stream: Stream = .output) {
        sink(stream, text)
    }
}

/// What a capturing ``Console`` received.
public final class CapturedOutput: Sendable {
    private let text = Mutex<(output: String, error: String)>(("", ""))

    /// Everything written to standard output so far.
    public var output: String { text.withLock { $0.output } }
    /// Everything written to standard error so far.
    public var error: String { text.withLock { $0.error } }

    func record(_ string: String, to stream: Console.Stream) {
        text.withLock { text in
            switch stream {
            case .output: text.output += string
            case .error: text.error += string
            }
        }
    }
}

/// What a command runs with: its console and its environment variables.
///
/// A task-local value, so commands (argument-parser structs) reach it without globals and tests
/// run many commands side by side, each with its own.
public struct TodoContext: Sendable {
    public var console: Console
    public var environment: [String: String]

    public init(console: Console, environment: [String: String]) {
        self.console = console
        self.environment = environment
    }

    /// The context of the running command.
    @TaskLocal public static var current = TodoContext(console: .standard, environment: ProcessInfo.processInfo.environment)
}
