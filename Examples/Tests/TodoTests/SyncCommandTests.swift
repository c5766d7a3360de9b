import Foundation
import SyncLayer
import SyncServer
import enum SyncLayer.JSONValue
import Testing
@testable import TodoCore

/// The commands with a server: the reference server in this process, on a free loopback port.
@Suite struct SyncCommandTests {
    @Test func twoDevicesConvergeThroughTheServer() async throws {
        let server = try await TestServer()
        let laptop = Device(name: "laptop", server: server)
        let phone = Device(name: "phone", server: server)

        let added = await laptop(["add", "Buy milk"])
        #expect(added.status == 0, "\(added.error)")
        #expect(!added.output.contains("↑"))  // pushed at once: no pending marker
        let onPhone = await phone(["list", "--json"])
        #expect(onPhone.status == 0, "\(onPhone.error)")
        #expect(onPhone.json?["todos"]?.arrayValue?.first?["text"] == "Buy milk")
        #expect(onPhone.json?["todos"]?.arrayValue?.first?["syncState"] == "synced")
        #expect(onPhone.json?["sync"]?["state"] == "synced")

        let id = try await phone.id(of: "Buy milk")
        #expect(await phone(["done", String(id.prefix(8))]).status == 0)
        #expect(await laptop(["list", "--all"]).output.contains("[x] Buy milk"))
        #expect(await laptop(["rm", id]).status == 0)
        #expect(await phone(["list", "--all", "--json"]).json?["todos"]?.arrayValue?.isEmpty == true)
        await server.stop()
    }

    @Test func syncReportsWhatMoved() async throws {
        let server = try await TestServer()
        let laptop = Device(name: "laptop", server: server)
        let phone = Device(name: "phone", server: server)
        for text in ["one", "two", "three"] { _ = await laptop(["add", text, "--offline"]) }
        let pushed = await laptop(["sync", "--json"])
        #expect(pushed.status == 0, "\(pushed.error)")
        #expect(pushed.json?["pushed"] == 3)
        #expect(pushed.json?["pending"] == 0)
        #expect(pushed.json?["rejected"]?.arrayValue?.isEmpty == true)
        #expect(pushed.json?["server"]?.stringValue == server.url)

        let pulled = await phone(["sync"])
        #expect(pulled.status == 0, "\(pulled.error)")
        #expect(pulled.output.contains("synced with \(server.url): pushed 0, pulled 3, 0 conflicts resolved"))
        await server.stop()
    }

    @Test func theProgressLineCountsPushedAndPulledChangesAndIsClearedAtTheEnd() async throws {
        let server = try await TestServer()
        let laptop = Device(name: "laptop", server: server)
        let phone = Device(name: "phone", server: server)
        try await laptop.queue(300, named: "laptop")
        #expect(await laptop(["sync"]).status == 0)
        try await phone.queue(200, named: "phone")

        let run = await phone(["sync"], terminal: true)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("pushed 200, pulled 300,"))
        let clear = "\r\u{1B}[2K"
        #expect(run.error.hasSuffix(clear))  // nothing is left on the line
        let drawn = run.error.components(separatedBy: clear).filter { !$0.isEmpty }
        #expect(drawn.allSatisfy { $0.hasPrefix("syncing… pushed ") }, "\(drawn)")
        // The pull starts after the push, and its first page is drawn at once.
        #expect(drawn.last == "syncing… pushed 200 of 200, pulled 300", "\(drawn)")
        await server.stop()
    }

    @Test func conflictingEditsResolveByTheChosenStrategy() async throws {
        let server = try await TestServer()
        let laptop = Device(name: "laptop", server: server)
        let phone = Device(name: "phone", server: server)
        _ = await laptop(["add", "Buy milk"])
        _ = await phone(["sync"])
        let id = try await laptop.id(of: "Buy milk")
        #expect(await laptop(["edit", id, "laptop's text"]).status == 0)
        #expect(await phone(["edit", id, "phone's text", "--offline"]).status == 0)
        let sync = await phone(["sync", "--strategy", "serverWins", "--json"])
        #expect(sync.status == 0, "\(sync.error)")
        #expect(sync.json?["conflicts"] == 1)
        #expect(await phone(["list", "--json"]).json?["todos"]?.arrayValue?.first?["text"] == "laptop's text")
        await server.stop()
    }

    @Test func syncWithAnUnreachableServerAndQueuedChangesExits75() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let run = await device(["sync", "--server", deadServer])
        #expect(run.status == 75)
        #expect(run.error.contains("unreachable"))
        #expect(run.error.contains("1 change saved locally and queued"))
    }

    @Test func syncWithAnUnreachableServerAndNothingQueuedExits69() async throws {
        let device = Device()
        let run = await device(["sync", "--server", deadServer])
        #expect(run.status == 69)
        #expect(run.error.contains("unreachable"))
    }

    @Test func aWriteWhileTheServerIsUnreachableIsSavedAndExits75() async throws {
        let device = Device()
        let run = await device(["add", "Buy milk", "--server", deadServer, "--json"])
        #expect(run.status == 75)
        #expect(run.json?["todos"]?.arrayValue?.first?["text"] == "Buy milk")
        #expect(run.json?["sync"] == ["state": "queued", "pending": 1])
        #expect(run.error.contains("todo sync"))
        // Offline by choice is not a failure.
        #expect(await device(["add", "Call mum", "--server", deadServer, "--offline"]).status == 0)
        // Reading works offline, with a warning.
        let list = await device(["list", "--server", deadServer])
        #expect(list.status == 0)
        #expect(list.output.contains("Buy milk ↑"))
        #expect(list.error.contains("unreachable; showing local data"))
    }

    @Test func aWriteTheServerRejectsExits65AndReportsItRejectedNotQueued() async throws {
        // The server refuses documents over 1 KB for good (DOCUMENT_TOO_LARGE).
        let server = try await TestServer(limits: ServerConfiguration.Limits(document: DocumentLimits(maxBytes: 1024)))
        let device = Device(server: server)
        let run = await device(["add", String(repeating: "x", count: 2000), "--json"])
        #expect(run.status == 65)
        #expect(run.error.contains("the server rejected 1 change"))
        #expect(run.error.contains("DOCUMENT_TOO_LARGE"))
        let sync = try #require(run.json?["sync"])
        #expect(sync["state"] == "rejected")
        #expect(sync["pending"] == 0)
        let rejected = try #require(sync["rejected"]?.arrayValue)
        #expect(rejected.count == 1)
        #expect(rejected.first?["operation"] == "insert")
        #expect(rejected.first?["reason"]?.stringValue?.contains("DOCUMENT_TOO_LARGE") == true)
        let id = try #require(rejected.first?["id"]?.stringValue)

        let human = await device(["add", String(repeating: "y", count: 2000)])
        #expect(human.status == 65)
        #expect(human.error.contains("the server rejected 1 change:\n  insert "))

        let status = await device(["status", "--json"])
        #expect(status.status == 0, "\(status.error)")
        #expect(status.json?["pending"] == 0)
        let listed = try #require(status.json?["rejected"]?.arrayValue)
        #expect(listed.count == 2)
        #expect(listed.first?["id"]?.stringValue == id)
        #expect(listed.first?["reason"]?.stringValue?.contains("DOCUMENT_TOO_LARGE") == true)
        let shown = await device(["status"])
        #expect(shown.output.contains("2 changes refused by the server:"))
        #expect(shown.output.contains("insert \(id.prefix(8)): "))
        await server.stop()
    }

    @Test func queuedChangesArePushedOnceTheServerIsBack() async throws {
        let device = Device()
        _ = await device(["add", "written offline"])
        let server = try await TestServer()
        let online = Device(name: "other", server: server)
        let sync = await device(["sync", "--server", server.url, "--token", TestServer.token])
        #expect(sync.status == 0, "\(sync.error)")
        #expect(await online(["list"]).output.contains("written offline"))
        await server.stop()
    }

    @Test func aRefusedTokenExits77() async throws {
        let server = try await TestServer()
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let run = await device(["sync", "--server", server.url, "--token", "wrong"])
        #expect(run.status == 77)
        #expect(run.error.contains("refused the token"))
        await server.stop()
    }

    @Test func statusShowsQueueServerRealtimeAndTheLastSync() async throws {
        let server = try await TestServer()
        let device = Device(server: server)
        _ = await device(["add", "Buy milk"])
        _ = await device(["add", "queued", "--offline"])
        let run = await device(["status", "--json"])
        #expect(run.status == 0, "\(run.error)")
        let json = try #require(run.json)
        #expect(json["store"]?.stringValue == device.db)
        #expect(json["todos"] == ["open": 2, "done": 0])
        #expect(json["pending"] == 1)
        #expect(json["rejected"]?.arrayValue?.isEmpty == true)
        #expect(json["server"]?["reachable"] == true)
        #expect(json["server"]?["versions"]?.arrayValue?.contains(2) == true)
        #expect(json["realtime"]?["state"] == "available")
        #expect(json["realtime"]?["url"]?.stringValue == server.process.webSocketURL)
        let lastSync = try #require(json["lastSync"]?["at"]?.stringValue.flatMap(Todo.parseDate))
        #expect(abs(lastSync.timeIntervalSinceNow) < 60)
        #expect(await device(["status", "--json"]).json?["pending"] == 1)  // status pushes nothing

        let human = await device(["status"])
        #expect(human.output.contains("1 change not yet pushed"))
        #expect(human.output.contains("reachable"))
        #expect(human.output.contains("available at \(server.process.webSocketURL)"))
        await server.stop()
    }

    @Test func statusWithoutAServerSaysTodosStayLocal() async throws {
        let device = Device()
        let run = await device(["status"])
        #expect(run.status == 0)
        #expect(run.output.contains("todos stay on this machine"))
        #expect(run.output.contains("last sync never"))
        let unreachable = await device(["status", "--server", deadServer, "--json"])
        #expect(unreachable.json?["server"]?["reachable"] == false)
        #expect(unreachable.json?["realtime"]?["state"] == "unavailable")
    }
}
