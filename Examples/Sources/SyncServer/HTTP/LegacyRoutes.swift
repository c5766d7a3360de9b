import Hummingbird

/// v1: the Dart SyncLayer 1.7.3 REST contract (PROTOCOL.md §3).
struct LegacyRoutes {
    let service: SyncService

    func register(on router: Router<SyncRequestContext>) {
        router.post("/sync/:collection") { request, context in try await push(request, context) }
        router.patch("/sync/:collection/:recordId") { request, context in try await patch(request, context) }
        router.delete("/sync/:collection/:recordId") { request, context in try await delete(request, context) }
        router.get("/sync/:collection") { request, context in try await pull(request, context) }
    }

    private func collection(_ context: SyncRequestContext) throws -> String {
        let name = try RequestReading.pathParameter("collection", context)
        guard Identifiers.isValidCollection(name) else { throw APIError.invalidIdentifier("invalid collection name") }
        return name
    }

    private func recordID(_ value: String) throws -> String {
        guard Identifiers.isValidRecordID(value) else { throw APIError.invalidIdentifier("invalid record id") }
        return value
    }

    private func push(_ request: Request, _ context: SyncRequestContext) async throws -> Response {
        let collection = try collection(context)
        let body = try await RequestReading.object(request, limits: service.limits)
        guard let id = body["recordId"]?.stringValue else { throw APIError.invalidRequest("recordId must be a string") }
        guard let data = body["data"]?.objectValue else { throw APIError.invalidRequest("data must be an object") }
        try checkTimestamp(body["timestamp"])
        let operation = WriteOperation(
            opID: nil, clientID: nil, collection: collection, recordID: try recordID(id), kind: .update,
            payload: data, baseVersion: nil, hlc: nil, rules: .v1)
        return try await write(operation, context)
    }

    private func patch(_ request: Request, _ context: SyncRequestContext) async throws -> Response {
        let collection = try collection(context)
        let id = try recordID(try RequestReading.pathParameter("recordId", context))
        let body = try await RequestReading.object(request, limits: service.limits)
        guard let delta = body["delta"]?.objectValue else { throw APIError.invalidRequest("delta must be an object") }
        if let base = body["baseVersion"], !base.isNull, base.intValue == nil {
            throw APIError.invalidRequest("baseVersion must be an integer")
        }
        try checkTimestamp(body["timestamp"])
        let operation = WriteOperation(
            opID: nil, clientID: nil, collection: collection, recordID: id, kind: .patch, payload: delta,
            baseVersion: nil, hlc: nil, rules: .v1)
        return try await write(operation, context)
    }

    private func delete(_ request: Request, _ context: SyncRequestContext) async throws -> Response {
        let collection = try collection(context)
        let id = try recordID(try RequestReading.pathParameter("recordId", context))
        let operation = WriteOperation(
            opID: nil, clientID: nil, collection: collection, recordID: id, kind: .delete, payload: nil,
            baseVersion: nil, hlc: nil, rules: .v1)
        return try await write(operation, context)
    }

    private func checkTimestamp(_ value: JSONValue?) throws {
        if let value, !value.isNull, value.stringValue == nil {
            throw APIError.invalidRequest("timestamp must be a string")
        }
    }

    private func write(_ operation: WriteOperation, _ context: SyncRequestContext) async throws -> Response {
        if let failure = service.faults.takeWriteFailure() { throw failure }
        let outcome = try await service.write([operation])[0]
        try await WriteHooks.afterCommit(service.faults, context)
        switch outcome {
        case .applied(let write), .duplicate(let write):
            return .json([
                "success": true, "recordId": .string(write.recordID), "version": .int(write.version),
                "updatedAt": .string(Timestamp.format(milliseconds: write.updatedAt)),
            ])
        case .recordNotFound, .conflict:
            throw APIError(.notFound, code: "RECORD_NOT_FOUND", message: "no live record with this id")
        case .rejected(let code, let message):
            let status: HTTPResponse.Status = code == "DOCUMENT_TOO_LARGE" ? .contentTooLarge : .badRequest
            throw APIError(status, code: code, message: message)
        }
    }

    private func pull(_ request: Request, _ context: SyncRequestContext) async throws -> Response {
        let collection = try collection(context)
        var query = LegacyQuery(collection: collection)
        var fields: [String]?
        var excluded: [String] = []
        for (key, value) in try RequestReading.query(request) {
            switch key {
            case "since":
                guard let since = Timestamp.parse(value) else { throw APIError.invalidRequest("since must be an ISO-8601 date-time") }
                query.since = since
            case "limit":
                guard let limit = Int(value), limit >= 0 else { throw APIError.invalidRequest("limit must be a non-negative integer") }
                query.limit = min(max(limit, 1), service.limits.maxPullLimit)
            case "offset":
                guard let offset = Int(value), offset >= 0 else { throw APIError.invalidRequest("offset must be a non-negative integer") }
                query.offset = offset
            case "fields":
                fields = try fieldList(value)
            case "excludeFields":
                excluded = try fieldList(value)
            case _ where key.hasPrefix("where[") && key.hasSuffix("]"):
                let field = String(key.dropFirst(6).dropLast())
                guard Identifiers.isValidFieldName(field) else { throw APIError.invalidRequest("invalid where field") }
                query.equals.append((field, value))
            default:
                continue  // unknown parameters are ignored, as proxies and SDKs add their own
            }
        }
        let records = try await service.store.liveRecords(query)
        let items: [JSONValue] = records.map { record in
            var data = record.data ?? [:]
            if let fields { data = data.filter { fields.contains($0.key) } }
            for key in excluded { data[key] = nil }
            return [
                "recordId": .string(record.recordID), "data": .object(data),
                "updatedAt": .string(Timestamp.format(milliseconds: record.updatedAt)), "version": .int(record.version),
            ]
        }
        return .json(["records": .array(items)])
    }

    private func fieldList(_ value: String) throws -> [String] {
        let names = value.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        guard names.allSatisfy(Identifiers.isValidFieldName) else { throw APIError.invalidRequest("invalid field name") }
        return names
    }
}

/// The "commit, then drop the connection" test hook, shared by v1 and v2 writes.
enum WriteHooks {
    static func afterCommit(_ faults: FaultInjector, _ context: SyncRequestContext) async throws {
        guard faults.takeDropAfterCommit() else { return }
        throw DroppedConnection()  // answered with a broken response by ErrorBodyMiddleware
    }

    struct DroppedConnection: Error {}
}
