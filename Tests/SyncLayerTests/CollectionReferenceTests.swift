import CSQLite
import Foundation
import Testing
@testable import SyncLayer

@Suite struct CollectionReferenceTests {
    @Test func saveThenGetRoundTripsWithIdAndMetadata() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "Buy milk", "done": false, "meta": ["priority": 2]])
        #expect(UUID(uuidString: id) != nil)
        let doc = try #require(try await f.todos.get(id))
        #expect(doc.id == id)
        #expect(doc["text"] == "Buy milk")
        #expect(doc.data == ["text": "Buy milk", "done": false, "meta": ["priority": 2]])
        #expect(doc.syncState == .pending && doc.version == 1 && doc.serverVersion == nil)
        #expect(try await f.todos.get("missing") == nil)
    }

    @Test func saveWithAnExistingIdReplacesTheDocumentAndQueuesAnUpdateFold() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "Buy milk", "done": false])
        try await f.todos.save(["text": "Buy oat milk"], id: id)
        let doc = try #require(try await f.todos.get(id))
        #expect(doc.data == ["text": "Buy oat milk"])
        #expect(doc.version == 2)
        // Never sent, so the insert absorbs the replacement: one op, the newest document.
        let outbox = try f.outbox()
        #expect(outbox.count == 1)
        #expect(outbox[0].type == "insert" && outbox[0].payload == #"{"text":"Buy oat milk"}"#)
    }

    @Test func aSentOpIsNeverFoldedInto() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "a"])
        // What the sync engine does before sending: count the attempt.
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }
        try await f.todos.update(id, ["done": true])
        let outbox = try f.outbox()
        #expect(outbox.map(\.type) == ["insert", "patch"])
        #expect(outbox[0].payload == #"{"text":"a"}"#)
    }

    @Test func aSaveAfterASentInsertQueuesAnUpdateNotASecondInsert() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "a"], id: "x")
        // The insert went out but no answer came: the server may or may not have the document.
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }
        try await f.todos.save(["text": "b"], id: "x")
        let outbox = try f.outbox()
        #expect(outbox.map(\.type) == ["insert", "update"])
        #expect(outbox.map(\.baseVersion) == [nil, nil])
        #expect(outbox.map(\.payload) == [#"{"text":"a"}"#, #"{"text":"b"}"#])
    }

    @Test func aSaveAfterAnAcknowledgedInsertQueuesAnUpdateOnTheServerVersion() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "a"], id: "x")
        try f.store.read { db in
            // As if the server had acknowledged the insert at version 1.
            try db.run("DELETE FROM sl_outbox")
            try db.run("UPDATE sl_documents SET server_version = 1, sync_state = 0, base = data")
        }
        try await f.todos.save(["text": "b"], id: "x")
        let outbox = try f.outbox()
        #expect(outbox.map(\.type) == ["update"])
        #expect(outbox.first?.baseVersion == 1 && outbox.first?.payload == #"{"text":"b"}"#)
    }

    @Test func getAllReturnsIdsInInsertionOrderAndHidesDeleted() async throws {
        let f = try await Fixture()
        let ids = try await f.todos.saveAll([["text": "a"], ["id": "x1", "text": "b"], ["text": "c"]])
        #expect(ids[1] == "x1")
        try await f.todos.delete(ids[0])
        let all = try await f.todos.getAll()
        #expect(all.map(\.id) == [ids[1], ids[2]])
        #expect(all.map { $0["text"] } == ["b", "c"])
        #expect(try await f.todos.count() == 2)
    }

    @Test func updateMergesTopLevelFieldsAndQueuesAPatchWithTheChangesOnly() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "a", "done": false, "meta": ["p": 1, "q": 2]])
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }  // the insert went out
        try await f.todos.update(id, ["done": true, "meta": ["p": 5], "note": nil])
        let doc = try #require(try await f.todos.get(id))
        #expect(doc.data == ["text": "a", "done": true, "meta": ["p": 5], "note": nil])
        let patch = try #require(try f.outbox().last)
        #expect(patch.type == "patch")
        #expect(patch.payload == #"{"done":true,"meta":{"p":5},"note":null}"#)
        try await f.todos.update(id, ["text": "b"])
        // The second patch folds into the unsent first one.
        #expect(try f.outbox().last?.payload == #"{"done":true,"meta":{"p":5},"note":null,"text":"b"}"#)
        #expect(try f.outbox().count == 2)
    }

    @Test func updateOfAMissingOrDeletedDocumentIsATypedErrorNotAnInsert() async throws {
        let f = try await Fixture()
        await #expect(throws: SyncLayerError(.documentNotFound, "no document \"nope\" in todos")) {
            try await f.todos.update("nope", ["done": true])
        }
        let id = try await f.todos.save(["text": "a"])
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }
        try await f.todos.delete(id)
        await #expect { try await f.todos.update(id, ["done": true]) } throws: {
            ($0 as? SyncLayerError)?.code == .documentNotFound
        }
        #expect(try f.rowCount("sl_documents") == 1)
    }

    @Test func deleteLeavesATombstoneAndQueuesADeleteOnceTheServerMayHaveIt() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "a"])
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }
        #expect(try await f.todos.delete(id) == true)
        #expect(try await f.todos.delete(id) == false)  // already deleted: nothing more queued
        #expect(try await f.todos.get(id) == nil)
        #expect(try f.outbox().map(\.type) == ["insert", "delete"])
        #expect(try f.rowCount("sl_documents") == 1)  // the tombstone
        #expect(try await f.todos.delete("never-existed") == false)
        #expect(try f.outbox().count == 2)
    }

    @Test func deletingADocumentTheServerNeverSawLeavesNothingBehind() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "draft"])
        try await f.todos.delete(id)
        #expect(try f.outbox().isEmpty)
        #expect(try f.rowCount("sl_documents") == 0)
    }

    @Test func saveAfterDeleteResurrectsTheDocument() async throws {
        let f = try await Fixture()
        let id = try await f.todos.save(["text": "a"])
        try f.store.read { db in
            // As if the server had acknowledged the insert at version 1.
            try db.run("DELETE FROM sl_outbox")
            try db.run("UPDATE sl_documents SET server_version = 1, sync_state = 0, base = data")
        }
        try await f.todos.delete(id)
        try await f.todos.save(["text": "back"], id: id)
        let doc = try #require(try await f.todos.get(id))
        #expect(doc.data == ["text": "back"] && doc.syncState == .pending && doc.version == 3)
        #expect(try await f.todos.getAll().map(\.id) == [id])
        // delete + save folded into one full update built on server version 1.
        let outbox = try f.outbox()
        #expect(outbox.count == 1)
        #expect(outbox[0].type == "update" && outbox[0].baseVersion == 1 && outbox[0].payload == #"{"text":"back"}"#)
    }

    @Test func saveAllAndDeleteAllAreEachOneTransaction() async throws {
        let f = try await Fixture()
        // The second document is invalid: nothing of the batch may be stored.
        await #expect(throws: SyncLayerError.self) {
            try await f.todos.saveAll([["text": "ok"], ["text": .double(.nan)]])
        }
        #expect(try f.rowCount("sl_documents") == 0 && (try f.rowCount("sl_outbox")) == 0)
        let ids = try await f.todos.saveAll((0..<50).map { ["n": .int($0)] })
        #expect(try f.rowCount("sl_documents") == 50)
        #expect(try await f.todos.deleteAll(Array(ids.prefix(10)) + ["unknown"]) == 10)
        #expect(try await f.todos.count() == 40)
        await #expect(throws: SyncLayerError.self) { try await f.todos.deleteAll([ids[20], ""]) }
        #expect(try await f.todos.count() == 40)
    }

    @Test func documentAndOutboxWritesAreAtomic() async throws {
        let f = try await Fixture()
        f.store.injectFaults { point in
            if point == .betweenDocumentAndOutbox { throw InjectedFault() }
        }
        await #expect(throws: InjectedFault.self) { try await f.todos.save(["text": "a"], id: "a") }
        await #expect(throws: InjectedFault.self) { try await f.todos.saveAll([["id": "b"], ["id": "c"]]) }
        #expect(try f.rowCount("sl_documents") == 0 && (try f.rowCount("sl_outbox")) == 0)

        f.store.injectFaults(nil)
        try await f.todos.save(["text": "a"], id: "a")
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }
        f.store.injectFaults { _ in throw InjectedFault() }
        await #expect(throws: InjectedFault.self) { try await f.todos.update("a", ["text": "changed"]) }
        await #expect(throws: InjectedFault.self) { try await f.todos.delete("a") }
        #expect(try await f.todos.get("a")?.data == ["text": "a"])
        #expect(try f.outbox().map(\.type) == ["insert"])
    }

    @Test func invalidIdsAndDataAreTypedErrors() async throws {
        let f = try await Fixture()
        for bad in ["", String(repeating: "x", count: 513), "tab\there", "nul\0byte"] {
            await #expect { try await f.todos.save(["a": 1], id: bad) } throws: {
                ($0 as? SyncLayerError)?.code == .invalidDocumentID
            }
        }
        #expect(try await f.todos.save(["a": 1], id: String(repeating: "é", count: 256)).utf8.count == 512)
        await #expect { try await f.todos.save(["x": .double(.infinity)]) } throws: {
            ($0 as? SyncLayerError)?.code == .invalidDocument
        }
        await #expect { try await f.todos.save(["id": "a"], id: "b") } throws: {
            ($0 as? SyncLayerError)?.code == .invalidDocument
        }
        await #expect { try await f.todos.save(["id": 7]) } throws: {
            ($0 as? SyncLayerError)?.code == .invalidDocument
        }
        var deep: JSONValue = 1
        for _ in 0..<300 { deep = [deep] }
        await #expect { try await f.todos.save(["deep": deep]) } throws: {
            ($0 as? SyncLayerError)?.code == .invalidDocument
        }
        #expect(try f.rowCount("sl_documents") == 1)
    }

    @Test func unknownCollectionsAreTypedErrors() async throws {
        let f = try await Fixture()
        let other = f.sync.collection("other")
        await #expect { try await other.save(["a": 1]) } throws: { ($0 as? SyncLayerError)?.code == .unknownCollection }
        await #expect { try await other.getAll() } throws: { ($0 as? SyncLayerError)?.code == .unknownCollection }
        await #expect { try await f.sync.collection("bad name").get("x") } throws: {
            ($0 as? SyncLayerError)?.code == .invalidCollectionName
        }
    }

    @Test func dataSurvivesReopeningAndTheClientIdIsKept() async throws {
        let directory = TemporaryDirectory()
        let config = SyncConfig(collections: ["todos"], storage: .file(directory.path("db.sqlite")))
        let first = try await SyncLayer(config: config)
        let id = try await first.collection("todos").save(["text": "persist"])
        let clientID = first.clientID
        await first.close()
        await #expect { try await first.collection("todos").get(id) } throws: { ($0 as? SyncLayerError)?.code == .closed }

        let second = try await SyncLayer(config: config)
        #expect(second.clientID == clientID)
        #expect(try await second.collection("todos").get(id)?["text"] == "persist")
        #expect(try await second.pendingOperationCount() == 1)
        // Later stamps order after the ones written before the restart.
        let before = try second.store.read { db in try db.scalarText("SELECT hlc FROM sl_documents") }
        try await second.collection("todos").update(id, ["text": "again"])
        let after = try second.store.read { db in try db.scalarText("SELECT hlc FROM sl_documents") }
        #expect(try #require(after) > #require(before))
    }

    @Test func theDatabaseFileIsPrivateAndUsesWALWithNormalSync() async throws {
        let f = try await Fixture()
        try await f.todos.save(["a": 1])
        for suffix in ["", "-wal"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: f.path + suffix)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "mode of db\(suffix)")
        }
        let (mode, synchronous, migrations) = try f.store.read { db in
            (try db.scalarText("PRAGMA journal_mode"), try db.scalarInt("PRAGMA synchronous"),
             try db.scalarInt("SELECT count(*) FROM sl_migrations"))
        }
        #expect(mode == "wal" && synchronous == 1 && migrations == Int64(Schema.latestVersion))
        let full = try await Fixture(durability: .full)
        #expect(try full.store.read { db in try db.scalarInt("PRAGMA synchronous") } == 2)
    }

    @Test func inMemoryStorageWorks() async throws {
        let sync = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .inMemory))
        let id = try await sync.collection("todos").save(["a": 1])
        #expect(try await sync.collection("todos").get(id) != nil)
        #expect(sync.databasePath == nil)
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let f = try await Fixture()
        try f.store.read { db in try db.run("INSERT INTO sl_migrations VALUES (999, 'future', 0)") }
        await f.sync.close()
        await #expect { try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(f.path))) } throws: {
            ($0 as? SyncLayerError)?.code == .incompatibleSchema
        }
    }

    @Test func aFullDiskIsATypedErrorAndLeavesNothingHalfWritten() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "kept"], id: "kept")
        let pages = try f.store.read { db in try db.scalarInt("PRAGMA page_count") ?? 0 }
        try f.store.read { db in _ = try db.scalarInt("PRAGMA max_page_count = \(pages + 2)") }
        let big = String(repeating: "x", count: 64 * 1024)
        var failure: StoreError?
        for i in 0..<100 {
            do { try await f.todos.save(["blob": .string(big)], id: "doc\(i)") } catch let error as StoreError {
                failure = error
                break
            }
        }
        let error = try #require(failure)
        #expect(error.isDiskFull)
        #expect(error.sql != nil && error.sql?.contains(big) == false)
        // Every stored document has its outbox op and the other way round.
        let orphans = try f.store.scalar(sql: """
            SELECT count(*) FROM sl_documents d WHERE NOT EXISTS
              (SELECT 1 FROM sl_outbox o WHERE o.collection = d.collection AND o.record_id = d.id)
            """, bindings: [])
        #expect(orphans == 0)
        #expect(try f.rowCount("sl_documents") == (try f.rowCount("sl_outbox")))
        #expect(try await f.todos.get("kept")?["text"] == "kept")
    }

    @Test func aReadOnlyDatabaseIsATypedError() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "kept"], id: "kept")
        await f.sync.close()
        let readOnly = try LocalStore(storage: .file(f.path), readOnly: true)
        #expect(throws: StoreError.self) { try readOnly.save("todos", id: "new", data: ["text": "new"]) }
        do { _ = try readOnly.save("todos", id: "new", data: [:]) } catch let error as StoreError {
            #expect(error.isReadOnly, "\(error)")
        }
        #expect(try readOnly.document("todos", id: "kept")?["text"] == "kept")
        #expect(try readOnly.document("todos", id: "new") == nil)
    }

    @Test func updateWithADottedKeySetsANestedField() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "a", "meta": ["priority": 1, "owner": "ann"]], id: "a")
        try f.store.read { db in try db.run("UPDATE sl_outbox SET attempts = 1") }
        try await f.todos.update("a", ["meta.priority": 3, "extra.deep.flag": true])
        #expect(try await f.todos.get("a")?.data == ["text": "a", "meta": ["priority": 3, "owner": "ann"],
                                                     "extra": ["deep": ["flag": true]]])
        #expect(try await f.todos.where("meta.priority", isEqualTo: 3).count() == 1)
        // The patch carries whole top-level fields, as the protocol's patch semantics want.
        #expect(try f.outbox().last?.payload == #"{"extra":{"deep":{"flag":true}},"meta":{"owner":"ann","priority":3}}"#)
        await #expect { try await f.todos.update("a", ["bad..path": 1]) } throws: {
            ($0 as? SyncLayerError)?.code == .invalidFieldPath
        }
    }

    @Test func updateCannotTurnTheIdFieldIntoAnObject() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "a"], id: "a")
        for changes: [String: JSONValue] in [["id.x": 1], ["id.x.y": 1, "text": "b"], ["id": "other"]] {
            await #expect { try await f.todos.update("a", changes) } throws: {
                ($0 as? SyncLayerError)?.code == .invalidDocument
            }
        }
        let typed = f.sync.collection("todos", as: Note.self)
        await #expect { try await typed.update("a", ["id.x": 1]) } throws: {
            ($0 as? SyncLayerError)?.code == .invalidDocument
        }
        #expect(try await f.todos.get("a")?.data == ["text": "a"])
        // The id itself, unchanged, and fields that merely start with "id" are fine.
        try await f.todos.update("a", ["id": "a", "idea": "yes", "ids.n": 1])
        #expect(try await f.todos.get("a")?.data == ["text": "a", "id": "a", "idea": "yes", "ids": ["n": 1]])
        #expect(try await typed.get("a") == Note(id: "a", text: "a"))
    }

    struct Note: Codable, Identifiable, Sendable, Equatable { var id: String; var text: String }

    @Test func aDocumentOverSQLitesLengthLimitIsAStoreError() async throws {
        let f = try await Fixture()
        try await f.todos.save(["text": "kept"], id: "kept")
        try f.store.read { db in _ = sqlite3_limit(db.handle, SQLITE_LIMIT_LENGTH, 10_000) }
        await #expect { try await f.todos.save(["blob": .string(String(repeating: "x", count: 20_000))], id: "big") } throws: {
            ($0 as? StoreError)?.resultCode == SQLITE_TOOBIG
        }
        #expect(try await f.todos.getAll().map(\.id) == ["kept"])
        #expect(try f.outbox().map(\.recordID) == ["kept"])
    }

    @Test(.enabled(if: getuid() != 0, "root ignores file modes, so chmod cannot write-protect the file"))
    func aWriteProtectedFileIsATypedErrorAndIsLeftAsItWas() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path("db.sqlite")
        let config = SyncConfig(collections: ["todos"], storage: .file(path))
        let first = try await SyncLayer(config: config)
        try await first.collection("todos").save(["text": "kept"], id: "kept")
        await first.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(chmod(path, 0o400) == 0)
        await #expect { try await SyncLayer(config: config) } throws: { ($0 as? StoreError)?.isReadOnly == true }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        // No -wal or -shm file inherited the read-only mode (SQLite gives them the file's mode).
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["db.sqlite"])
        // The failed open released the file: once writable, it opens, with its data.
        #expect(chmod(path, 0o600) == 0)
        let again = try await SyncLayer(config: config)
        #expect(try await again.collection("todos").get("kept")?["text"] == "kept")
        await again.close()
    }

    @Test func anOpenThatFailsReleasesTheFile() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path("db.sqlite")
        // A meta table whose clock row cannot be read: the open fails after the client id is read.
        let db = try Database(.init(path: path))
        try db.execute("CREATE VIEW sl_meta (key, value) AS SELECT 'client_id', 'c1' UNION ALL SELECT 'hlc', json('not json')")
        db.close()
        for _ in 0..<2 {
            #expect { try LocalStore(storage: .file(path), readOnly: true) } throws: {
                ($0 as? StoreError)?.message.contains("malformed JSON") == true
            }
        }
    }

    @Test func oneFileCanBeOpenedOnlyOncePerProcess() async throws {
        let f = try await Fixture()
        await #expect { try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(f.path))) } throws: {
            ($0 as? SyncLayerError)?.code == .alreadyOpen
        }
        await f.sync.close()
        let again = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(f.path)))
        await again.close()
    }

    @Test func concurrentConnectionsMigrateANewFileOnce() async throws {
        for round in 0..<10 {
            let directory = TemporaryDirectory()
            let path = directory.path("race\(round).sqlite")
            let failures = Locked<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do {
                    let db = try Database(.init(path: path))
                    try Schema.migrate(db)
                    db.close()
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty, "round \(round): \(failures.withLock { $0 })")
            let db = try Database(.init(path: path))
            #expect(try db.scalarInt("SELECT count(*) FROM sl_migrations") == Int64(Schema.latestVersion))
        }
    }
}
