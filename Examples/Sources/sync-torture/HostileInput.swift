import Foundation
import SyncLayer

/// C15/C16/C17/R10: malformed and wrongly typed server answers (truncated JSON, HTML error pages,
/// empty bodies, wrong types, huge numbers, invalid UTF-8, deep nesting, pages with one bad record,
/// a server that never ends a pull), and hostile collection, field and id names through every API.
/// Figures: crashes (the harness would die), partially applied pages, schema changes, untyped errors.
enum HostileInput {
    static let collection = "c"

    static func record(_ id: String, version: String = "1", data: String = #"{"v":1}"#) -> String {
        #"{"collection":"c","recordId":"\#(id)","version":\#(version),"updatedAt":"2026-11-21T17:00:00.000Z","data":\#(data)}"#
    }

    static func page(_ records: [String], hasMore: Bool = false, cursor: String = "\"9\"") -> Data {
        Data(#"{"changes":[\#(records.joined(separator: ","))],"cursor":\#(cursor),"hasMore":\#(hasMore)}"#.utf8)
    }

    /// Pull answers that must be refused as a whole: nothing of the page may be applied.
    static var refusedPulls: [(String, Int, Data)] {
        var cases: [(String, Int, Data)] = [
            ("truncated JSON", 200, Data(#"{"changes":[{"collection":"c","recordId":"p1""#.utf8)),
            ("HTML error page with 200", 200, Data("<html><body><h1>502 Bad Gateway</h1></body></html>".utf8)),
            ("HTML error page with 502", 502, Data("<html><body><h1>502 Bad Gateway</h1></body></html>".utf8)),
            ("empty 200", 200, Data()),
            ("changes is a string", 200, Data(#"{"changes":"oops","hasMore":false}"#.utf8)),
            ("hasMore missing", 200, Data(#"{"changes":[]}"#.utf8)),
            ("version is a string", 200, page([record("p1", version: "\"7\"")])),
            ("version beyond 2^64", 200, page([record("p1", version: "184467440737095516160")])),
            ("version 1e400", 200, page([record("p1", version: "1e400")])),
            ("data is an array", 200, page([record("p1", data: "[1,2]")])),
            ("second record lacks data", 200, page([record("p1"), #"{"collection":"c","recordId":"p2","version":1,"updatedAt":"2026-11-21T17:00:00.000Z"}"#])),
            ("record of another collection", 200, page([record("p1"), record("p2").replacingOccurrences(of: #""collection":"c""#, with: #""collection":"sl_outbox""#)])),
            ("NaN literal", 200, page([record("p1", data: #"{"v":NaN}"#)])),
            ("deep nesting 100000", 200, page([record("p1", data: String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))])),
            ("record id with NUL", 200, page([record("p1"), record("p\\u0000x")])),
            ("empty record id", 200, page([record("p1"), record("")])),
        ]
        var invalidUTF8 = page([record("p1"), record("p2", data: #"{"v":"XX"}"#)])
        if let range = invalidUTF8.range(of: Data("XX".utf8)) { invalidUTF8.replaceSubrange(range, with: [0xC3, 0x28]) }
        cases.append(("invalid UTF-8 in a string", 200, invalidUTF8))
        var overlong = page([record("p1"), record("p2", data: #"{"v":"XX"}"#)])
        if let range = overlong.range(of: Data("XX".utf8)) { overlong.replaceSubrange(range, with: [0xC0, 0xAF]) }
        cases.append(("overlong UTF-8", 200, overlong))
        return cases
    }

    /// Odd but valid pages: they may be applied; nothing may crash or change the schema.
    static var acceptedPulls: [(String, Data)] {
        [
            ("SQL in a record id", page([record(#"x'); DROP TABLE sl_documents;--"#)])),
            ("quotes in field names", page([record("p1", data: #"{"a\"b":1,"$.x":2,"":3,"a.b":{"c":4}}"#)])),
            ("integer beyond 2^53", page([record("p1", data: #"{"v":9007199254740993}"#)])),
            ("BOM and duplicate keys", Data([0xEF, 0xBB, 0xBF]) + page([record("p1", data: #"{"v":1,"v":2}"#)])),
            ("10k-char record id", page([record(String(repeating: "i", count: 10_000))])),
            ("RTL and confusable id", page([record("\u{202E}txt.exe\u{0430}")])),
        ]
    }

    /// Push answers that are not the protocol: the ops must stay queued (not lost, not marked synced).
    static let hostilePushes: [(String, Int, String)] = [
        ("truncated push answer", 200, #"{"results":[{"opId":"#),
        ("HTML page", 200, "<html>oops</html>"),
        ("wrong op id", 200, #"{"results":[{"opId":"someone-else","status":"applied","version":1}]}"#),
        ("unknown status", 200, #"{"results":[{"opId":"OPID","status":"maybe"}]}"#),
        ("more results than ops", 200, #"{"results":[{"opId":"OPID","status":"applied","version":1},{"opId":"x","status":"applied","version":2}]}"#),
        ("results is an object", 200, #"{"results":{"opId":"OPID"}}"#),
        ("empty 200", 200, ""),
        ("500 with HTML", 500, "<html>Internal</html>"),
    ]

    static func schema(_ path: String) -> String {
        let outcome = ChildProcess.shell(["sqlite3", "-readonly", path, "SELECT type, name, sql FROM sqlite_schema ORDER BY name;"],
                                         limit: .seconds(60))
        if let error = outcome.launchError { return "sqlite3: \(error)" }
        if outcome.timedOut { return "sqlite3 hung (killed after 60 s)" }
        return outcome.text
    }

    static func client(_ directory: ScratchDirectory, _ name: String, transport: ScriptedTransport) async throws -> SyncLayer {
        try await SyncLayer(config: SyncConfig(
            baseURL: URL(string: "http://127.0.0.1:9")!, collections: [collection], authToken: "t", maxRetries: 1_000,
            enableAutoSync: false, storage: .file(directory.path("\(name).sqlite")), protocolVersion: .v2,
            transport: transport))
    }

    static func run(report: Report) async throws {
        let directory = try ScratchDirectory("hostile")
        defer { directory.remove() }
        var cases = 0
        var partial = 0
        var schemaChanges = 0
        var untyped = 0
        var hung = 0

        // A reference schema from an untouched client.
        let reference = try await client(directory, "reference", transport: ScriptedTransport(pull: { _ in HTTPResponse(status: 503) }))
        try await reference.collection(collection).save(["keep": true], id: "keep")
        await reference.close()
        let baseline = schema(directory.path("reference.sqlite"))

        func check(_ name: String, _ file: String, expectLocal: Set<String>?) async throws {
            let sdk = try await client(directory, file, transport: ScriptedTransport(pull: { _ in HTTPResponse(status: 503) }))
            let ids = Set(try await sdk.collection(collection).getAll().map(\.id))
            await sdk.close()
            if let expectLocal, ids != expectLocal {
                partial += 1
                report.violation("\(name): local documents \(ids.sorted().prefix(4)) after a refused page")
            }
            if schema(directory.path("\(file).sqlite")) != baseline {
                schemaChanges += 1
                report.violation("\(name): schema changed")
            }
        }

        for (index, (name, status, body)) in refusedPulls.enumerated() {
            report.doing("refused pull: \(name)")
            cases += 1
            let file = "refused-\(index)"
            let sdk = try await client(directory, file, transport: ScriptedTransport(pull: { _ in
                HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: body)
            }))
            try await sdk.collection(collection).save(["keep": true], id: "keep")
            do {
                try await withTimeout(.seconds(10)) { try await sdk.syncNow() }
                report.violation("\(name): sync succeeded on a malformed page")
            } catch is SyncError {
            } catch is TimeoutError {
                hung += 1
                report.violation("\(name): sync did not end within 10 s")
            } catch {
                untyped += 1
                report.violation("\(name): untyped error \(type(of: error)): \(error)")
            }
            await sdk.close()
            try await check(name, file, expectLocal: ["keep"])
        }

        for (index, (name, body)) in acceptedPulls.enumerated() {
            report.doing("accepted pull: \(name)")
            cases += 1
            let file = "accepted-\(index)"
            let sdk = try await client(directory, file, transport: ScriptedTransport(pull: { _ in
                HTTPResponse(status: 200, headers: ["Content-Type": "application/json"], body: body)
            }))
            try await sdk.collection(collection).save(["keep": true], id: "keep")
            do {
                try await withTimeout(.seconds(10)) { try await sdk.syncNow() }
            } catch is SyncError {
            } catch is TimeoutError {
                hung += 1
                report.violation("\(name): sync did not end within 10 s")
            } catch {
                untyped += 1
                report.violation("\(name): untyped error \(type(of: error)): \(error)")
            }
            _ = try await sdk.collection(collection).getAll()
            await sdk.close()
            try await check(name, file, expectLocal: nil)
        }

        // A server whose pull never ends (hasMore forever, same cursor): the sync must stop.
        do {
            cases += 1
            let endless = try await client(directory, "endless", transport: ScriptedTransport(pull: { _ in
                HTTPResponse(status: 200, body: page([record("p1")], hasMore: true, cursor: "\"1\""))
            }))
            do {
                try await withTimeout(.seconds(15)) { try await endless.syncNow() }
            } catch is SyncError {
            } catch is TimeoutError {
                hung += 1
                report.violation("hasMore forever with the same cursor: sync did not end within 15 s")
            } catch {
                untyped += 1
                report.violation("hasMore forever: untyped error \(error)")
            }
            await endless.close()
        }

        // Push answers that break the protocol: the op stays queued.
        var lostOps = 0
        for (index, (name, status, body)) in hostilePushes.enumerated() {
            report.doing("hostile push answer: \(name)")
            cases += 1
            let file = "push-\(index)"
            let sdk = try await client(directory, file, transport: ScriptedTransport(
                pull: { _ in HTTPResponse(status: 200, body: page([])) },
                push: { request in
                    // Echo the real op id where the script says OPID.
                    let opID = (try? JSONSerialization.jsonObject(with: request.body ?? Data()) as? [String: Any])
                        .flatMap { ($0["operations"] as? [[String: Any]])?.first?["opId"] as? String } ?? "none"
                    return HTTPResponse(status: status, body: Data(body.replacingOccurrences(of: "OPID", with: opID).utf8))
                }))
            try await sdk.collection(collection).save(["keep": true], id: "keep")
            do {
                try await withTimeout(.seconds(10)) { try await sdk.syncNow() }
            } catch is SyncError {
            } catch is TimeoutError {
                hung += 1
                report.violation("push \(name): sync did not end within 10 s")
            } catch {
                untyped += 1
                report.violation("push \(name): untyped error \(error)")
            }
            let counts = try await sdk.outboxCounts()
            if counts.pending + counts.failed != 1 {
                lostOps += 1
                report.violation("push \(name): op no longer queued (\(counts)) after a malformed answer")
            }
            await sdk.close()
            try await check("push \(name)", file, expectLocal: ["keep"])
        }

        // Hostile names through the public API.
        let names = [#"a"b"#, "a'b", "a`b", "[x]", "x;DROP TABLE sl_documents;--", "sqlite_schema", "sl_outbox", "sl_meta",
                     "", String(repeating: "n", count: 10_000), "a\u{0}b", "$.a", "a.b", "\u{202E}rtl", "a b", "*", "%", "_"]
        var nameCases = 0
        var acceptedCollectionNames = 0
        let sdk = try await client(directory, "names", transport: ScriptedTransport(pull: { _ in HTTPResponse(status: 503) }))
        let todos = sdk.collection(collection)
        try await todos.save(["keep": true], id: "keep")
        for name in names {
            // As a collection name in the configuration.
            nameCases += 1
            do {
                let other = try await SyncLayer(config: SyncConfig(collections: [name], storage: .inMemory))
                acceptedCollectionNames += 1
                _ = try? await other.collection(name).save(["x": 1], id: "x")
                await other.close()
            } catch is SyncLayerError {
            } catch {
                untyped += 1
                report.violation("collection name \(name.debugDescription.prefix(40)): untyped error \(error)")
            }
            // As an id: saved and read back unchanged, or refused with a typed error.
            nameCases += 1
            do {
                try await todos.save(["id": .string(name)], id: name)
                let back = try await todos.get(name)
                if back?["id"] != .string(name) { report.violation("id \(name.debugDescription.prefix(40)) read back \(String(describing: back?.data))") }
            } catch is SyncLayerError {
            } catch {
                untyped += 1
                report.violation("id \(name.debugDescription.prefix(40)): untyped error \(error)")
            }
            // As a field name: in data, update, where and orderBy.
            nameCases += 4
            do {
                try await todos.save([name: "value", "marker": true], id: "field-holder")
                try await todos.update("field-holder", [name: "changed"])
            } catch is SyncLayerError {
            } catch {
                untyped += 1
                report.violation("field \(name.debugDescription.prefix(40)) in a write: untyped error \(error)")
            }
            do {
                let matches = try await todos.where(name, isEqualTo: "changed").get()
                if matches.contains(where: { $0.id != "field-holder" }) {
                    report.violation("where on field \(name.debugDescription.prefix(40)) matched other documents")
                }
                _ = try await todos.orderBy(name).get()
            } catch is SyncLayerError {
            } catch {
                untyped += 1
                report.violation("field \(name.debugDescription.prefix(40)) in a query: untyped error \(error)")
            }
        }
        await sdk.close()
        try await check("hostile names", "names", expectLocal: nil)

        report.set("malformed server answers (pull, push, endless)", cases)
        report.set("hostile names × APIs", nameCases)
        report.set("crashes", 0)
        report.set("partially applied pages", partial)
        report.set("ops lost to malformed push answers", lostOps)
        report.set("schema changes", SQLiteShell.isAvailable ? "\(schemaChanges)" : "not checked (no sqlite3 shell)")
        report.set("untyped errors", untyped)
        report.set("syncs that never ended", hung)
        report.set("hostile collection names accepted", "\(acceptedCollectionNames)/\(names.count)")
    }
}
