/// The WebSocket envelope `{type, collection, recordId, data, timestamp, metadata}` (PROTOCOL.md §5.2).
struct RealtimeMessage: Sendable {
    var type: String
    var collection: String?
    var recordID: String?
    var data: JSONValue?
    var timestamp: String?
    var metadata: [String: JSONValue]?
    /// Error messages only.
    var error: String?
    var code: String?

    init(type: String, collection: String? = nil, recordID: String? = nil, data: JSONValue? = nil, timestamp: String? = nil,
         metadata: [String: JSONValue]? = nil, error: String? = nil, code: String? = nil) {
        self.type = type
        self.collection = collection
        self.recordID = recordID
        self.data = data
        self.timestamp = timestamp
        self.metadata = metadata
        self.error = error
        self.code = code
    }

    /// Reads a client message; nil unless it is a JSON object with a string `type`.
    init?(text: String, maxDepth: Int) {
        guard let value = try? JSONParser.parse(text.utf8, maxDepth: maxDepth), let object = value.objectValue,
              let type = object["type"]?.stringValue
        else { return nil }
        self.type = type
        collection = object["collection"]?.stringValue
        recordID = object["recordId"]?.stringValue
        data = object["data"].flatMap { $0.isNull ? nil : $0 }
        timestamp = object["timestamp"]?.stringValue
        metadata = object["metadata"]?.objectValue
    }

    /// Canonical JSON text; absent keys are omitted.
    var text: String {
        var object: [String: JSONValue] = ["type": .string(type)]
        if let collection { object["collection"] = .string(collection) }
        if let recordID { object["recordId"] = .string(recordID) }
        if let data { object["data"] = data }
        if let timestamp { object["timestamp"] = .string(timestamp) }
        if let metadata { object["metadata"] = .object(metadata) }
        if let error { object["error"] = .string(error) }
        if let code { object["code"] = .string(code) }
        return JSONValue.object(object).encoded
    }

    static func error(_ code: String, _ message: String, collection: String? = nil, recordID: String? = nil,
                      opID: String? = nil) -> RealtimeMessage {
        RealtimeMessage(
            type: "error", collection: collection, recordID: recordID,
            metadata: opID.map { ["opId": .string($0)] }, error: message, code: code)
    }

    /// A server change message for a committed record state; `prevSeq` is the seq of the change sent
    /// before it on the connection for the collection (PROTOCOL.md §5.5).
    static func change(_ record: StoredRecord, cursor: String, prevSeq: Int64) -> RealtimeMessage {
        let type = record.isDeleted ? "delete" : (record.createdByLastChange ? "insert" : "update")
        return RealtimeMessage(
            type: type, collection: record.collection, recordID: record.recordID, data: record.data.map(JSONValue.object),
            timestamp: Timestamp.format(milliseconds: record.updatedAt),
            metadata: [
                "version": .int(record.version), "seq": .int(record.seq), "prevSeq": .int(prevSeq), "cursor": .string(cursor),
                "clientId": record.clientID.map(JSONValue.string) ?? .null, "hlc": record.hlc.map(JSONValue.string) ?? .null,
                "delta": false, "userId": .null,
            ])
    }
}
