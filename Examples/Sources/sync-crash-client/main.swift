// A SyncLayer client for crash tests: it commits documents locally, reports each commit on
// standard output ("committed <id>"), then pushes until the outbox is empty ("synced"), pulls, and
// reports the documents it received in the `remote` collection ("remote id:n,…").
// Tests kill it with SIGKILL at any moment and start it again on the same database.
//
//   sync-crash-client --db PATH --server URL --token T [--writes N] [--prefix P]
//
// Named kill points (C02): `SYNC_CRASH_AT=<point>:<n>` makes the process SIGKILL itself at the n-th
// occurrence (1-based) of:
//   after-commit   right after a local write committed and was reported
//   before-send    a push request built, not sent
//   after-send     a push request answered by the server (so committed there), answer not yet read
//   mid-pull       a pull page received, not yet applied (nor its cursor saved)
//   in-ack         inside the transaction that records a push batch's answers, before it commits
//   before-cursor  inside a pulled page's transaction: records written, cursor not yet, not committed
//
// The process also exits when its parent dies (it is reparented), so a harness that is itself
// killed leaves no client behind.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@_spi(Testing) import SyncLayer
import Synchronization

/// Writes a line to standard output unbuffered, so a kill loses nothing already reported.
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func argument(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

/// The kill point of this run, counted across every place that reaches it.
final class KillPoint: Sendable {
    enum Point: String, Sendable { case afterCommit = "after-commit", beforeSend = "before-send",
                                        afterSend = "after-send", midPull = "mid-pull", inAck = "in-ack",
                                        beforeCursor = "before-cursor" }
    let point: Point?
    let occurrence: Int
    private let seen = Mutex(0)

    init(_ specification: String?) {
        let parts = specification?.split(separator: ":").map(String.init) ?? []
        point = parts.first.flatMap(Point.init(rawValue:))
        occurrence = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
    }

    /// SIGKILLs this process when `point` is reached for the chosen time.
    func reached(_ point: Point) {
        guard point == self.point else { return }
        let count = seen.withLock { $0 += 1; return $0 }
        if count == occurrence {
            report("killpoint \(point.rawValue)")
            kill(getpid(), SIGKILL)
        }
    }
}

/// The default transport, with the named kill points around push and pull requests.
struct KillingTransport: HTTPTransport {
    let base = SyncConfig.defaultTransport()
    let killPoint: KillPoint

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let path = request.url.path
        if path.hasSuffix("/v2/push") { killPoint.reached(.beforeSend) }
        let response = try await base.send(request)
        if path.hasSuffix("/v2/push") { killPoint.reached(.afterSend) }
        if path.hasSuffix("/v2/pull") { killPoint.reached(.midPull) }
        return response
    }
}

guard let db = argument("--db"), let server = argument("--server").flatMap(URL.init(string:)) else {
    FileHandle.standardError.write(Data("usage: sync-crash-client --db PATH --server URL --token T [--writes N] [--prefix P]\n".utf8))
    exit(64)
}
let writes = Int(argument("--writes") ?? "0") ?? 0
let prefix = argument("--prefix") ?? "w"
let killPoint = KillPoint(ProcessInfo.processInfo.environment["SYNC_CRASH_AT"])
// The points inside the store's write transactions (the SDK's testing SPI).
TestingHooks.onTransactionPoint { point in
    switch point {
    case .acknowledgements: killPoint.reached(.inAck)
    case .beforeCursor: killPoint.reached(.beforeCursor)
    }
}
// An orphan (the harness died without killing it) exits instead of syncing forever.
let parent = getppid()
Thread.detachNewThread {
    while getppid() == parent { usleep(200_000) }
    exit(70)
}

let sync = try await SyncLayer(config: SyncConfig(
    baseURL: server, collections: ["ledger", "remote"], authToken: argument("--token"), maxRetries: 1_000,
    enableAutoSync: true, storage: .file(db), transport: KillingTransport(killPoint: killPoint)))
let ledger = sync.collection("ledger")
for i in 0..<writes {
    let id = "\(prefix)-\(i)"
    try await ledger.save(["n": .int(i), "payload": .string(String(repeating: "x", count: 64))], id: id)
    report("committed \(id)")
    killPoint.reached(.afterCommit)
}
try await sync.waitForPendingWrites()
report("synced")
// A last pull, then what arrived from other writers.
var pulled = false
for _ in 0..<50 where !pulled {
    do { try await sync.syncNow(); pulled = true } catch { try await Task.sleep(for: .milliseconds(100)) }
}
let remote = try await sync.collection("remote").getAll()
    .map { "\($0.id):\($0["n"]?.intValue ?? -1)" }.sorted().joined(separator: ",")
report("remote \(remote)")
await sync.close()
