import Foundation
@testable import SyncLayer

/// A temporary folder that removes itself.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("synclayer-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A SyncLayer on a real database file in a fresh temporary folder.
struct Fixture {
    let directory = TemporaryDirectory()
    let sync: SyncLayer
    var path: String { directory.path("db.sqlite") }

    init(collections: [String] = ["todos", "notes"], durability: SyncConfig.Durability = .normal) async throws {
        sync = try await SyncLayer(config: SyncConfig(collections: collections,
                                                      storage: .file(directory.path("db.sqlite")),
                                                      durability: durability))
    }

    var todos: CollectionReference { sync.collection("todos") }
    var store: LocalStore { sync.store }

    /// The outbox, oldest first: (type, record id, payload, base version).
    func outbox() throws -> [(type: String, recordID: String, payload: String?, baseVersion: Int64?)] {
        try store.read { db in
            let statement = try db.statement("SELECT type, record_id, payload, base_version FROM sl_outbox ORDER BY seq")
            var rows: [(String, String, String?, Int64?)] = []
            while try statement.step() {
                rows.append((statement.text(0)!, statement.text(1)!, statement.text(2),
                             statement.isNull(3) ? nil : statement.int(3)))
            }
            return rows
        }
    }

    func rowCount(_ table: String) throws -> Int {
        try store.scalar(sql: "SELECT count(*) FROM \(table)", bindings: [])
    }

    /// Every schema object, as `type name sql` lines.
    func schema() throws -> [String] {
        try store.read { db in
            let statement = try db.statement("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name")
            var rows: [String] = []
            while try statement.step() { rows.append(statement.text(0)!) }
            return rows
        }
    }
}

struct InjectedFault: Error {}
