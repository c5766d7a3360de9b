import Foundation
import SyncLayer

/// The documents every benchmark writes: small, four fields, like a todo.
enum Workload {
    /// `{"done":…,"id":…,"prio":…,"title":…}`: the canonical JSON the SDK stores (sorted keys).
    static func json(_ index: Int, id: String) -> String {
        "{\"done\":\(index % 2 == 0),\"id\":\"\(id)\",\"prio\":\(index % 1000),\"title\":\"item \(index)\"}"
    }

    static func document(_ index: Int) -> [String: JSONValue] {
        ["title": .string("item \(index)"), "done": .bool(index % 2 == 0), "prio": .int(index % 1000)]
    }
}

/// A folder under the temp directory, removed when released.
final class TempFolder: @unchecked Sendable {  // immutable after init
    let path: String

    init(_ label: String) throws {
        path = NSTemporaryDirectory() + "sync-bench-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
