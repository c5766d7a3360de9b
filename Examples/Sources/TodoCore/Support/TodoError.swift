import SyncLayer

/// The process exit codes, from `sysexits.h` where one fits.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case ok = 0
    /// Anything else that went wrong.
    case failure = 1
    /// `EX_USAGE`: bad arguments or options.
    case usage = 64
    /// `EX_DATAERR`: the input names something that does not exist (an unknown or ambiguous id),
    /// or the server rejected a change for good.
    case dataError = 65
    /// `EX_UNAVAILABLE`: the server is needed and cannot be reached (or cannot start).
    case unavailable = 69
    /// `EX_TEMPFAIL`: changes are saved and queued, but the server is unreachable; retry later.
    case tempFailure = 75
    /// `EX_NOPERM`: the server refused the token.
    case noPermission = 77
    /// Interrupted by Ctrl-C (128 + SIGINT) while doing work that did not finish.
    case interrupted = 130

    /// The table shown in `todo --help`.
    static let helpTable = """
        EXIT STATUS
          0   success
          1   unexpected failure
          64  usage error (bad arguments or options)
          65  bad data: unknown or ambiguous id, or a change the server rejected
          69  server unavailable when it is required (todo sync with nothing queued, todo serve)
          75  changes saved locally and queued, but the server is unreachable: retry later
          77  the server refused the token
        """
}

/// A failure the user can act on: a message, an exit code, and maybe a hint.
struct TodoError: Error, CustomStringConvertible {
    let message: String
    let status: ExitStatus
    let hint: String?

    init(_ message: String, status: ExitStatus = .failure, hint: String? = nil) {
        self.message = message
        self.status = status
        self.hint = hint
    }

    var description: String { message }

    static func usage(_ message: String, hint: String? = nil) -> TodoError {
        TodoError(message, status: .usage, hint: hint)
    }

    /// The changes the server refused for good, one per line with its reason (exit 65).
    static func rejected(_ operations: some Sequence<RejectedOperation>, hint: String) -> TodoError {
        let lines = operations.map { "  \($0.kind.rawValue) \($0.recordID.prefix(ShortID.minimumLength)): \($0.reason)" }
        return TodoError("the server rejected \(plural(lines.count, "change")):\n" + lines.joined(separator: "\n"),
                         status: .dataError, hint: hint)
    }

    /// Maps a sync failure to what the user sees and the exit code.
    static func sync(_ error: SyncError, server: String, queued: Int) -> TodoError {
        switch error.kind {
        case .unauthorized:
            return TodoError("the server at \(server) refused the token (\(error.message))", status: .noPermission,
                             hint: "check --token or SYNCLAYER_TOKEN")
        case .network where queued > 0:
            return TodoError("server \(server) is unreachable; \(plural(queued, "change")) saved locally and queued",
                             status: .tempFailure, hint: "run `todo sync` when it is back")
        case .network:
            return TodoError("server \(server) is unreachable (\(error.message))", status: .unavailable)
        default:
            let status: ExitStatus = error.isRetryable ? (queued > 0 ? .tempFailure : .unavailable) : .failure
            return TodoError("sync with \(server) failed: \(error)", status: status)
        }
    }
}

/// `1 change`, `2 changes`.
func plural(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

extension RejectedOperation {
    /// `{"id", "operation", "reason"}`, as `todo sync`, `todo status` and the write commands show it.
    var json: JSONValue {
        ["id": .string(recordID), "operation": .string(kind.rawValue), "reason": .string(reason)]
    }
}
