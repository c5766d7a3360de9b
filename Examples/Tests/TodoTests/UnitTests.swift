import Foundation
import SyncLayer
import enum SyncLayer.JSONValue
import Testing
@testable import TodoCore

@Suite struct StyleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var terminal: Bool
        var environment: [String: String]
        var flag = false
        var colour: Bool
        var testDescription: String { "terminal=\(terminal) \(environment) flag=\(flag) → \(colour)" }
    }

    @Test(arguments: [
        Case(terminal: true, environment: [:], colour: true),
        Case(terminal: false, environment: [:], colour: false),
        Case(terminal: true, environment: ["NO_COLOR": "1"], colour: false),
        Case(terminal: true, environment: ["NO_COLOR": "anything"], colour: false),
        Case(terminal: true, environment: ["NO_COLOR": ""], colour: true),  // present but empty: ignored
        Case(terminal: true, environment: ["TERM": "dumb"], colour: false),
        Case(terminal: true, environment: [:], flag: true, colour: false),
        Case(terminal: false, environment: ["FORCE_COLOR": "1"], colour: true),
        Case(terminal: true, environment: ["FORCE_COLOR": "1", "NO_COLOR": "1"], colour: false),  // NO_COLOR wins
        Case(terminal: false, environment: ["FORCE_COLOR": "1", "NO_COLOR": "1"], colour: false),
        Case(terminal: false, environment: ["FORCE_COLOR": "1", "NO_COLOR": ""], colour: true),
        Case(terminal: true, environment: ["FORCE_COLOR": "1", "TERM": "dumb"], colour: true),
        Case(terminal: false, environment: ["FORCE_COLOR": "0"], colour: false),
        Case(terminal: false, environment: ["FORCE_COLOR": "1"], flag: true, colour: false),
    ])
    func colourFollowsTerminalNO_COLORAndTheFlag(_ test: Case) {
        #expect(Style.colorEnabled(isTerminal: test.terminal, environment: test.environment, noColorFlag: test.flag) == test.colour)
    }

    @Test func disabledStyleLeavesTextAlone() {
        #expect(Style(enabled: false).red("x") == "x")
        #expect(Style(enabled: true).red("x") == "\u{1B}[31mx\u{1B}[0m")
        #expect(Style(enabled: true).red("") == "")
    }
}

@Suite struct ShortIDTests {
    @Test func displayLengthIsEightUnlessIDsShareMore() {
        #expect(ShortID.length(for: []) == 8)
        #expect(ShortID.length(for: ["a1b2c3d4-x", "ffffffff-y"]) == 8)
        #expect(ShortID.length(for: ["a1b2c3d4e5-x", "A1B2C3D4E6-y"]) == 10)
    }

    static let todos = [
        Todo(id: "abc12345-1", text: "first"), Todo(id: "abc12345-2", text: "second"), Todo(id: "abd00000-3", text: "third"),
        Todo(id: "abc", text: "short"),
    ]

    @Test(arguments: [("abd", "third"), ("ABD0", "third"), ("abc12345-2", "second"), ("abc", "short")])
    func aUniquePrefixOrAnExactIDResolves(_ input: String, _ text: String) throws {
        #expect(try ShortID.resolve(input, among: Self.todos).text == text)
    }

    @Test func anAmbiguousPrefixIsADataErrorNamingTheCandidates() {
        #expect {
            try ShortID.resolve("abc1", among: Self.todos)
        } throws: { error in
            guard let error = error as? TodoError else { return false }
            return error.status == .dataError && error.message.contains("abc12345-1  first") && error.message.contains("abc12345-2  second")
        }
    }

    @Test func anUnknownIDIsADataError() {
        #expect {
            try ShortID.resolve("zz", among: Self.todos)
        } throws: { error in
            (error as? TodoError)?.status == .dataError
        }
    }
}

@Suite struct TodoModelTests {
    @Test func datesRoundTripWithMillisecondsAndSortAsText() throws {
        let earlier = Date(timeIntervalSince1970: 1_700_000_000.125)  // exact in binary
        let later = earlier.addingTimeInterval(0.001)
        let text = Todo.formatDate(earlier)
        #expect(text == "2023-11-14T22:13:20.125Z")
        #expect(try #require(Todo.parseDate(text)).timeIntervalSince1970 == 1_700_000_000.125)
        #expect(Todo.formatDate(earlier) < Todo.formatDate(later))
        #expect(Todo.parseDate("2023-11-14T22:13:20Z") != nil)
    }

    @Test func aDocumentBecomesATodo() {
        let document = Document(id: "x", data: ["text": "Buy milk", "done": true, "createdAt": "2023-11-14T22:13:20.123Z"],
                                syncState: .synced)
        let todo = Todo(document)
        #expect(todo.text == "Buy milk")
        #expect(todo.done)
        #expect(todo.syncState == .synced)
        #expect(todo.data == document.data)
    }

    @Test func rowsShowTheSyncMarker() {
        let style = Style(enabled: false)
        #expect(TodoRendering.row(Todo(id: "a1b2c3d4e5", text: "Buy milk", syncState: .pending), idLength: 8, style: style)
            == "a1b2c3d4  [ ] Buy milk ↑")
        #expect(TodoRendering.row(Todo(id: "a1b2c3d4e5", text: "Buy milk", done: true, syncState: .synced), idLength: 8, style: style)
            == "a1b2c3d4  [x] Buy milk")
        #expect(TodoRendering.row(Todo(id: "a1b2c3d4e5", text: "Buy milk", syncState: .rejected), idLength: 8, style: style)
            == "a1b2c3d4  [ ] Buy milk !")
    }
}

@Suite struct ServerProbeTests {
    @Test(arguments: [
        ("http://127.0.0.1:8080", "/ws", "ws://127.0.0.1:8080/ws"),
        ("https://sync.example.com/", "/ws", "wss://sync.example.com/ws"),
        ("https://example.com/api/", "realtime", "wss://example.com/api/realtime"),
        ("http://example.com", "wss://rt.example.com/socket", "wss://rt.example.com/socket"),
    ])
    func theAdvertisedEndpointBecomesAWebSocketURL(_ base: String, _ endpoint: String, _ expected: String) throws {
        let url = ServerProbe.webSocketURL(base: try #require(URL(string: base)), endpoint: endpoint)
        #expect(url?.absoluteString == expected)
    }

    @Test func anUnreachableServerIsReportedNotThrown() async throws {
        let probe = await ServerProbe.probe(ServerSettings(url: try #require(URL(string: deadServer)), token: nil, strategy: .merge))
        #expect(!probe.reachable)
        #expect(probe.failure != nil)
    }
}

@Suite struct DeadlineTests {
    @Test func returnsTheResultWhenInTime() async throws {
        #expect(try await withDeadline(.seconds(5)) { 42 } == 42)
    }

    // Returning at all proves it: the gate opens only after. The time limit turns a hang into a
    // failure; a wall-clock bound failed on a loaded machine.
    @Test(.timeLimit(.minutes(1)))
    func returnsNilAtTheDeadlineEvenIfTheOperationIgnoresCancellation() async throws {
        let gate = Gate()
        let result = try await withDeadline(.milliseconds(50)) {
            await gate.wait()  // not opened until withDeadline returned; ignores cancellation
            return 1
        }
        #expect(result == nil)
        await gate.open()
    }

    @Test func rethrowsTheOperationsError() async {
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await withDeadline(.seconds(5)) { throw Boom() } }
    }

    @Test func firstElementStopsIteratingWhenFound() async throws {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        for value in 1...5 { continuation.yield(value) }
        #expect(try await firstElement(of: stream, within: .seconds(5)) { $0 == 3 } == 3)
        let (empty, _) = AsyncStream<Int>.makeStream()
        #expect(try await firstElement(of: empty, within: .milliseconds(20)) { _ in true } == nil)
    }

    /// A continuation parked until `open()`, deaf to cancellation.
    actor Gate {
        private var waiters: [CheckedContinuation<Void, Never>] = []
        private var isOpen = false
        func wait() async {
            if isOpen { return }
            await withCheckedContinuation { waiters.append($0) }
        }
        func open() {
            isOpen = true
            for waiter in waiters { waiter.resume() }
            waiters.removeAll()
        }
    }
}

@Suite struct DemoScenarioTests {
    @Test func theFourStrategiesGiveFourDifferentResults() {
        let outcomes = [ConflictStrategy.lastWriteWins, .serverWins, .clientWins, .merge].map { DemoScenario.expected($0) }
        let distinct = Set(outcomes.map { "\($0.milk.text)|\($0.milk.done)|\($0.mum.text)|\($0.mum.done)" })
        #expect(distinct.count == 4)
    }

    @Test func editsAlternateDevicesSoEachStrategyHasSomethingToDecide() {
        #expect(DemoScenario.edits.map(\.device) == [.laptop, .phone, .phone, .laptop, .phone])
    }
}
