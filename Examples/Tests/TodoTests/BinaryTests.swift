import Foundation
import SyncLayer
import enum SyncLayer.JSONValue
import Testing
@testable import TodoCore

/// The built `todo` binary, run as a child process: exit codes, streams, signals, the default store.
@Suite struct BinaryTests {
    @Test func addAndListRoundTripWithJSON() async throws {
        let device = Device()
        let environment = ["TODO_DB": device.db]
        let added = try await runBinary(["add", "Buy milk", "--json"], environment: environment)
        #expect(added.status == 0, "\(added.error)")
        #expect(added.json?["action"] == "added")
        let listed = try await runBinary(["list", "--json"], environment: environment)
        #expect(listed.status == 0)
        #expect(listed.json?["todos"]?.arrayValue?.first?["text"] == "Buy milk")
        #expect(listed.error.isEmpty)
    }

    @Test func usageErrorsGoToStderrWithStatus64() async throws {
        let run = try await runBinary(["add"], environment: [:])
        #expect(run.status == 64)
        #expect(run.output.isEmpty)
        #expect(run.error.contains("Missing the todo's text"))
        #expect(run.error.contains("Usage: todo add"))
    }

    @Test func anUnknownIDExits65() async throws {
        let device = Device()
        let run = try await runBinary(["done", "nope"], environment: ["TODO_DB": device.db])
        #expect(run.status == 65)
        #expect(run.error.contains("todo: error: no todo has id nope"))
    }

    @Test func offlineWithQueuedChangesExits75() async throws {
        let device = Device()
        let environment = ["TODO_DB": device.db, "SYNCLAYER_SERVER": deadServer]
        let added = try await runBinary(["add", "Buy milk"], environment: environment)
        #expect(added.status == 75)
        #expect(added.output.contains("Buy milk ↑"))
        let sync = try await runBinary(["sync"], environment: environment)
        #expect(sync.status == 75)
        #expect(sync.error.contains("1 change saved locally and queued"))
    }

    @Test func theDefaultStoreLivesInXDG_DATA_HOME() async throws {
        let home = TemporaryDirectory()
        let environment = ["HOME": home.path("home"), "XDG_DATA_HOME": home.path("data")]
        let run = try await runBinary(["add", "Buy milk"], environment: environment)
        #expect(run.status == 0, "\(run.error)")
        #expect(FileManager.default.fileExists(atPath: home.path("data/synclayer/synclayer.sqlite")))
        let status = try await runBinary(["status", "--json"], environment: environment)
        #expect(status.json?["store"]?.stringValue == home.path("data/synclayer/synclayer.sqlite"))
    }

    @Test func watchExitsZeroOnCtrlC() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let watch = try Subprocess(["watch"], environment: ["TODO_DB": device.db])
        #expect(await watch.waitForOutput(containing: "Buy milk"))
        watch.interrupt()
        #expect(await watch.exitStatus() == 0)
        #expect(watch.error.isEmpty)
    }

    @Test func serveSyncsTwoClientsAndStopsOnCtrlC() async throws {
        let data = TemporaryDirectory()
        let serve = try Subprocess(["serve", "--port", "0", "--json", "--token", "t0ken", "--data", data.path("server.sqlite")],
                                   environment: [:])
        #expect(await serve.waitForOutput(containing: "\n"), "\(serve.error)")
        let announcement = try #require(try? JSONDecoder().decode(JSONValue.self, from: Data(serve.output.utf8)))
        let url = try #require(announcement["url"]?.stringValue)
        #expect(announcement["websocket"]?.stringValue?.hasPrefix("ws://127.0.0.1:") == true)

        let laptop = Device(name: "laptop")
        let phone = Device(name: "phone")
        let environment = ["SYNCLAYER_SERVER": url, "SYNCLAYER_TOKEN": "t0ken"]
        let added = try await runBinary(["add", "Buy milk"], environment: environment.merging(["TODO_DB": laptop.db]) { $1 })
        #expect(added.status == 0, "\(added.error)")
        let listed = try await runBinary(["list"], environment: environment.merging(["TODO_DB": phone.db]) { $1 })
        #expect(listed.output.contains("[ ] Buy milk"))
        #expect(!listed.output.contains("↑"))

        serve.interrupt()
        #expect(await serve.exitStatus() == 0)
        #expect(FileManager.default.fileExists(atPath: data.path("server.sqlite")))
    }

    @Test func serveOnABusyPortExits69() async throws {
        let server = try await TestServer()
        let port = try #require(URL(string: server.url)?.port)
        let run = try await runBinary(["serve", "--port", String(port)], environment: [:])
        #expect(run.status == 69)
        #expect(run.error.contains("cannot start the server"))
        await server.stop()
    }
}
