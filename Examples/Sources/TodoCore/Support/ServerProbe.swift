import Foundation
import SyncLayer

/// What a server says about itself in `GET /.well-known/synclayer`.
struct ServerProbe: Sendable {
    /// Whether the server answered at all.
    var reachable: Bool
    /// The protocol versions it offers (empty for a v1-only server with no capabilities document).
    var versions: [Int] = []
    /// Its name and version (`synclayer-server/0.1.0`).
    var name: String?
    /// The realtime endpoint it advertises, as a `ws`/`wss` URL.
    var webSocketURL: URL?
    /// Why it could not be asked.
    var failure: String?

    /// Asks the server; never throws (an unreachable server is an answer here).
    static func probe(_ server: ServerSettings, timeout: TimeInterval = 5) async -> ServerProbe {
        let transport = SyncConfig.defaultTransport(timeout: timeout)
        let url = server.url.appendingPathComponent(".well-known").appendingPathComponent("synclayer")
        var headers = ["Accept": "application/json"]
        if let token = server.token { headers["Authorization"] = "Bearer \(token)" }
        let response: HTTPResponse
        do {
            response = try await transport.send(HTTPRequest(method: "GET", url: url, headers: headers))
        } catch let error as SyncError {
            return ServerProbe(reachable: false, failure: error.message)
        } catch {
            return ServerProbe(reachable: false, failure: "\(error)")
        }
        guard (200..<300).contains(response.status),
              let document = try? JSONDecoder().decode(JSONValue.self, from: response.body), document["protocol"] == "synclayer" else {
            // A v1 server has no capabilities document: it is there, without realtime discovery.
            return ServerProbe(reachable: true, versions: [1])
        }
        let path = document["endpoints"]?["websocket"]?.stringValue ?? document["websocket"]?["path"]?.stringValue
        return ServerProbe(reachable: true, versions: document["versions"]?.arrayValue?.compactMap(\.intValue) ?? [],
                           name: document["server"]?.stringValue,
                           webSocketURL: path.flatMap { webSocketURL(base: server.url, endpoint: $0) })
    }

    /// `http://h:p/base` + `/ws` → `ws://h:p/base/ws`; an absolute endpoint is used as is.
    static func webSocketURL(base: URL, endpoint: String) -> URL? {
        if let absolute = URL(string: endpoint), let scheme = absolute.scheme?.lowercased(), ["ws", "wss"].contains(scheme) {
            return absolute
        }
        guard var components = URLComponents(url: base, resolvingAgainstBaseURL: false) else { return nil }
        components.scheme = components.scheme?.lowercased() == "https" ? "wss" : "ws"
        var basePath = components.path
        while basePath.hasSuffix("/") { basePath.removeLast() }
        components.path = basePath + (endpoint.hasPrefix("/") ? endpoint : "/" + endpoint)
        components.query = nil
        components.fragment = nil
        return components.url
    }
}
