/// One write, from any route: a v2 op, or a v1 REST/WebSocket write.
public struct WriteOperation: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case insert, update, patch, delete
    }

    /// Which rules decide whether the write applies.
    public enum Rules: Sendable, Equatable {
        /// v2: base-version checks, op-id deduplication (PROTOCOL.md §4.1).
        case v2
        /// v1: unconditional; a patch of a missing record is `recordNotFound`.
        case v1
    }

    /// Client op id (v2) or a server-made id (v1 WebSocket writes, for echo suppression only).
    public var opID: String?
    public var clientID: String?
    public var collection: String
    public var recordID: String
    public var kind: Kind
    public var payload: [String: JSONValue]?
    public var baseVersion: Int64?
    public var hlc: String?
    public var rules: Rules

    public init(
        opID: String?, clientID: String?, collection: String, recordID: String, kind: Kind,
        payload: [String: JSONValue]?, baseVersion: Int64?, hlc: String?, rules: Rules
    ) {
        self.opID = opID
        self.clientID = clientID
        self.collection = collection
        self.recordID = recordID
        self.kind = kind
        self.payload = payload
        self.baseVersion = baseVersion
        self.hlc = hlc
        self.rules = rules
    }

    /// A stable digest of everything that identifies the op's content, to detect op-id reuse.
    var fingerprint: String {
        fingerprint(payloadText: payload.map { JSONValue.object($0).encoded })
    }

    /// `fingerprint`, given the payload's canonical encoding (nil when there is no payload).
    ///
    /// FNV-1a (64 bits) of the canonical encoding of the object `{baseVersion, clientId, collection, hlc,
    /// payload, recordId, type}` (keys sorted, absent values `null`). Written out by hand so the payload is
    /// not encoded twice; the text must stay exactly this, since databases keep the digests of applied ops.
    /// A collision only matters for the same op id, so 64 bits are plenty.
    func fingerprint(payloadText: String?) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(160 + (payloadText?.utf8.count ?? 0))
        text.append(contentsOf: #"{"baseVersion":"#.utf8)
        text.append(contentsOf: (baseVersion.map { String($0) } ?? "null").utf8)
        text.append(contentsOf: #","clientId":"#.utf8)
        Self.appendOptionalString(clientID, to: &text)
        text.append(contentsOf: #","collection":"#.utf8)
        JSONValue.writeString(collection, into: &text)
        text.append(contentsOf: #","hlc":"#.utf8)
        Self.appendOptionalString(hlc, to: &text)
        text.append(contentsOf: #","payload":"#.utf8)
        text.append(contentsOf: (payloadText ?? "null").utf8)
        text.append(contentsOf: #","recordId":"#.utf8)
        JSONValue.writeString(recordID, into: &text)
        text.append(contentsOf: #","type":"#.utf8)
        JSONValue.writeString(kind.rawValue, into: &text)
        text.append(UInt8(ascii: "}"))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return String(hash, radix: 16)
    }

    private static func appendOptionalString(_ value: String?, to text: inout [UInt8]) {
        if let value { JSONValue.writeString(value, into: &text) } else { text.append(contentsOf: "null".utf8) }
    }
}

/// What became of one write.
public enum WriteOutcome: Sendable, Equatable {
    case applied(AppliedWrite)
    /// The op id was applied before; the first answer.
    case duplicate(AppliedWrite)
    case conflict(current: StoredRecord?)
    case rejected(code: String, message: String)
    /// v1 only: a patch of a missing or deleted record.
    case recordNotFound
}

/// The answer for an applied write.
public struct AppliedWrite: Sendable, Equatable {
    public var collection: String
    public var recordID: String
    public var version: Int64
    public var seq: Int64
    public var updatedAt: Int64
    public var deleted: Bool
    /// The record's stamp when the op changed nothing (a delete of a tombstone), so the client's
    /// clock moves past it (PROTOCOL.md §4.1). Not kept for duplicate answers.
    public var unchangedHLC: String? = nil
}

extension WriteOutcome {
    /// The v2 per-op result object (PROTOCOL.md §4.1).
    public func resultJSON(opID: String, collection: String, recordID: String) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: resultMembers(opID: opID, collection: collection, recordID: recordID)))
    }

    /// Appends the result object's canonical encoding, without building a dictionary (a push answers
    /// thousands of ops).
    func writeResult(opID: String, collection: String, recordID: String, into output: inout [UInt8]) {
        switch self {
        case .applied(let write), .duplicate(let write):
            // The common answer, written member by member in key order: building the member array
            // cost a tenth of the server's CPU per op of a push (perf, sync-bench P5).
            func member(_ prefix: StaticString, _ value: JSONValue) { JSONValue.writeMember(prefix, value, into: &output) }
            member(#"{"collection":"#, .string(collection))
            member(#","deleted":"#, .bool(write.deleted))
            if let hlc = write.unchangedHLC { member(#","hlc":"#, .string(hlc)) }
            member(#","opId":"#, .string(opID))
            member(#","recordId":"#, .string(recordID))
            member(#","seq":"#, .int(write.seq))
            member(#","status":"#, .string(isDuplicate ? "duplicate" : "applied"))
            member(#","updatedAt":"#, .string(Timestamp.format(milliseconds: write.updatedAt)))
            member(#","version":"#, .int(write.version))
            output.append(UInt8(ascii: "}"))
        default:
            JSONValue.writeObject(resultMembers(opID: opID, collection: collection, recordID: recordID), into: &output)
        }
    }

    /// The result object's members in key order.
    private func resultMembers(opID: String, collection: String, recordID: String) -> [(key: String, value: JSONValue)] {
        var members: [(key: String, value: JSONValue)] = [
            ("collection", .string(collection)), ("opId", .string(opID)), ("recordId", .string(recordID)),
        ]
        switch self {
        case .applied(let write), .duplicate(let write):
            members += [
                ("status", .string(self.isDuplicate ? "duplicate" : "applied")), ("version", .int(write.version)),
                ("seq", .int(write.seq)), ("updatedAt", .string(Timestamp.format(milliseconds: write.updatedAt))),
                ("deleted", .bool(write.deleted)),
            ]
            if let hlc = write.unchangedHLC { members.append(("hlc", .string(hlc))) }
        case .conflict(let current):
            members += [("status", "conflict"), ("current", current?.v2JSON ?? .null)]
        case .rejected(let code, let message):
            members += [("status", "rejected"), ("code", .string(code)), ("message", .string(message))]
        case .recordNotFound:
            members += [("status", "conflict"), ("current", .null)]
        }
        members.sort { $0.key < $1.key }
        return members
    }

    private var isDuplicate: Bool {
        if case .duplicate = self { true } else { false }
    }
}
