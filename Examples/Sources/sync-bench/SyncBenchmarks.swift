import Foundation
import SyncLayer
import SyncServer

/// P5–P7: the SDK against the in-process reference server on 127.0.0.1 (a free port).
struct SyncBenchmarks {
    let parameters: Parameters
    static let token = "bench-token"
    /// This executable, which the benchmarks start again in child processes (`--serve`, `--p6-child`).
    static let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])

    static func startServer(databasePath: String) async throws -> InProcessServer {
        try await InProcessServer.start(configuration: ServerConfiguration(
            port: 0, databasePath: databasePath, tokens: [token], logLevel: .error))
    }

    static func client(baseURL: String, webSocketURL: String? = nil, path: String, collections: [String] = ["bench"],
                       version: RESTBackend.ProtocolVersion = .v2,
                       transport: (any HTTPTransport)? = nil) async throws -> SyncLayer {
        try await SyncLayer(config: SyncConfig(
            baseURL: URL(string: baseURL)!, collections: collections, authToken: token,
            enableAutoSync: webSocketURL != nil, enableRealtimeSync: webSocketURL != nil,
            websocketURL: webSocketURL.flatMap(URL.init(string:)),
            storage: .file(path), protocolVersion: version, transport: transport))
    }

    /// Queues `count` inserts in an offline store (in transactions of 10 k).
    static func seedOutbox(path: String, count: Int) async throws {
        let sync = try await LocalBenchmarks.openStore(path)
        let bench = sync.collection("bench")
        var start = 0
        while start < count {
            let end = min(start + 10_000, count)
            try await bench.saveAll((start..<end).map(Workload.document))
            start = end
        }
        await sync.close()
    }

    /// A drain's rate and the CPU time the client process and the server process each spent per op.
    struct Drain {
        var opsPerSecond: Double
        var clientCPUPerOp: Double
        var serverCPUPerOp: Double?
    }

    /// Opens the queued store against the server and times until every op is acknowledged (the
    /// pull that `syncNow` does after pushing is not timed).
    static func drain(server: ServerProcess, path: String, count: Int, version: RESTBackend.ProtocolVersion,
                      transport: (any HTTPTransport)? = nil, whenDrained: () -> Void = {}) async throws -> Drain {
        let sync = try await client(baseURL: server.baseURL, path: path, version: version, transport: transport)
        return try await measureDrain(of: sync, count: count, label: "drain (\(version))", server: server, whenDrained: whenDrained)
    }

    /// Runs `syncNow()` on a client with `count` queued ops, times it until every op is acknowledged,
    /// checks the outbox is empty with nothing rejected or parked, and closes the client. `server`: the
    /// server process whose CPU time to take over the same span, if any.
    static func measureDrain(of sync: SyncLayer, count: Int, label: String, server: ServerProcess?,
                             whenDrained: () -> Void = {}) async throws -> Drain {
        let start = ContinuousClock.now
        let cpuStart = CPU.seconds, serverCPUStart = server?.cpuSeconds
        let run = Task { try await sync.syncNow() }
        // The in-memory metrics, polled every 10 ms: acknowledgements are counted after their transaction
        // commits, and reading them takes no store lock (counting the pending rows held it for a few ms).
        var polls = 0
        while sync.metrics.operationsSynced < count {
            try await Task.sleep(for: .milliseconds(10))
            polls += 1
            if polls > 60_000 { throw BenchFailure("\(label) did not finish in 10 minutes") }
        }
        let seconds = (ContinuousClock.now - start).seconds
        let cpu = CPU.seconds - cpuStart
        let serverCPU = server?.cpuSeconds.flatMap { end in serverCPUStart.map { end - $0 } }
        whenDrained()
        try await run.value
        guard try await sync.pendingOperationCount() == 0 else { throw BenchFailure("\(label): ops left queued") }
        let counts = try await sync.outboxCounts()
        await sync.close()
        guard counts.rejected == 0, counts.failed == 0 else { throw BenchFailure("\(label): \(counts)") }
        return Drain(opsPerSecond: Double(count) / seconds, clientCPUPerOp: cpu / Double(count),
                     serverCPUPerOp: serverCPU.map { $0 / Double(count) })
    }

    // MARK: P5 and P6

    /// P5: drain N queued inserts over v2 batches vs a smaller count over v1 (per record), both
    /// as rates. P6: a new empty store pulls the N documents the v2 drain left on the server.
    func p5DrainAndP6Pull(runP6: Bool) async throws -> [ResultRow] {
        let count = parameters.drainCount, v1Count = parameters.drainV1Count
        var v2 = Samples(), v1 = Samples(), pull = Samples()
        var drainPeakKiB = 0, serverPeakKiB = 0, pullPeakKiB = 0, pullBaseKiB = 0
        var clientCPU = Samples(), serverCPU = Samples()
        var viaURLSession: Drain?
        var pullViaURLSession: Double?
        for _ in 0..<parameters.syncRepetitions {
            let folder = try TempFolder("p5")
            // v1 first (smaller), on its own server.
            let v1Server = try await ServerProcess.start(database: folder.file("server-v1.sqlite"))
            try await Self.seedOutbox(path: folder.file("v1.sqlite"), count: v1Count)
            v1.add(try await Self.drain(server: v1Server, path: folder.file("v1.sqlite"), count: v1Count, version: .v1).opsPerSecond)
            await v1Server.stop()

            let server = try await ServerProcess.start(database: folder.file("server-v2.sqlite"))
            try await Self.seedOutbox(path: folder.file("v2.sqlite"), count: count)
            Memory.resetPeak()
            let drained = try await Self.drain(server: server, path: folder.file("v2.sqlite"), count: count, version: .v2)
            v2.add(drained.opsPerSecond)
            clientCPU.add(drained.clientCPUPerOp)
            if let perOp = drained.serverCPUPerOp { serverCPU.add(perOp) }
            drainPeakKiB = max(drainPeakKiB, Memory.peakKiB)
            serverPeakKiB = max(serverPeakKiB, server.peakKiB)

            if runP6 {
                // In a fresh process of its own, so its peak RSS is the pulling client's alone.
                let child = try await Self.pullInChildProcess(baseURL: server.baseURL, path: folder.file("pull.sqlite"))
                guard child.pulled == count else { throw BenchFailure("P6: pulled \(child.pulled) of \(count)") }
                pullBaseKiB = max(pullBaseKiB, child.baseKiB)
                pullPeakKiB = max(pullPeakKiB, child.peakKiB)
                pull.add(Double(count) / child.seconds)
                #if os(Linux)
                if pullViaURLSession == nil {
                    let other = try await Self.pullInChildProcess(baseURL: server.baseURL, path: folder.file("pull-urlsession.sqlite"),
                                                                  viaURLSession: true)
                    pullViaURLSession = Double(other.pulled) / other.seconds
                }
                #endif
            }
            #if os(Linux)
            if viaURLSession == nil {
                // The transport the SDK replaced on Linux, on a fifth of the ops (see CurlHTTPTransport),
                // after P6 so its documents are not pulled.
                let fifth = max(1_000, count / 5)
                try await Self.seedOutbox(path: folder.file("urlsession.sqlite"), count: fifth)
                viaURLSession = try await Self.drain(server: server, path: folder.file("urlsession.sqlite"), count: fifth,
                                                     version: .v2, transport: URLSessionTransport())
            }
            #endif
            await server.stop()
        }
        let ratio = v2.median / v1.median
        var rows = [ResultRow(
            id: "P5", measure: "drain \(count) queued ops → server (v2 batches)",
            ours: Format.rateSpread(v2),
            baseline: "v1 per-record, \(v1Count) ops as a rate: \(Format.rateSpread(v1))",
            ratio: String(format: "%.1f× v1", ratio), target: "≥ 20k ops/s, ≥ 20× v1",
            pass: v2.median >= 20_000 && ratio >= 20,
            notes: "client and server in processes of their own; peak RSS during the v2 drain: client "
                + "\(Format.megabytes(drainPeakKiB)), server \(Format.megabytes(serverPeakKiB)); CPU per op: client "
                + Format.time(clientCPU.median) + (serverCPU.values.isEmpty ? "" : ", server \(Format.time(serverCPU.median))")
                + (viaURLSession.map { "; the same drain (a fifth of the ops) through URLSessionTransport: "
                    + "\(Format.rate($0.opsPerSecond)), client CPU per op \(Format.time($0.clientCPUPerOp))" } ?? ""))]
        if runP6 {
            rows.append(ResultRow(
                id: "P6", measure: "initial pull of \(count) docs into an empty store",
                ours: "\(Format.rateSpread(pull)), peak RSS \(Format.megabytes(pullPeakKiB))",
                baseline: "—", ratio: "—", target: "≥ 50k docs/s, ≤ 150 MB",
                pass: pull.median >= 50_000 && pullPeakKiB <= 150 * 1024,
                notes: "measured in a child process that only pulls (the server is another); its RSS before the pull \(Format.megabytes(pullBaseKiB))"
                    + (pullViaURLSession.map { "; the same pull through URLSessionTransport: \(Format.rate($0))" } ?? "")))
        }
        return rows
    }

    /// What `sync-bench --p6-child` reports.
    struct ChildPull: Codable {
        var seconds: Double
        var pulled: Int
        var baseKiB: Int
        var peakKiB: Int
    }

    /// Runs this executable as `--p6-child URL PATH` and reads its one-line JSON report.
    static func pullInChildProcess(baseURL: String, path: String, viaURLSession: Bool = false) async throws -> ChildPull {
        let process = Process()
        process.executableURL = SyncBenchmarks.executable
        process.arguments = ["--p6-child", baseURL, path] + (viaURLSession ? ["urlsession"] : [])
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        // Bounded: a child that hangs is killed after 10 minutes (its pipe then ends and the wait below returns).
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + 600) { [process] in
            if process.isRunning { kill(pid, SIGKILL) }
        }
        // Blocking reads off the cooperative pool: the server answering the child runs in this process.
        let data: Data = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
        guard process.terminationStatus == 0, let report = try? JSONDecoder().decode(ChildPull.self, from: data) else {
            throw BenchFailure("P6 child exited \(process.terminationStatus): \(String(decoding: data, as: UTF8.self))")
        }
        return report
    }

    /// The child's side: a new empty store pulls everything from `baseURL`.
    static func runChildPull(baseURL: String, path: String, viaURLSession: Bool) async throws {
        let sync = try await SyncLayer(config: SyncConfig(
            baseURL: URL(string: baseURL)!, collections: ["bench"], authToken: token, enableAutoSync: false,
            storage: .file(path), protocolVersion: .v2, transport: viaURLSession ? URLSessionTransport() : nil))
        let base = Memory.currentKiB
        let start = ContinuousClock.now
        try await sync.syncNow()
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        let peak = Memory.peakKiB
        let pulled = try await sync.collection("bench").count()
        await sync.close()
        let report = ChildPull(seconds: seconds, pulled: pulled, baseKiB: base, peakKiB: peak)
        print(String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
    }

    // MARK: P7

    /// A.save → B.watch through the server, against unsubscribe → unsubscribed round trips on a
    /// WebSocketService (the SDK's connection type) to the same server: an echo that does no
    /// database work, so the ratio shows what sync adds to the bare round trip. (Not ping → pong:
    /// the service keeps the server's pongs for its heartbeat.)
    func p7Realtime() async throws -> ResultRow {
        let folder = try TempFolder("p7")
        let server = try await ServerProcess.start(database: folder.file("server.sqlite"))
        let warmUp = 20, count = parameters.watchCount

        // Baseline: the server's answer to an unsubscribe, on the same kind of connection.
        let socket = try WebSocketService(url: URL(string: server.webSocketURL)!, token: Self.token)
        let echoes = Arrivals()
        let reader = Task { [messages = socket.messages] in
            var received = 0
            for await text in messages where text.contains("\"unsubscribed\"") {
                received += 1
                echoes.record(received)
            }
        }
        try await socket.connect()
        var echo = Samples()
        for k in 1...(count + warmUp) {
            let start = ContinuousClock.now
            try await socket.send(#"{"type":"unsubscribe","collection":"echo"}"#)
            guard let arrived = await echoes.wait(for: k, timeout: .seconds(10)) else { throw BenchFailure("P7: no unsubscribed answer") }
            if k > warmUp { echo.add((arrived - start).seconds) }
        }
        await socket.disconnect()
        reader.cancel()

        // Two clients with realtime sync.
        let a = try await Self.client(baseURL: server.baseURL, webSocketURL: server.webSocketURL, path: folder.file("a.sqlite"),
                                      collections: ["rt"])
        let b = try await Self.client(baseURL: server.baseURL, webSocketURL: server.webSocketURL, path: folder.file("b.sqlite"),
                                      collections: ["rt"])
        for client in [a, b] {
            var waited = 0
            while client.realtime?.state != .connected {
                try await Task.sleep(for: .milliseconds(10))
                waited += 1
                if waited > 1_000 { throw BenchFailure("P7: realtime did not connect") }
            }
        }
        try await b.collection("rt").createIndex(on: "n")
        let arrivals = Arrivals()
        let query = b.collection("rt").orderBy("n", descending: true).limit(1)
        let watcher = Task {
            for try await latest in query.watch() {
                if let n = latest.first?["n"]?.intValue { arrivals.record(n) }
            }
        }
        let rt = a.collection("rt")
        var latencies = Samples()
        var timeouts = 0
        for n in 1...(count + warmUp) {
            let start = ContinuousClock.now
            try await rt.save(["n": .int(n)])
            guard let arrived = await arrivals.wait(for: n, timeout: .seconds(n <= warmUp ? 15 : 5)) else {
                timeouts += 1
                if timeouts > 3 { throw BenchFailure("P7: B saw no change for several saves") }
                continue
            }
            if n > warmUp { latencies.add((arrived - start).seconds) }
        }
        watcher.cancel()
        await a.close()
        await b.close()
        _ = try? await watcher.value
        await server.stop()
        let p50 = latencies.median, p99 = latencies.percentile(99)
        return ResultRow(
            id: "P7", measure: "realtime A.save → B.watch via server",
            ours: "p50 \(Format.time(p50)), p99 \(Format.time(p99)) (n=\(latencies.values.count))",
            baseline: "WS unsubscribe→unsubscribed RTT: p50 \(Format.time(echo.median)), p99 \(Format.time(echo.percentile(99)))",
            ratio: String(format: "%.1f× RTT (p50)", p50 / echo.median), target: "p50 ≤ 2 ms, p99 ≤ 10 ms",
            pass: p50 <= 0.002 && p99 <= 0.010,
            notes: timeouts > 0 ? "\(timeouts) saves never reached B's watch within 5 s (not counted)" : "")
    }
}
