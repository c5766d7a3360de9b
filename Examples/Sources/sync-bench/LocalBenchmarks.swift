import Foundation
import SyncLayer

/// P1–P4: the local store, no server.
struct LocalBenchmarks {
    let parameters: Parameters

    static func openStore(_ path: String, collections: [String] = ["bench"]) async throws -> SyncLayer {
        try await SyncLayer(config: SyncConfig(collections: collections, storage: .file(path)))
    }

    // MARK: P1

    /// `save()` of one small document per transaction, against the raw C API and GRDB doing the
    /// same two inserts per transaction. Each repetition uses new files; the first is a warm-up.
    func p1SingleSaves() async throws -> ResultRow {
        let count = parameters.saveCount
        var ours = Samples(), raw = Samples(), grdb = Samples()
        for repetition in 0...parameters.repetitions {
            let folder = try TempFolder("p1")
            let n = repetition == 0 ? max(count / 4, 20) : count
            let rawWriter = try RawWriter(path: folder.file("raw.sqlite"))
            let rawSeconds = try await measure {
                for i in 0..<n { try rawWriter.transaction { try rawWriter.insert(i, collection: "bench") } }
            }
            let grdbWriter = try GRDBWriter(path: folder.file("grdb.sqlite"))
            let grdbSeconds = try await measure {
                for i in 0..<n { try grdbWriter.insert(i, collection: "bench") }
            }
            let sync = try await Self.openStore(folder.file("sdk.sqlite"))
            let bench = sync.collection("bench")
            let documents = (0..<n).map(Workload.document)
            let oursSeconds = try await measure {
                for document in documents { try await bench.save(document) }
            }
            await sync.close()
            guard repetition > 0 else { continue }
            ours.add(Double(n) / oursSeconds)
            raw.add(Double(n) / rawSeconds)
            grdb.add(Double(n) / grdbSeconds)
        }
        let vsRaw = ours.median / raw.median, vsGRDB = ours.median / grdb.median
        return ResultRow(
            id: "P1", measure: "save() 1 doc/txn (doc + outbox), \(count)/rep",
            ours: Format.rateSpread(ours),
            baseline: "raw C API \(Format.rateSpread(raw)); GRDB records \(Format.rateSpread(grdb))",
            ratio: String(format: "%.2f× raw, %.2f× GRDB", vsRaw, vsGRDB),
            target: "≥ 0.5× raw, ≥ 1.0× GRDB", pass: vsRaw >= 0.5 && vsGRDB >= 1.0)
    }

    // MARK: P2 and P3

    /// P2: `saveAll` of N documents against one raw transaction inserting the same document and
    /// outbox rows. P3: on the last P2 store, an indexed where + orderBy + limit 50 against the
    /// same SQL written by hand through the C API on the same file.
    func p2BulkAndP3Query(runP3: Bool) async throws -> (ResultRow, ResultRow?) {
        let count = parameters.bulkCount
        var ours = Samples(), raw = Samples()
        var peakKiB = 0, baseKiB = 0
        var kept: (folder: TempFolder, sync: SyncLayer)?
        let documents = (0..<count).map(Workload.document)
        for repetition in 0...parameters.repetitions {
            let folder = try TempFolder("p2")
            let n = repetition == 0 ? max(count / 10, 100) : count
            let rawWriter = try RawWriter(path: folder.file("raw.sqlite"))
            let rawSeconds = try await measure {
                try rawWriter.transaction { for i in 0..<n { try rawWriter.insert(i, collection: "bench") } }
            }
            let sync = try await Self.openStore(folder.file("sdk.sqlite"))
            let slice = Array(documents.prefix(n))
            Memory.resetPeak()
            let before = Memory.currentKiB
            let oursSeconds = try await measure { try await sync.collection("bench").saveAll(slice) }
            if repetition > 0 {
                peakKiB = max(peakKiB, Memory.peakKiB)
                baseKiB = before
                ours.add(Double(n) / oursSeconds)
                raw.add(Double(n) / rawSeconds)
            }
            if repetition == parameters.repetitions {
                kept = (folder, sync)
            } else {
                await sync.close()
            }
        }
        let ratio = ours.median / raw.median
        let p2 = ResultRow(
            id: "P2", measure: "saveAll \(count) docs (1 txn)", ours: Format.rateSpread(ours),
            baseline: "raw C API 1 txn, same doc+outbox rows: \(Format.rateSpread(raw))",
            ratio: String(format: "%.2f× raw", ratio), target: "≥ 0.5× raw", pass: ratio >= 0.5,
            notes: "peak RSS \(Format.megabytes(peakKiB)) (process, RSS before saveAll \(Format.megabytes(baseKiB)); input dictionaries built before timing)")
        guard runP3, let kept else {
            if let kept { await kept.sync.close() }
            return (p2, nil)
        }
        let p3 = try await p3Query(sync: kept.sync, path: kept.folder.file("sdk.sqlite"), count: count)
        await kept.sync.close()
        _ = kept.folder
        return (p2, p3)
    }

    private func p3Query(sync: SyncLayer, path: String, count: Int) async throws -> ResultRow {
        let bench = sync.collection("bench")
        try await bench.createIndex(on: "prio")
        let query = bench.where("prio", isGreaterThanOrEqualTo: 500).orderBy("prio").limit(50)
        let plan = try await query.explain().joined(separator: "; ")

        let raw = try RawSQLite(path: path)
        let statement = try raw.prepare("""
            SELECT id, data FROM sl_documents
            WHERE collection = ? AND deleted = 0 AND json_extract(data, '$."prio"') >= ?
            ORDER BY json_extract(data, '$."prio"') LIMIT 50
            """)
        func rawQuery() -> Int {
            statement.bind(1, "bench")
            statement.bind(2, Int64(500))
            var rows: [(String, String)] = []
            rows.reserveCapacity(50)
            while statement.step() { rows.append((statement.text(0), statement.text(1))) }
            statement.reset()
            return rows.count
        }
        var ours = Samples(), baseline = Samples()
        for i in 0..<(parameters.queryCount + 20) {
            var rawRows = 0, ourRows = 0
            let rawSeconds = await measure { rawRows = rawQuery() }
            let oursSeconds = try await measure { ourRows = try await query.get().count }
            guard rawRows == 50, ourRows == 50 else { throw BenchFailure("P3: \(ourRows) rows, raw \(rawRows)") }
            if i >= 20 {
                ours.add(oursSeconds)
                baseline.add(rawSeconds)
            }
        }
        let ratio = ours.median / baseline.median
        return ResultRow(
            id: "P3", measure: "where+orderBy+limit 50 on \(count) docs, p50",
            ours: "\(Format.time(ours.median)) (p90 \(Format.time(ours.percentile(90))), n=\(ours.values.count))",
            baseline: "hand-written SQL via C API: \(Format.time(baseline.median)) (p90 \(Format.time(baseline.percentile(90))))",
            ratio: String(format: "%.2f× raw time", ratio), target: "≤ 2× raw time", pass: ratio <= 2,
            notes: "plan: \(plan)")
    }

    // MARK: P4

    /// `save` → `watch()` emission in one process: the time from calling save to the watching
    /// loop receiving the result that contains the document.
    func p4LocalWatch() async throws -> ResultRow {
        let folder = try TempFolder("p4")
        let sync = try await Self.openStore(folder.file("sdk.sqlite"))
        let live = sync.collection("bench")
        try await live.createIndex(on: "n")
        let arrivals = Arrivals()
        let query = live.orderBy("n", descending: true).limit(1)
        let watcher = Task {
            for try await latest in query.watch() {
                if let n = latest.first?["n"]?.intValue { arrivals.record(n) }
            }
        }
        let warmUp = 20
        var latencies = Samples()
        for n in 1...(parameters.watchCount + warmUp) {
            let start = ContinuousClock.now
            try await live.save(["n": .int(n)])
            guard let arrived = await arrivals.wait(for: n, timeout: .seconds(10)) else {
                throw BenchFailure("P4: no emission for save \(n)")
            }
            if n > warmUp { latencies.add((arrived - start).seconds) }
        }
        watcher.cancel()
        await sync.close()
        _ = try? await watcher.value
        let p50 = latencies.median, p99 = latencies.percentile(99)
        return ResultRow(
            id: "P4", measure: "save → watch() emission, 1 process",
            ours: "p50 \(Format.time(p50)), p99 \(Format.time(p99)) (n=\(latencies.values.count))",
            baseline: "—", ratio: "—", target: "p50 ≤ 1 ms", pass: p50 <= 0.001)
    }
}
