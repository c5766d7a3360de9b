// sync-torture: the reliability harness of issue 8 (doc/RELIABILITY.md).
//
//   sync-torture [--short|--long] [--seed N] [--seeds N] [--only kill,acks,…] [--deadline SECONDS] [--json]
//
// Prints figures per scenario and exits 1 when any invariant is violated or a scenario overruns
// its deadline (the watchdog: 4 minutes per scenario in short mode, 45 in long mode).
import Foundation

struct Options {
    var long = false
    var seed: UInt64 = 1
    var only: Set<String>?
    var json = false
    var verbose = false
    /// Per scenario; nil: the mode's default.
    var deadline: Duration?
    /// How many seeds the seeded scenarios run (nil: the mode's count); `--seeds 1` replays one.
    var seeds: Int?

    static let scenarios = ["kill", "acks", "fuzz", "realtime", "server", "contract", "hostile", "wshostile", "storage",
                            "security"]

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--short": long = false
            case "--long": long = true
            case "--json": json = true
            case "--verbose": verbose = true
            case "--seed":
                guard let value = iterator.next().flatMap(UInt64.init) else { throw UsageError("--seed needs a number") }
                seed = value
            case "--deadline":
                guard let value = iterator.next().flatMap(Double.init), value > 0 else { throw UsageError("--deadline needs seconds") }
                deadline = .milliseconds(Int(value * 1000))
            case "--seeds":
                guard let value = iterator.next().flatMap(Int.init), value > 0 else { throw UsageError("--seeds needs a count") }
                seeds = value
            case "--only":
                guard let value = iterator.next() else { throw UsageError("--only needs a list") }
                let names = Set(value.split(separator: ",").map(String.init))
                if let unknown = names.subtracting(Self.scenarios).first { throw UsageError("unknown scenario \(unknown)") }
                only = names
            default: throw UsageError("unknown argument \(argument)")
            }
        }
    }

    func wants(_ scenario: String) -> Bool { only?.contains(scenario) ?? true }

    /// How long one scenario may run before the watchdog stops the harness.
    var scenarioDeadline: Duration { deadline ?? (long ? .seconds(45 * 60) : .seconds(4 * 60)) }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let options: Options
do {
    options = try Options(CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("sync-torture: \(error)\nusage: sync-torture [--short|--long] [--seed N] [--only \(Options.scenarios.joined(separator: ","))] [--seeds N] [--deadline SECONDS] [--json]\n".utf8))
    exit(64)
}


// A client that goes away mid-write must be an error, not the end of the harness.
signal(SIGPIPE, SIG_IGN)

let mode = options.long ? "long" : "short"
if !options.json { print("sync-torture \(mode) mode, seed \(options.seed)") }
var reports: [Report] = []
let started = ContinuousClock.now

@MainActor func runScenario(_ name: String, _ body: (Report) async throws -> Void) async {
    guard options.wants(name) else { return }
    let report = Report(name)
    Watchdog.arm(report, limit: options.scenarioDeadline, json: options.json)
    do { try await body(report) } catch { report.violation("scenario threw: \(error)") }
    Watchdog.disarm()
    reports.append(report)
    if !options.json {
        report.printText()
        fflush(nil)  // figures reach a log file as each scenario ends, not at exit
    }
}

await runScenario("kill") { report in
    try await KillLoop.run(kills: options.long ? 200 : 20, seed: options.seed, report: report)
}

await runScenario("fuzz") { report in
    let seeds = options.seeds ?? (options.long ? 1_000 : 50)
    await ConvergenceFuzz.run(seeds: options.seed..<(options.seed + UInt64(seeds)), operations: options.long ? 120 : 60,
                              report: report)
    if options.seeds == nil { await ConvergenceFuzz.selfTest(seeds: options.seed..<(options.seed + 5), report: report) }
}

await runScenario("realtime") { report in
    try await RealtimeFuzz.run(seeds: options.seed..<(options.seed + UInt64(options.seeds ?? (options.long ? 50 : 5))),
                               operations: options.long ? 80 : 40, report: report)
}

await runScenario("server") { report in
    try await RealtimeFuzz.run(seeds: options.seed..<(options.seed + UInt64(options.seeds ?? (options.long ? 300 : 20))),
                               operations: options.long ? 80 : 40, realtime: false, report: report)
}

await runScenario("acks") { report in
    try await LostAcknowledgements.run(injections: options.long ? 500 : 50, report: report)
}

await runScenario("contract") { report in
    try await RetryAndAuthContract.run(report: report)
}

await runScenario("hostile") { report in
    try await HostileInput.run(report: report)
}

await runScenario("wshostile") { report in
    try await HostileWebSocket.run(report: report)
}

await runScenario("storage") { report in
    try await StorageFaults.run(seed: options.seed, report: report)
}

await runScenario("security") { report in
    try await SecurityFigures.run(report: report)
}

let elapsed = (ContinuousClock.now - started) / .seconds(1)
let failed = reports.filter { !$0.passed }
if options.json {
    let object: [String: Any] = ["mode": mode, "seed": options.seed, "seconds": elapsed, "passed": failed.isEmpty,
                                 "scenarios": reports.map(\.json)]
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
} else {
    print(String(format: "sync-torture: %d scenario(s), %d failed, %.1f s", reports.count, failed.count, elapsed))
}
ChildProcess.killAll()
ScratchDirectory.removeAll()
exit(failed.isEmpty ? 0 : 1)
