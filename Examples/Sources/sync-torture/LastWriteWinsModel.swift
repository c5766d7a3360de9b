import Foundation
import GRDB
import SyncLayer

/// The convergence fuzz's model of last write wins (C20).
///
/// "Later" is decided by hybrid-logical-clock stamps, not by when the driver issued a write: with
/// skewed clocks the two orders differ, and only the stamps are what the clients compare. So the
/// model takes, for every write to a shared document, the stamp the client gave it (the `hlc`
/// column of the client's own row, read right after the write through a read-only connection)
/// and the document as the client held it then. The server must end with the document as the
/// write with the largest stamp left it.
///
/// Two protocol rules make the server keep something else, and are counted apart:
/// - a document created and deleted before it was ever sent is never sent (the outbox drops
///   both ops), so those writes leave no trace anywhere and are not modelled;
/// - an insert (null base: a document the client created and the server never confirmed to it)
///   revives a tombstone whatever the stamps (PROTOCOL.md §4, "current tombstone"), so a delete
///   does not win against a concurrent creation that never saw the document; the documents a
///   revival touched are not modelled further.
final class LastWriteWinsModel {
    struct Write {
        let step: Int
        let client: Int
        let operation: Ledger.Operation
        let id: String
        let stamp: String
        /// The document as the writing client held it right after the write (nil: deleted).
        let state: [String: JSONValue]?
        /// Whether the client had the document before the write.
        let hadLocalCopy: Bool
        /// Whether the server had confirmed the client's copy before the write: if not, the write
        /// travels in an insert with a null base (alone or folded with the client's earlier writes).
        let confirmed: Bool
    }

    struct Figures {
        var documents = 0
        var matched = 0
        var explained = 0
        var mismatches: [String] = []

        mutating func add(_ other: Figures) {
            documents += other.documents
            matched += other.matched
            explained += other.explained
            mismatches += other.mismatches
        }
    }

    private(set) var writes: [Write] = []

    /// Runs `body` (a write of shared document `id` by `client`) and records its stamp and result.
    /// Without a store (another strategy) it only runs `body`.
    func record(step: Int, client: Int, _ operation: Ledger.Operation, _ id: String, sdk: SyncLayer,
                store: DatabaseQueue?, _ body: () async throws -> Void) async throws {
        guard let store else { return try await body() }
        let documents = sdk.collection(ConvergenceFuzz.shared)
        let before = try await documents.get(id)
        let stampBefore = try Self.stamp(store, id)
        try await body()
        guard let stamp = try Self.stamp(store, id) else {
            if stampBefore != nil {
                // Created and deleted before it was sent: the outbox dropped both ops.
                if let created = writes.last(where: { $0.client == client && $0.id == id && !$0.hadLocalCopy })?.step {
                    writes.removeAll { $0.client == client && $0.id == id && $0.step >= created }
                }
            }
            return
        }
        guard stamp != stampBefore else { return }  // nothing written (a delete of nothing)
        writes.append(Write(step: step, client: client, operation: operation, id: id, stamp: stamp,
                            state: try await documents.get(id)?.data, hadLocalCopy: before != nil,
                            confirmed: before?.serverVersion != nil))
        if FaultyLink.tracing {
            FileHandle.standardError.write(Data("write step \(step) client \(client) (\(sdk.clientID.prefix(8))) \(operation) shared/\(id) stamp=\(stamp) had=\(before != nil) serverVersion=\(before?.serverVersion.map(String.init) ?? "nil") -> \(Self.describe(writes.last?.state))\n".utf8))
        }
    }

    /// Compares each shared document on the server with the model. `stamps`: the server
    /// record's stamp per id; `revived`: ids an insert with a null base brought back from a
    /// tombstone.
    func check(_ ids: [String], server: [String: [String: JSONValue]], stamps: [String: String],
               revived: Set<String>) -> Figures {
        var figures = Figures()
        for id in ids {
            let candidates = writes.filter { $0.id == id }
            guard let latest = candidates.max(by: { $0.stamp < $1.stamp }) else { continue }
            figures.documents += 1
            let final = server[id]
            if final == latest.state {
                figures.matched += 1
                continue
            }
            let source = candidates.filter { $0.state == final }.max(by: { $0.stamp < $1.stamp })
            if revived.contains(id) || (latest.operation == .delete && source.map { $0.operation != .delete && !$0.confirmed } == true) {
                // A revival: an insert onto a tombstone, after which the delete no longer counts.
                figures.explained += 1
                continue
            }
            // The server's stamp is no write's: a conflict resolution re-stamped the write it kept.
            let restamped = stamps[id].map { stamp in !candidates.contains { $0.stamp == stamp } } ?? false
            let kept = source.map { "the state of step \($0.step) (client \($0.client), \($0.operation), stamp \($0.stamp))" }
                ?? "a state no modelled write left"
            figures.mismatches.append(
                "shared/\(id): the latest stamp is step \(latest.step) (client \(latest.client), \(latest.operation), stamp \(latest.stamp)) "
                    + "leaving \(Self.describe(latest.state)), but the server kept \(kept): \(Self.describe(final))"
                    + (restamped ? " under the later stamp \(stamps[id] ?? "") a conflict resolution gave it" : ""))
        }
        return figures
    }

    static func stamp(_ store: DatabaseQueue, _ id: String) throws -> String? {
        try store.read { db in
            try String.fetchOne(db, sql: "SELECT hlc FROM sl_documents WHERE collection = ? AND id = ?",
                                arguments: [ConvergenceFuzz.shared, id])
        }
    }

    static func describe(_ state: [String: JSONValue]?) -> String {
        state.map { Canonical.text(.object($0)) } ?? "deleted"
    }

    static func minutes(_ skew: Duration) -> String { String(format: "%+.1f min", skew / .seconds(60)) }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
