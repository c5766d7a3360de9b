// sync-torture: the reliability harness of issue 8 (doc/RELIABILITY.md).
//
//   sync-torture [--short|--long] [--seed N] [--only kill,acks,fuzz,contract,hostile,storage,security] [--json]
//
// Prints figures per scenario and exits 1 when any invariant is violated.
import Foundation

struct Options {
    var long = false
    var seed: UInt64 = 1
    var only: Set<String>?
    var json = false
    var verbose = false

    static let scenarios = ["kill", "acks", "fuzz", "realtime", "server", "contract", "hostile", "storage", "security"]

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
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let options: Options
do {
    options = try Options(CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("sync-torture: \(error)\nusage: sync-torture [--short|--long] [--seed N] [--only \(Options.scenarios.joined(separator: ","))] [--json]\n".utf8))
    exit(64)
}


let mode = options.long ? "long" : "short"
if !options.json { print("sync-torture \(mode) mode, seed \(options.seed)") }
var reports: [Report] = []
let started = ContinuousClock.now

@MainActor func runScenario(_ name: String, _ body: (Report) async throws -> Void) async {
    guard options.wants(name) else { return }
    let report = Report(name)
    do { try await body(report) } catch { report.violation("scenario threw: \(error)") }
    reports.append(report)
    if !options.json { report.printText() }
}

await runScenario("kill") { report in
    try await KillLoop.run(kills: options.long ? 200 : 20, seed: options.seed, report: report)
}

await runScenario("fuzz") { report in
    let seeds = options.long ? 1_000 : 50
    await ConvergenceFuzz.run(seeds: options.seed..<(options.seed + UInt64(seeds)), operations: options.long ? 120 : 60,
                              report: report)
    await ConvergenceFuzz.selfTest(seeds: options.seed..<(options.seed + 5), report: report)
}

await runScenario("realtime") { report in
    try await RealtimeFuzz.run(seeds: options.seed..<(options.seed + UInt64(options.long ? 50 : 5)),
                               operations: options.long ? 80 : 40, report: report)
}

await runScenario("server") { report in
    try await RealtimeFuzz.run(seeds: options.seed..<(options.seed + UInt64(options.long ? 300 : 20)),
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
ScratchDirectory.removeAll()
exit(failed.isEmpty ? 0 : 1)
