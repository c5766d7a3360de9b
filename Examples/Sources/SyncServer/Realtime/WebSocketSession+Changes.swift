import Foundation

extension WebSocketSession {
    /// A change sent by the client (PROTOCOL.md §5.4): v2 when it carries `metadata.opId`, else v1.
    func change(_ message: RealtimeMessage) async {
        if let opID = message.metadata?["opId"]?.stringValue {
            await changeV2(message, opID: opID)
        } else {
            await changeV1(message)
        }
    }

    private func changeV2(_ message: RealtimeMessage, opID: String) async {
        let metadata = message.metadata ?? [:]
        guard Identifiers.isValidOpID(opID), let clientID = metadata["clientId"]?.stringValue, Identifiers.isValidClientID(clientID) else {
            send(.error("INVALID_MESSAGE", "a v2 change needs a valid opId and clientId", collection: message.collection,
                               recordID: message.recordID, opID: opID))
            return
        }
        let isDelta = metadata["delta"] == .bool(true)
        let type = message.type == "update" && isDelta ? "patch" : message.type
        var op: [String: JSONValue] = ["type": .string(type)]
        if let collection = message.collection { op["collection"] = .string(collection) }
        if let recordID = message.recordID { op["recordId"] = .string(recordID) }
        if let data = message.data { op["payload"] = data }
        if let base = metadata["baseVersion"] { op["baseVersion"] = base }
        if let hlc = metadata["hlc"] { op["hlc"] = hlc }
        let outcome: WriteOutcome
        let collection = message.collection ?? ""
        let recordID = message.recordID ?? ""
        switch OpParser.parse(op, opID: opID, clientID: clientID) {
        case .invalid(_, _, _, let code, let reason):
            outcome = .rejected(code: code, message: reason)
        case .valid(let operation):
            do {
                outcome = try await serviceWrite(operation)
            } catch {
                send(.error("SERVER_ERROR", "write failed", collection: collection, recordID: recordID, opID: opID))
                return
            }
        }
        send(
            RealtimeMessage(type: "ack", collection: collection, recordID: recordID,
                            data: outcome.resultJSON(opID: opID, collection: collection, recordID: recordID)),
            faultable: true)
    }

    private func changeV1(_ message: RealtimeMessage) async {
        guard let collection = message.collection, Identifiers.isValidCollection(collection),
              let recordID = message.recordID, Identifiers.isValidRecordID(recordID)
        else {
            send(.error("INVALID_MESSAGE", "invalid or missing collection or recordId", collection: message.collection,
                               recordID: message.recordID))
            return
        }
        let kind: WriteOperation.Kind
        switch message.type {
        case "insert": kind = .update
        case "update": kind = .patch
        default: kind = .delete
        }
        var payload: [String: JSONValue]?
        if kind != .delete {
            guard let object = message.data?.objectValue else {
                send(.error("INVALID_MESSAGE", "data must be an object", collection: collection, recordID: recordID))
                return
            }
            payload = object
        }
        // A server-made op id lets the hub recognise this connection's own change; it is not deduplicated.
        let operation = WriteOperation(
            opID: "ws-" + UUID().uuidString.lowercased(), clientID: nil, collection: collection, recordID: recordID,
            kind: kind, payload: payload, baseVersion: nil, hlc: nil, rules: .v1)
        do {
            switch try await serviceWrite(operation) {
            case .applied, .duplicate: break
            case .recordNotFound, .conflict:
                send(.error("RECORD_NOT_FOUND", "no live record with this id", collection: collection, recordID: recordID))
            case .rejected(_, let reason):
                send(.error("INVALID_MESSAGE", reason, collection: collection, recordID: recordID))
            }
        } catch {
            send(.error("SERVER_ERROR", "write failed", collection: collection, recordID: recordID))
        }
    }
}
