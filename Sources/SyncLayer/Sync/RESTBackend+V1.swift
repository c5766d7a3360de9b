import Foundation

/// Protocol v1, SyncLayer Dart 1.7.3's contract (doc/PROTOCOL.md §3): one request per operation,
/// pull by `since` and `offset`, no tombstones.
extension RESTBackend {
    func pushV1(_ batch: PushBatch) async throws -> [PushResult] {
        var results: [PushResult] = []
        for op in batch.operations {
            let result: PushResult
            do {
                result = try await pushV1(op)
            } catch let error as SyncError where !results.isEmpty {
                // Keep what was acknowledged; the rest goes again later.
                results.append(.retry(opID: op.opID, error: error))
                return results
            }
            results.append(result)
            if case .retry = result { return results }
        }
        return results
    }

    private func pushV1(_ op: PushOperation) async throws -> PushResult {
        let collection = RESTBackend.encode(op.collection)
        let record = RESTBackend.encode(op.recordID)
        let timestamp = JSONValue.string(RESTBackend.formatTimestamp(op.createdAt))
        let response: HTTPResponse
        switch op.kind {
        case .insert, .update:
            response = try await send("POST", try url("/sync/\(collection)"), body: [
                "recordId": .string(op.recordID), "data": .object(op.payload ?? [:]), "timestamp": timestamp,
            ])
        case .patch:
            response = try await send("PATCH", try url("/sync/\(collection)/\(record)"), body: [
                "delta": .object(op.payload ?? [:]), "baseVersion": .int(op.baseVersion ?? 0), "timestamp": timestamp,
            ])
        case .delete:
            response = try await send("DELETE", try url("/sync/\(collection)/\(record)"))
            if response.status == 404 || response.status == 410 {
                return .applied(opID: op.opID, version: nil, updatedAt: nil, duplicate: false)  // already gone
            }
        }
        guard (200..<300).contains(response.status) else {
            let error = RESTBackend.error(from: response)
            return error.isRetryable ? .retry(opID: op.opID, error: error) : .rejected(opID: op.opID, error: error)
        }
        // The Dart contract ignores write answers; the reference server's carry the version.
        let body = try? JSONText.parse(response.body)
        return .applied(opID: op.opID, version: body?["version"]?.intValue,
                        updatedAt: body?["updatedAt"]?.stringValue.flatMap(RESTBackend.parseTimestamp), duplicate: false)
    }

    /// v1 pull. The cursor (`v1|<since>|<offset>|<newest seen>`) pages by offset under a fixed
    /// `since`, then moves `since` to the newest `updatedAt` seen, so a crash mid-pass resumes
    /// at the page it stopped at.
    func pullV1(_ request: PullRequest) async throws -> PullPage {
        let position = V1Cursor(request.cursor)
        var since = position.since
        if let filterSince = request.filter?.since, since.map({ filterSince > $0 }) ?? true { since = filterSince }
        var query: [(String, String)] = []
        if let since { query.append(("since", RESTBackend.formatTimestamp(since))) }
        query += [("limit", String(request.limit)), ("offset", String(position.offset))]
        query += RESTBackend.filterParameters(request.filter, includeSince: false)
        let response = try await send("GET", try url("/sync/\(RESTBackend.encode(request.collection))", query: query))
        guard (200..<300).contains(response.status) else { throw RESTBackend.error(from: response) }
        let body = try RESTBackend.jsonBody(response)
        let items: [JSONValue]
        switch body {
        case .object(let object): items = object["records"]?.arrayValue ?? []
        case .array(let array): items = array  // what SyncLayer Dart's docs (wrongly) describe
        default: throw SyncError.invalidResponse("pull answer is neither an object nor an array")
        }
        let records = try items.map { item -> RemoteRecord in
            guard let id = item["recordId"]?.stringValue ?? item["id"]?.stringValue, let data = item["data"]?.objectValue,
                  let updatedAt = item["updatedAt"]?.stringValue.flatMap(RESTBackend.parseTimestamp) else {
                throw SyncError.invalidResponse("a v1 record lacks recordId, a data object or updatedAt")
            }
            return RemoteRecord(collection: request.collection, recordID: id, data: data,
                                version: item["version"]?.intValue ?? 1, updatedAt: updatedAt)
        }
        let newest = ([position.newest].compactMap { $0 } + records.map(\.updatedAt)).max()
        let hasMore = records.count >= request.limit
        let next = hasMore
            ? V1Cursor(since: position.since, offset: position.offset + records.count, newest: newest)
            : V1Cursor(since: newest ?? since, offset: 0, newest: nil)
        return PullPage(records: records, cursor: next.text, hasMore: hasMore)
    }
}

/// Where a v1 pull stands.
struct V1Cursor: Equatable {
    var since: Date?
    var offset: Int
    var newest: Date?

    init(since: Date?, offset: Int, newest: Date?) {
        self.since = since
        self.offset = offset
        self.newest = newest
    }

    init(_ text: String?) {
        let parts = (text ?? "").split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "v1" else {
            self.init(since: nil, offset: 0, newest: nil)
            return
        }
        self.init(since: RESTBackend.parseTimestamp(parts[1]), offset: max(0, Int(parts[2]) ?? 0),
                  newest: RESTBackend.parseTimestamp(parts[3]))
    }

    var text: String {
        ["v1", since.map(RESTBackend.formatTimestamp) ?? "", String(offset), newest.map(RESTBackend.formatTimestamp) ?? ""]
            .joined(separator: "|")
    }
}
