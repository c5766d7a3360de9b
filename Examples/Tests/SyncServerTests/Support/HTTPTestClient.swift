import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SyncServer

/// An HTTP answer, body parsed as JSON when it is JSON.
struct HTTPAnswer: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data
    var json: JSONValue? { try? JSONParser.parse(Array(body)) }

    /// `error.code` of the stable error body.
    var errorCode: String? { json?["error"]?["code"]?.stringValue }

    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}

/// A small URLSession client, as the SDK uses on Linux.
struct HTTPTestClient: Sendable {
    let baseURL: String
    let session: URLSession

    init(baseURL: String) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 20
        session = URLSession(configuration: configuration)
    }

    func send(
        _ method: String, _ path: String, json: JSONValue? = nil, raw: Data? = nil, token: String? = testToken,
        headers: [String: String] = [:]
    ) async throws -> HTTPAnswer {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = Data(json.encodedBytes)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        } else if let raw {
            request.httpBody = raw
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name] = value }
        }
        return HTTPAnswer(status: http.statusCode, headers: fields, body: data)
    }

    func get(_ path: String, token: String? = testToken) async throws -> HTTPAnswer {
        try await send("GET", path, token: token)
    }

    func post(_ path: String, _ json: JSONValue, token: String? = testToken) async throws -> HTTPAnswer {
        try await send("POST", path, json: json, token: token)
    }

    /// A v2 push; returns the per-op results.
    func push(clientID: String, _ ops: [JSONValue]) async throws -> [JSONValue] {
        let answer = try await post("/v2/push", ["clientId": .string(clientID), "ops": .array(ops)])
        guard answer.status == 200, case .array(let results)? = answer.json?["results"] else {
            throw UnexpectedAnswer(status: answer.status, body: String(decoding: answer.body, as: UTF8.self))
        }
        return results
    }

    /// Pulls every page of a collection from `cursor`; returns the changes and the final cursor.
    func pullAll(_ collection: String, from cursor: String? = nil, limit: Int = 500) async throws -> (changes: [JSONValue], cursor: String) {
        var cursor = cursor
        var changes: [JSONValue] = []
        while true {
            var path = "/v2/pull?collection=\(collection)&limit=\(limit)"
            if let cursor { path += "&cursor=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }
            let answer = try await get(path)
            guard answer.status == 200, let json = answer.json, case .array(let page)? = json["changes"],
                  let next = json["cursor"]?.stringValue
            else { throw UnexpectedAnswer(status: answer.status, body: String(decoding: answer.body, as: UTF8.self)) }
            changes += page
            cursor = next
            if json["hasMore"] != .bool(true) { return (changes, next) }
        }
    }
}

struct UnexpectedAnswer: Error, CustomStringConvertible {
    var status: Int
    var body: String
    var description: String { "unexpected answer \(status): \(body)" }
}

/// A v2 op object.
func op(
    _ opID: String, _ type: String, _ recordID: String, collection: String = "todos", payload: JSONValue? = nil,
    base: Int64? = nil, hlc: String? = nil
) -> JSONValue {
    var object: [String: JSONValue] = [
        "opId": .string(opID), "type": .string(type), "collection": .string(collection), "recordId": .string(recordID),
    ]
    if let payload { object["payload"] = payload }
    object["baseVersion"] = base.map(JSONValue.int) ?? .null
    if let hlc { object["hlc"] = .string(hlc) }
    return .object(object)
}
