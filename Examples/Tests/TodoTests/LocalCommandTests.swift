import Foundation
import SyncLayer
import enum SyncLayer.JSONValue
import Testing
@testable import TodoCore

/// The commands on a local store, no server: run in-process with a captured console.
@Suite struct LocalCommandTests {
    @Test func addThenListShowsTheTodoWithItsShortID() async throws {
        let device = Device()
        let added = await device(["add", "Buy", "milk"])
        #expect(added.status == 0, "\(added.error)")
        #expect(added.output.contains("Buy milk"))
        let id = try await device.id(of: "Buy milk")
        let listed = await device(["list"])
        #expect(listed.status == 0)
        #expect(listed.output == "\(id.prefix(8))  [ ] Buy milk ↑\n")  // pending: there is no server
        #expect(listed.error.isEmpty)
    }

    @Test func listJSONFollowsItsSchema() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        _ = await device(["add", "Call mum"])
        let run = await device(["list", "--json"])
        #expect(run.status == 0)
        let json = try #require(run.json)
        #expect(json["version"] == 1)
        #expect(json["sync"] == ["state": "local", "pending": 2])
        let todos = try #require(json["todos"]?.arrayValue)
        #expect(todos.map { $0["text"] } == ["Buy milk", "Call mum"])  // oldest first
        for todo in todos {
            let keys: Set<String> = Set(todo.objectValue?.keys.map { $0 } ?? [])
            #expect(keys == ["id", "shortId", "text", "done", "createdAt", "syncState"])
            #expect(todo["done"] == false)
            #expect(todo["syncState"] == "pending")
            #expect(todo["shortId"]?.stringValue == todo["id"]?.stringValue.map { String($0.prefix(8)) })
            #expect(todo["createdAt"]?.stringValue.flatMap(Todo.parseDate) != nil)
        }
    }

    @Test func todoWithoutASubcommandLists() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let run = await device([])
        #expect(run.status == 0)
        #expect(run.output.contains("[ ] Buy milk"))
    }

    @Test func doneHidesATodoUntilListAllAndUndoBringsItBack() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        _ = await device(["add", "Call mum"])
        let id = try await device.id(of: "Buy milk")
        let done = await device(["done", String(id.prefix(4))])
        #expect(done.status == 0, "\(done.error)")
        #expect(done.output.contains("[x] Buy milk"))
        #expect(await !device(["list"]).output.contains("Buy milk"))
        #expect(await device(["list", "--all"]).output.contains("[x] Buy milk"))
        let again = await device(["done", id])
        #expect(again.status == 0)
        #expect(again.error.contains("already done"))
        let undo = await device(["undo", id])
        #expect(undo.status == 0)
        #expect(await device(["list"]).output.contains("[ ] Buy milk"))
    }

    @Test func editChangesOnlyTheText() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let id = try await device.id(of: "Buy milk")
        _ = await device(["done", id])
        let run = await device(["edit", String(id.prefix(6)), "Buy", "oat", "milk", "--json"])
        #expect(run.status == 0, "\(run.error)")
        let todo = try #require(run.json?["todos"]?.arrayValue?.first)
        #expect(todo["text"] == "Buy oat milk")
        #expect(todo["done"] == true)
        #expect(run.json?["action"] == "edited")
    }

    @Test func rmDeletesSeveralTodosAtOnce() async throws {
        let device = Device()
        for text in ["one", "two", "three"] { _ = await device(["add", text]) }
        let one = try await device.id(of: "one")
        let three = try await device.id(of: "three")
        let run = await device(["rm", one, String(three.prefix(5))])
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("removed"))
        let left = await device(["list", "--all", "--json"]).json?["todos"]?.arrayValue?.map { $0["text"] }
        #expect(left == ["two"])
    }

    @Test func anUnknownIDIsADataErrorAndChangesNothing() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let id = try await device.id(of: "Buy milk")
        let run = await device(["done", id, "zzzz"])
        #expect(run.status == 65)
        #expect(run.error.contains("no todo has id zzzz"))
        #expect(run.output.isEmpty)
        #expect(await device(["list"]).output.contains("[ ] Buy milk"))  // the valid id was not applied either
    }

    @Test func anAmbiguousPrefixListsTheCandidates() async throws {
        let device = Device()
        let sync = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(device.db)))
        let todos = sync.collection("todos")
        for (id, text) in [("abc12345-1", "first"), ("abc12345-2", "second"), ("abd00000-3", "third")] {
            try await todos.save(["text": .string(text), "done": false, "createdAt": .string(Todo.formatDate(Date()))], id: id)
        }
        await sync.close()

        let ambiguous = await device(["done", "abc"])
        #expect(ambiguous.status == 65)
        #expect(ambiguous.error.contains("ambiguous"))
        #expect(ambiguous.error.contains("abc12345-1  first"))
        #expect(ambiguous.error.contains("abc12345-2  second"))
        #expect(!ambiguous.error.contains("third"))

        let unique = await device(["done", "ABD"])  // case-insensitive
        #expect(unique.status == 0, "\(unique.error)")
        // Ids that share 8 characters are shown with as many as needed to tell them apart.
        #expect(await device(["list"]).output.contains("abc12345-1  [ ] first"))
    }

    @Test func documentsFromOtherAppsAreListedWithoutCrashing() async throws {
        let device = Device()
        let sync = try await SyncLayer(config: SyncConfig(collections: ["todos"], storage: .file(device.db)))
        try await sync.collection("todos").save(["title": "not a todo"], id: "foreign")
        await sync.close()
        let run = await device(["list", "--json"])
        #expect(run.status == 0)
        #expect(run.json?["todos"]?.arrayValue?.first?["text"] == "")
        #expect(run.json?["todos"]?.arrayValue?.first?["createdAt"]?.isNull == true)
    }

    @Test func theDatabaseComesFromDbOrTODO_DB() async throws {
        let directory = TemporaryDirectory()
        let explicit = directory.path("nested/folder/explicit.sqlite")
        #expect(await todo(["add", "via --db", "--db", explicit]).status == 0)
        #expect(FileManager.default.fileExists(atPath: explicit))
        let fromEnvironment = directory.path("env.sqlite")
        #expect(await todo(["add", "via TODO_DB"], environment: ["TODO_DB": fromEnvironment]).status == 0)
        #expect(await todo(["list"], environment: ["TODO_DB": fromEnvironment]).output.contains("via TODO_DB"))
        #expect(await !todo(["list"], environment: ["TODO_DB": fromEnvironment]).output.contains("via --db"))
    }

    @Test(arguments: [
        ["frobnicate"], ["add"], ["add", "   "], ["done"], ["undo"], ["rm"], ["edit", "abc"], ["list", "--bogus"],
        ["add", "x", "--server", "not a url"], ["add", "x", "--server", "ftp://example.com"], ["demo", "--strategy", "nope"],
        ["demo", "--timeout", "0"], ["serve", "--port", "70000"], ["list", "--db", "/"],
    ])
    func badArgumentsAreUsageErrors(_ arguments: [String]) async throws {
        let device = Device()
        let run = await todo(arguments, environment: ["TODO_DB": device.db])
        #expect(run.status == 64, "\(arguments): \(run.error)")
        #expect(!run.error.isEmpty)
        #expect(run.output.isEmpty)
    }

    @Test func syncWithoutAServerIsAUsageErrorWithAHint() async throws {
        let device = Device()
        let run = await device(["sync"])
        #expect(run.status == 64)
        #expect(run.error.contains("todo sync needs a server"))
        #expect(run.error.contains("--server"))
    }

    @Test(arguments: [[], ["add"], ["list"], ["done"], ["undo"], ["edit"], ["rm"], ["watch"], ["sync"], ["status"], ["serve"], ["demo"]])
    func helpIsAvailableEverywhereWithExamples(_ command: [String]) async throws {
        let run = await todo(command + ["--help"])
        #expect(run.status == 0)
        #expect(run.output.contains("USAGE: todo"))
        #expect(run.output.contains(command.isEmpty ? "EXIT STATUS" : "EXAMPLES"))
        #expect(run.error.isEmpty)
    }

    @Test func versionIsPrinted() async throws {
        let run = await todo(["--version"])
        #expect(run.status == 0)
        #expect(run.output == "0.1.0\n")
    }

    @Test func noColourWithoutATerminalOrWithNO_COLOR() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let piped = await device(["list"])
        #expect(!piped.output.contains("\u{1B}["))
        let (console, captured) = Console.capturing(terminal: true)
        _ = await TodoCLI.run(["list"], context: TodoContext(console: console, environment: ["TODO_DB": device.db]))
        #expect(captured.output.contains("\u{1B}["))
        let (plainConsole, plain) = Console.capturing(terminal: true)
        _ = await TodoCLI.run(["list"], context: TodoContext(console: plainConsole, environment: ["TODO_DB": device.db, "NO_COLOR": "1"]))
        #expect(!plain.output.contains("\u{1B}["))
        #expect(plain.output.contains("Buy milk"))
    }

    @Test func FORCE_COLORColoursAPipeButNeverOverridesNO_COLOR() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let forced = await device(["list"], environment: ["FORCE_COLOR": "1"])
        #expect(forced.output.contains("\u{1B}["))
        let both = await device(["list"], environment: ["FORCE_COLOR": "1", "NO_COLOR": "1"])
        #expect(!both.output.contains("\u{1B}["))
        #expect(both.output.contains("Buy milk"))
    }
}
