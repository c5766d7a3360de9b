import Foundation
import SyncLayer
import Synchronization

/// A Jepsen-style history: every driven write is recorded before it is issued (client, op, target,
/// payload hash) and its outcome after (`ok`: the SDK returned, `fail`: it threw, `info`: unknown,
/// e.g. the process was killed during the call).
final class Ledger: Sendable {
    enum Outcome: String, Sendable { case pending, ok, fail, info }
    enum Operation: String, Sendable { case save, update, delete }

    struct Entry: Sendable {
        let client: Int
        let operation: Operation
        let collection: String
        let id: String
        let payload: [String: JSONValue]?
        let payloadHash: String
        var outcome: Outcome
    }

    private let entries = Mutex<[Entry]>([])

    /// Records the intent; returns the index to complete.
    func intend(client: Int, _ operation: Operation, _ collection: String, _ id: String,
                payload: [String: JSONValue]?) -> Int {
        let entry = Entry(client: client, operation: operation, collection: collection, id: id, payload: payload,
                          payloadHash: payload.map { Canonical.hash(.object($0)) } ?? "-", outcome: .pending)
        return entries.withLock { $0.append(entry); return $0.count - 1 }
    }

    func complete(_ index: Int, _ outcome: Outcome) { entries.withLock { $0[index].outcome = outcome } }

    /// Runs `body` between intent and outcome.
    func drive<T>(client: Int, _ operation: Operation, _ collection: String, _ id: String,
                  payload: [String: JSONValue]?, _ body: () async throws -> T) async throws -> T {
        let index = intend(client: client, operation, collection, id, payload: payload)
        do {
            let value = try await body()
            complete(index, .ok)
            return value
        } catch {
            complete(index, .fail)
            throw error
        }
    }

    var all: [Entry] { entries.withLock { $0 } }
    var count: Int { entries.withLock { $0.count } }

    /// Every JSON value written (or patched) into `collection`/`id`, for the "unexpected" check.
    func writtenValues(_ collection: String, _ id: String) -> Set<String> {
        var values: Set<String> = []
        for entry in all where entry.collection == collection && entry.id == id {
            for (field, value) in entry.payload ?? [:] { values.insert(field + "=" + Canonical.text(value)) }
        }
        return values
    }

    /// The state a single writer's acknowledged writes produce: save replaces, update merges top-level
    /// fields, delete removes. Only valid for documents one client alone writes.
    func modelState(collection: String, id: String) -> [String: JSONValue]? {
        var state: [String: JSONValue]?
        for entry in all where entry.collection == collection && entry.id == id && entry.outcome == .ok {
            switch entry.operation {
            case .save: state = entry.payload
            case .update:
                if var current = state {
                    for (field, value) in entry.payload ?? [:] { current[field] = value }
                    state = current
                }
            case .delete: state = nil
            }
        }
        return state
    }
}

/// Canonical JSON text (sorted keys, integral doubles as integers) and a stable hash of it.
enum Canonical {
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .int(let i): String(i)
        case .double(let d): Int(exactly: d).map(String.init) ?? "\(d)"
        case .string(let s): "\"" + s.unicodeScalars.map { $0 == "\"" || $0 == "\\" ? "\\\($0)" : String($0) }.joined() + "\""
        case .array(let a): "[" + a.map(text).joined(separator: ",") + "]"
        case .object(let o): "{" + o.keys.sorted().map { text(.string($0)) + ":" + text(o[$0]!) }.joined(separator: ",") + "}"
        }
    }

    /// FNV-1a 64 of the canonical text, in hex.
    static func hash(_ value: JSONValue) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text(value).utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    /// The hash of a whole collection: documents by id.
    static func hash(collection documents: [String: [String: JSONValue]]) -> String {
        hash(.object(documents.mapValues { .object($0) }))
    }
}

/// Reads what a client holds: live documents by id.
func snapshot(_ client: SyncLayer, _ collection: String) async throws -> [String: [String: JSONValue]] {
    var documents: [String: [String: JSONValue]] = [:]
    for document in try await client.collection(collection).getAll() { documents[document.id] = document.data }
    return documents
}
