import Foundation

/// Protocol v2: `POST /v2/push` and `GET /v2/pull` (doc/PROTOCOL.md §4).
extension RESTBackend {
    func pushV2(_ batch: PushBatch) async throws -> [PushResult] {
        let response = try await send("POST", try url("/v2/push"), encodedBody: Self.pushBody(batch))
        guard (200..<300).contains(response.status) else { throw RESTBackend.error(from: response) }
        guard let results = try RESTBackend.jsonBody(response)["results"]?.arrayValue else {
            throw SyncError.invalidResponse("push answer without results", status: response.status)
        }
        guard results.count <= batch.operations.count else {
            throw SyncError.invalidResponse("push answered \(results.count) results for \(batch.operations.count) ops")
        }
        return try zip(batch.operations, results).map { op, result in try RESTBackend.pushResult(result, for: op) }
    }

    /// The push request body, written member by member in key order: a queued op's stored payload
    /// text goes out as it is, and no envelope dictionary is built per op.
    static func pushBody(_ batch: PushBatch) -> Data {
        var body: [UInt8] = []
        body.reserveCapacity(64 + batch.operations.reduce(0) { $0 + 200 + ($1.payloadText?.utf8.count ?? 100) })
        func member(_ name: String, _ text: String) {
            body.append(contentsOf: name.utf8)
            JSONText.writeString(text, into: &body)
        }
        member(#"{"clientId":"#, batch.clientID)
        body.append(contentsOf: #","ops":["#.utf8)
        for (index, op) in batch.operations.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: #"{"baseVersion":"#.utf8)
            body.append(contentsOf: (op.baseVersion.map { String($0) } ?? "null").utf8)
            member(#","collection":"#, op.collection)
            member(#","hlc":"#, op.hlc)
            member(#","opId":"#, op.opID)
            if let text = op.payloadJSON {
                body.append(contentsOf: #","payload":"#.utf8)
                body.append(contentsOf: text.utf8)
            }
            member(#","recordId":"#, op.recordID)
            member(#","type":"#, op.kind.rawValue)
            body.append(UInt8(ascii: "}"))
        }
        body.append(contentsOf: "]}".utf8)
        return Data(body)
    }

    static func pushResult(_ result: JSONValue, for op: PushOperation) throws -> PushResult {
        guard result["opId"]?.stringValue == op.opID, let status = result["status"]?.stringValue else {
            throw SyncError.invalidResponse("push result does not match op \(op.opID)")
        }
        switch status {
        case "applied", "duplicate":
            return .applied(opID: op.opID, version: result["version"]?.intValue,
                            updatedAt: result["updatedAt"]?.stringValue.flatMap(parseTimestamp), duplicate: status == "duplicate",
                            hlc: result["hlc"]?.stringValue)
        case "conflict":
            let current = result["current"].flatMap { $0.isNull ? nil : $0 }
            return .conflict(opID: op.opID, current: try current.map { try record($0) })
        case "rejected":
            return .rejected(opID: op.opID, error: SyncError(
                kind: .http, code: result["code"]?.stringValue,
                message: String((result["message"]?.stringValue ?? "rejected").prefix(500)), isRetryable: false))
        default:
            throw SyncError.invalidResponse("unknown push status \(status.prefix(40))")
        }
    }

    /// A record of the protocol (§4.1) as a ``RemoteRecord``.
    static func record(_ value: JSONValue) throws -> RemoteRecord {
        guard let collection = value["collection"]?.stringValue, let recordID = value["recordId"]?.stringValue,
              let version = value["version"]?.intValue,
              let updatedAt = value["updatedAt"]?.stringValue.flatMap(parseTimestamp) else {
            throw SyncError.invalidResponse("a record lacks collection, recordId, version or updatedAt")
        }
        let deleted = value["deleted"]?.boolValue ?? false
        let data: [String: JSONValue]?
        if deleted {
            data = nil
        } else if let object = value["data"]?.objectValue {
            data = object
        } else {
            throw SyncError.invalidResponse("live record \(recordID.prefix(40)) has no data object")
        }
        return RemoteRecord(collection: collection, recordID: recordID, data: data, version: version,
                            seq: value["seq"]?.intValue, updatedAt: updatedAt, hlc: value["hlc"]?.stringValue,
                            clientID: value["clientId"]?.stringValue)
    }

    func pullV2(_ request: PullRequest) async throws -> PullPage {
        var query: [(String, String)] = [("collection", request.collection), ("limit", String(request.limit))]
        if let cursor = request.cursor { query.append(("cursor", cursor)) }
        query += RESTBackend.filterParameters(request.filter, includeSince: false)
        let response = try await send("GET", try url("/v2/pull", query: query))
        guard (200..<300).contains(response.status) else { throw RESTBackend.error(from: response) }
        let body = try RESTBackend.jsonBody(response)
        guard let changes = body["changes"]?.arrayValue, let hasMore = body["hasMore"]?.boolValue else {
            throw SyncError.invalidResponse("pull answer lacks changes or hasMore", status: response.status)
        }
        let records = try changes.map(RESTBackend.record)
        guard records.allSatisfy({ $0.collection == request.collection }) else {
            throw SyncError.invalidResponse("pull of \(request.collection) returned another collection")
        }
        return PullPage(records: records, cursor: body["cursor"]?.stringValue ?? request.cursor, hasMore: hasMore)
    }

    /// A filter as query parameters (upstream's names).
    static func filterParameters(_ filter: SyncFilter?, includeSince: Bool) -> [(String, String)] {
        guard let filter else { return [] }
        var query: [(String, String)] = filter.where.sorted { $0.key < $1.key }.map { key, value in
            ("where[\(key)]", dartString(value))
        }
        if includeSince, let since = filter.since { query.append(("since", formatTimestamp(since))) }
        if let fields = filter.fields { query.append(("fields", fields.joined(separator: ","))) }
        if let excluded = filter.excludeFields { query.append(("excludeFields", excluded.joined(separator: ","))) }
        return query
    }

    /// A value as Dart's `toString()` writes it (what v1 servers compare `where[…]` against).
    static func dartString(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): s
        case .double(let d) where d == d.rounded() && abs(d) < 1e15: String(format: "%.1f", d)
        default: JSONText.encode(value)
        }
    }
}
