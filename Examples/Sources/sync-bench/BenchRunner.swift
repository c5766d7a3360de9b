import Foundation
import GRDBSQLite

struct BenchOptions {
    var quick = false
    var json = false
    var only: Set<String> = []
    /// Overrides the P5/P6 document count.
    var drain: Int?

    init(arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--quick": quick = true
            case "--json": json = true
            case "--only": only = Set((iterator.next() ?? "").uppercased().split(separator: ",").map(String.init))
            case "--drain": drain = Int(iterator.next() ?? "")
            default:
                FileHandle.standardError.write(Data("usage: sync-bench [--quick] [--json] [--only P1,P3] [--drain N]\n".utf8))
                exit(2)
            }
        }
    }

    func runs(_ id: String) -> Bool { only.isEmpty || only.contains(id) }
}

/// Sizes per mode.
struct Parameters: Codable {
    var saveCount: Int          // P1 saves per repetition
    var bulkCount: Int          // P2, P3 documents
    var queryCount: Int         // P3 queries per side
    var watchCount: Int         // P4, P7 round trips
    var drainCount: Int         // P5 v2 ops, P6 docs
    var drainV1Count: Int       // P5 v1 ops (extrapolated as a rate)
    var repetitions: Int        // P1, P2 repetitions after a warm-up
    var syncRepetitions: Int    // P5, P6 repetitions

    static let full = Parameters(saveCount: 2_000, bulkCount: 100_000, queryCount: 300, watchCount: 500,
                                 drainCount: 100_000, drainV1Count: 2_000, repetitions: 5, syncRepetitions: 2)
    static let quick = Parameters(saveCount: 200, bulkCount: 5_000, queryCount: 50, watchCount: 50,
                                  drainCount: 2_000, drainV1Count: 200, repetitions: 3, syncRepetitions: 1)
}

/// One line of the report.
struct ResultRow: Codable {
    var id: String
    var measure: String
    var ours: String
    var baseline: String
    var ratio: String
    var target: String
    var pass: Bool?
    var notes: String = ""
}

struct BenchRunner {
    let options: BenchOptions
    var parameters: Parameters {
        var parameters = options.quick ? Parameters.quick : .full
        if let drain = options.drain { parameters.drainCount = drain }
        return parameters
    }

    func run() async throws {
        let started = ContinuousClock.now
        let machine = Self.machineLine()
        if !options.json {
            print("sync-bench — \(options.quick ? "quick" : "full") run")
            #if DEBUG
            print("debug build: the figures say the benchmarks run, not how fast; measure with -c release")
            #endif
            print("machine: \(machine)")
            print("parameters: \(parameters)")
            print("")
        }
        var rows: [ResultRow] = []
        func report(_ new: [ResultRow]) {
            rows += new
            if !options.json { for row in new { print("  done \(row.id) \(row.measure): \(row.ours) | \(row.baseline) | \(row.ratio)") } }
        }
        let local = LocalBenchmarks(parameters: parameters)
        if options.runs("P1") { report([try await local.p1SingleSaves()]) }
        if options.runs("P2") || options.runs("P3") {
            let (p2, p3) = try await local.p2BulkAndP3Query(runP3: options.runs("P3"))
            report((options.runs("P2") ? [p2] : []) + (p3.map { [$0] } ?? []))
        }
        if options.runs("P4") { report([try await local.p4LocalWatch()]) }
        let sync = SyncBenchmarks(parameters: parameters)
        if options.runs("P5") || options.runs("P6") {
            report(try await sync.p5DrainAndP6Pull(runP6: options.runs("P6")).filter { options.runs($0.id) })
        }
        if options.runs("P7") { report([try await sync.p7Realtime()]) }

        let elapsed = (ContinuousClock.now - started).seconds
        if options.json {
            struct Output: Codable { var machine: String; var quick: Bool; var parameters: Parameters; var seconds: Double; var rows: [ResultRow] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(Output(machine: machine, quick: options.quick, parameters: parameters,
                                                 seconds: elapsed, rows: rows))
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("")
            print(Self.table(rows))
            for row in rows where !row.notes.isEmpty { print("\(row.id): \(row.notes)") }
            print(String(format: "total %.1f s", elapsed))
        }
    }

    static func table(_ rows: [ResultRow]) -> String {
        var lines = ["| # | measure | ours (median, spread) | baseline in the same run | ratio | target | result |",
                     "|---|---|---|---|---|---|---|"]
        for row in rows {
            let verdict = row.pass.map { $0 ? "pass" : "**miss**" } ?? "—"
            lines.append("| \(row.id) | \(row.measure) | \(row.ours) | \(row.baseline) | \(row.ratio) | \(row.target) | \(verdict) |")
        }
        return lines.joined(separator: "\n")
    }

    static func machineLine() -> String {
        var uts = utsname()
        uname(&uts)
        func string<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
        let memory = ProcessInfo.processInfo.physicalMemory / (1 << 30)
        #if compiler(>=6.3)
        let swift = "Swift ≥ 6.3"
        #else
        let swift = "Swift < 6.3"
        #endif
        return "\(string(uts.sysname)) \(string(uts.release)) \(string(uts.machine)), \(cpu), "
            + "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(memory) GiB, \(swift), "
            + "SQLite \(String(cString: sqlite3_libversion()))"
    }
}
