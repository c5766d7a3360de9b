// A SyncLayer client for crash tests: it commits documents locally, reports each commit on
// standard output ("committed <id>"), then pushes until the outbox is empty ("synced").
// Tests kill it with SIGKILL at any moment and start it again on the same database.
//
//   sync-crash-client --db PATH --server URL --token T [--writes N] [--prefix P]
import Foundation
import SyncLayer

/// Writes a line to standard output unbuffered, so a kill loses nothing already reported.
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func argument(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

guard let db = argument("--db"), let server = argument("--server").flatMap(URL.init(string:)) else {
    FileHandle.standardError.write(Data("usage: sync-crash-client --db PATH --server URL --token T [--writes N] [--prefix P]\n".utf8))
    exit(64)
}
let writes = Int(argument("--writes") ?? "0") ?? 0
let prefix = argument("--prefix") ?? "w"

let sync = try await SyncLayer(config: SyncConfig(
    baseURL: server, collections: ["ledger"], authToken: argument("--token"), maxRetries: 1_000,
    enableAutoSync: true, storage: .file(db)))
let ledger = sync.collection("ledger")
for i in 0..<writes {
    let id = "\(prefix)-\(i)"
    try await ledger.save(["n": .int(i), "payload": .string(String(repeating: "x", count: 64))], id: id)
    report("committed \(id)")
}
try await sync.waitForPendingWrites()
report("synced")
await sync.close()
