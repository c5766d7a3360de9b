import Hummingbird

/// v2 push and pull (PROTOCOL.md §4), plus the capabilities document and health check.
struct ProtocolV2Routes {
    let service: SyncService
    let configuration: ServerConfiguration

    func register(on router: Router<SyncRequestContext>) {
        router.get("/health") { _, _ in Response.json(["status": "ok"]) }
        router.get("/.well-known/synclayer") { _, _ in Response.json(capabilities) }
        router.post("/v2/push") { request, context in try await push(request, context) }
        router.get("/v2/pull") { request, context in try await pull(request, context) }
    }

    var capabilities: JSONValue {
        let limits = configuration.limits
        return [
            "protocol": "synclayer",
            "versions": [1, 2],
            "server": "synclayer-server/0.1.0",
            "limits": [
                "maxBodyBytes": .int(Int64(limits.maxBodyBytes)),
                "maxOpsPerBatch": .int(Int64(limits.maxOpsPerBatch)),
                "maxDocumentBytes": .int(Int64(limits.document.maxBytes)),
                "maxDocumentDepth": .int(Int64(limits.document.maxDepth)),
                "maxPullLimit": .int(Int64(limits.maxPullLimit)),
                "maxWebSocketMessageBytes": .int(Int64(limits.maxWebSocketMessageBytes)),
            ],
            "endpoints": ["push": "/v2/push", "pull": "/v2/pull", "websocket": "/ws"],
            "websocket": [
                "path": "/ws",
                "queryTokenAccepted": .bool(configuration.allowQueryToken),
                "idleTimeoutSeconds": .int(configuration.webSocketIdleTimeout.components.seconds),
            ],
        ]
    }

    private func push(_ request: Request, _ context: SyncRequestContext) async throws -> Response {
        let body = try await RequestReading.object(request, limits: service.limits)
        guard let clientID = body["clientId"]?.stringValue, Identifiers.isValidClientID(clientID) else {
            throw APIError.invalidRequest("clientId must be 1-128 printable ASCII characters")
        }
        guard case .array(let items)? = body["ops"] else { throw APIError.invalidRequest("ops must be an array") }
        guard !items.isEmpty else { throw APIError.invalidRequest("ops must not be empty") }
        guard items.count <= service.limits.maxOpsPerBatch else {
            throw APIError(.contentTooLarge, code: "TOO_MANY_OPS", message: "at most \(service.limits.maxOpsPerBatch) ops per batch")
        }
        // Parse everything before writing anything: a malformed batch applies nothing.
        var parsed: [ParsedOp] = []
        for (index, item) in items.enumerated() {
            guard let op = item.objectValue, let opID = op["opId"]?.stringValue, Identifiers.isValidOpID(opID) else {
                throw APIError.invalidRequest("ops[\(index)].opId must be a string of 1-128 printable ASCII characters")
            }
            parsed.append(OpParser.parse(op, opID: opID, clientID: clientID))
        }
        if let failure = service.faults.takeWriteFailure() { throw failure }
        let operations = parsed.compactMap { if case .valid(let operation) = $0 { operation } else { nil } }
        var outcomes = try await service.write(operations).makeIterator()
        try await WriteHooks.afterCommit(service.faults, context)
        // Written straight to bytes: a tree of thousands of result objects cost more than the encoding.
        var bytes = Array(#"{"results":["#.utf8)
        bytes.reserveCapacity(parsed.count * 200)
        for (index, op) in parsed.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            switch op {
            case .valid(let operation):
                outcomes.next()!.writeResult(opID: operation.opID!, collection: operation.collection,
                                             recordID: operation.recordID, into: &bytes)
            case .invalid(let opID, let collection, let recordID, let code, let message):
                WriteOutcome.rejected(code: code, message: message)
                    .writeResult(opID: opID, collection: collection, recordID: recordID, into: &bytes)
            }
        }
        bytes.append(contentsOf: "]}".utf8)
        return .json(bytes: bytes)
    }

    private func pull(_ request: Request, _ context: SyncRequestContext) async throws -> Response {
        var collection: String?
        var cursor: String?
        var limit = 500
        for (key, value) in try RequestReading.query(request) {
            switch key {
            case "collection": collection = value
            case "cursor": cursor = value
            case "limit":
                guard let number = Int(value), number >= 0 else { throw APIError.invalidRequest("limit must be a non-negative integer") }
                limit = number
            default: continue
            }
        }
        guard let collection else { throw APIError.invalidRequest("collection is required") }
        guard Identifiers.isValidCollection(collection) else { throw APIError.invalidIdentifier("invalid collection name") }
        let after = try service.seq(fromCursor: cursor)
        limit = min(max(limit, 1), service.limits.maxPullLimit)
        let page = try await service.store.encodedChanges(in: collection, after: after, limit: limit)
        // {"changes","collection","cursor","hasMore"}: keys in order, the changes spliced in encoded.
        var bytes = Array(#"{"changes":"#.utf8)
        bytes.reserveCapacity(page.changes.count + 200)
        bytes.append(contentsOf: page.changes)
        bytes.append(contentsOf: #","collection":"#.utf8)
        JSONValue.string(collection).write(into: &bytes)
        bytes.append(contentsOf: #","cursor":"#.utf8)
        JSONValue.string(service.cursor(for: page.lastSeq ?? after)).write(into: &bytes)
        bytes.append(contentsOf: #","hasMore":"#.utf8)
        JSONValue.bool(page.hasMore).write(into: &bytes)
        bytes.append(UInt8(ascii: "}"))
        return .json(bytes: bytes)
    }
}

/// An op of a v2 push, checked before anything is written.
enum ParsedOp {
    case valid(WriteOperation)
    case invalid(opID: String, collection: String, recordID: String, code: String, message: String)
}

/// Reads one v2 op object (PROTOCOL.md §4.1); also used for v2 WebSocket changes.
enum OpParser {
    static func parse(_ op: [String: JSONValue], opID: String, clientID: String) -> ParsedOp {
        let collection = op["collection"]?.stringValue ?? ""
        let recordID = op["recordId"]?.stringValue ?? ""
        func invalid(_ code: String, _ message: String) -> ParsedOp {
            .invalid(opID: opID, collection: collection, recordID: recordID, code: code, message: message)
        }
        guard Identifiers.isValidCollection(collection) else { return invalid("INVALID_IDENTIFIER", "invalid collection name") }
        guard Identifiers.isValidRecordID(recordID) else { return invalid("INVALID_IDENTIFIER", "invalid record id") }
        guard let typeName = op["type"]?.stringValue, let kind = WriteOperation.Kind(rawValue: typeName) else {
            return invalid("INVALID_OPERATION", "type must be insert, update, patch or delete")
        }
        var payload: [String: JSONValue]?
        switch (kind, op["payload"]) {
        case (.delete, nil), (.delete, .null?):
            payload = nil
        case (.delete, _):
            return invalid("INVALID_OPERATION", "a delete has no payload")
        case (_, .object(let members)?):
            payload = members
        default:
            return invalid("INVALID_OPERATION", "payload must be an object")
        }
        var baseVersion: Int64?
        switch op["baseVersion"] {
        case nil, .null?: baseVersion = nil
        case .int(let number)? where number >= 0: baseVersion = number
        default: return invalid("INVALID_OPERATION", "baseVersion must be a non-negative integer or null")
        }
        var hlc: String?
        switch op["hlc"] {
        case nil, .null?: hlc = nil
        case .string(let stamp)? where stamp.utf8.count <= 128: hlc = stamp
        default: return invalid("INVALID_OPERATION", "hlc must be a string of at most 128 bytes")
        }
        return .valid(
            WriteOperation(
                opID: opID, clientID: clientID, collection: collection, recordID: recordID, kind: kind,
                payload: payload, baseVersion: baseVersion, hlc: hlc, rules: .v2))
    }
}
