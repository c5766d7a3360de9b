import Foundation
import SyncLayer
import enum SyncLayer.JSONValue
import Testing
@testable import TodoCore

/// A `todo watch` running in this process until cancelled.
struct RunningWatch {
    let captured: CapturedOutput
    let task: Task<Int32, Never>

    init(_ arguments: [String], environment: [String: String]) {
        let (console, captured) = Console.capturing()
        self.captured = captured
        task = Task { await TodoCLI.run(["watch"] + arguments, context: TodoContext(console: console, environment: environment)) }
    }

    /// The last NDJSON frame.
    var lastFrame: JSONValue? {
        captured.output.split(separator: "\n").last.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    }

    var texts: [String] { lastFrame?["todos"]?.arrayValue?.compactMap { $0["text"]?.stringValue } ?? [] }

    /// Cancels it (Ctrl-C in the binary) and returns its exit status.
    func stop() async -> Int32 {
        task.cancel()
        return await task.value
    }
}

@Suite struct WatchTests {
    @Test func watchRedrawsWhenAnotherDeviceChangesTheListAndStopsCleanly() async throws {
        let server = try await TestServer()
        let watcher = Device(name: "watcher", server: server)
        let phone = Device(name: "phone", server: server)
        _ = await watcher(["add", "first"])
        let watch = RunningWatch(["--json"], environment: [
            "TODO_DB": watcher.db, "SYNCLAYER_SERVER": server.url, "SYNCLAYER_TOKEN": TestServer.token,
        ])
        #expect(await eventually { watch.lastFrame?["sync"]?["realtime"] == "connected" }, "\(watch.captured.error)")
        #expect(watch.lastFrame?["version"] == 1)
        #expect(watch.lastFrame?["sync"]?["state"] == "live")
        #expect(watch.texts == ["first"])

        _ = await phone(["add", "from the phone"])
        #expect(await eventually { watch.texts == ["first", "from the phone"] })
        let id = try await phone.id(of: "first")
        _ = await phone(["done", id])
        #expect(await eventually { watch.texts == ["from the phone"] })  // done todos are hidden without --all

        #expect(await watch.stop() == 0)
        #expect(watch.captured.error.isEmpty)
        await server.stop()
    }

    @Test func watchSeesAnotherTodoProcessWritingTheSameStore() async throws {
        let device = Device()
        let watch = RunningWatch(["--json", "--all"], environment: ["TODO_DB": device.db])
        #expect(await eventually { watch.lastFrame?["sync"]?["state"] == "local" })
        let added = try await runBinary(["add", "from another process"], environment: ["TODO_DB": device.db])
        #expect(added.status == 0, "\(added.error)")
        #expect(await eventually { watch.texts == ["from another process"] })
        #expect(await watch.stop() == 0)
    }

    @Test func watchWithTheServerDownShowsLocalDataAndSaysOffline() async throws {
        let device = Device()
        _ = await device(["add", "queued"])
        let watch = RunningWatch(["--json"], environment: ["TODO_DB": device.db, "SYNCLAYER_SERVER": deadServer])
        #expect(await eventually { watch.lastFrame?["sync"]?["state"] == "offline" })
        #expect(watch.texts == ["queued"])
        #expect(watch.lastFrame?["sync"]?["pending"] == 1)
        #expect(watch.captured.error.contains("unreachable"))
        #expect(await watch.stop() == 0)
    }

    @Test func humanFramesArePrintedAsBlocksWhenNotATerminal() async throws {
        let device = Device()
        _ = await device(["add", "Buy milk"])
        let watch = RunningWatch([], environment: ["TODO_DB": device.db])
        #expect(await eventually { watch.captured.output.contains("todo watch · 1 open · local only") })
        #expect(watch.captured.output.contains("[ ] Buy milk"))
        #expect(!watch.captured.output.contains("\u{1B}[2J"))  // no screen clearing into a pipe
        #expect(await watch.stop() == 0)
    }
}

/// The demo, in-process and as the binary. Serialized: it checks that no demo folder is left in
/// the temporary directory.
@Suite(.serialized) struct DemoTests {
    static func demoFolders() -> Set<String> {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)) ?? []
        return Set(entries.filter { $0.hasPrefix("todo-demo-") })
    }

    @Test(arguments: StrategyOption.allCases)
    func demoObservesEveryStepAndLeavesNothingBehind(_ strategy: StrategyOption) async throws {
        let before = Self.demoFolders()
        let run = await todo(["demo", "--strategy", strategy.rawValue])
        #expect(run.status == 0, "\(run.output)\n\(run.error)")
        #expect(run.output.contains("All 6 steps observed"))
        #expect(run.output.contains("converged (\(strategy.rawValue))"))
        #expect(run.output.components(separatedBy: "✓").count - 1 == 6)
        #expect(Self.demoFolders() == before)
    }

    @Test func demoJSONIsOneRecordPerEvent() async throws {
        let run = await todo(["demo", "--json", "--strategy", "merge"])
        #expect(run.status == 0, "\(run.error)")
        let records = run.records
        #expect(records.first?["event"] == "start")
        #expect(records.first?["strategy"] == "merge")
        #expect(records.filter { $0["event"] == "step" }.count == 6)
        #expect(records.filter { $0["event"] == "step" }.allSatisfy { $0["ms"]?.intValue != nil })
        #expect(records.last?["event"] == "done")
        #expect(records.last?["steps"] == 6)
    }

    @Test func demoFailsClearlyWhenAStepIsNotObservedInTime() async throws {
        let before = Self.demoFolders()
        let run = await todo(["demo", "--timeout", "0.001"])
        #expect(run.status == 1)
        #expect(run.output.contains("✗"))
        #expect(run.error.contains("demo failed:"))
        #expect(run.error.contains("within 0.001 s"))
        #expect(Self.demoFolders() == before)
    }

    @Test func theBinaryRunsTheDemoWithNoArguments() async throws {
        let before = Self.demoFolders()
        let run = try await runBinary(["demo"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(run.status == 0, "\(run.output)\n\(run.error)")
        #expect(run.output.contains("All 6 steps observed"))
        #expect(!run.output.contains("\u{1B}["))  // not a terminal: no colour
        #expect(Self.demoFolders() == before)
    }
}
