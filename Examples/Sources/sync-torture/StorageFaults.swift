import Foundation
import SyncLayer

/// C10/C11/C12: disk full (a size-limited tmpfs), a read-only database (a read-only bind mount:
/// root ignores chmod) and corrupted files. Figures: typed errors, half-written operations (a
/// document without its outbox row or the reverse), integrity after recovery, crashes.
enum StorageFaults {
    @discardableResult
    static func shell(_ arguments: [String]) -> (status: Int32, output: String) {
        let outcome = ChildProcess.shell(arguments, limit: .seconds(60))
        if let error = outcome.launchError { return (-1, error) }
        if outcome.timedOut { return (-1, "\(arguments.first ?? "") hung (killed after 60 s)") }
        return (outcome.signalled ? -1 : outcome.status, outcome.text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func open(_ path: String) async throws -> SyncLayer {
        try await SyncLayer(config: SyncConfig(collections: ["docs"], storage: .file(path), durability: .full))
    }

    static func isTyped(_ error: any Error) -> Bool { error is StoreError || error is SyncLayerError }

    static func run(seed: UInt64, report: Report) async throws {
        let directory = try ScratchDirectory("storage")
        defer { directory.remove() }
        try await diskFull(directory, report: report)
        try await readOnly(directory, report: report)
        try await corrupted(directory, seed: seed, report: report)
    }

    static func diskFull(_ directory: ScratchDirectory, report: Report) async throws {
        let mountPoint = directory.path("full")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = shell(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mountPoint])
        guard mounted.status == 0 else {
            report.note("disk full skipped: cannot mount a tmpfs (\(mounted.output)); needs root")
            return
        }
        defer { shell(["umount", mountPoint]) }
        let path = mountPoint + "/db.sqlite"
        var acknowledged = 0
        var typed = false
        var untypedError: String?
        let sdk = try await open(path)
        let filler = String(repeating: "f", count: 8_000)
        for i in 0..<1_000 {
            do {
                try await sdk.collection("docs").save(["i": .int(i), "fill": .string(filler)], id: "d\(i)")
                acknowledged += 1
            } catch let error as StoreError {
                typed = error.isDiskFull
                if !typed { untypedError = "\(error)" }
                break
            } catch {
                untypedError = "\(type(of: error)): \(error)"
                break
            }
        }
        // Together or not at all: every acknowledged document has its queued op, and nothing more.
        let documents = try await sdk.collection("docs").count()
        let pending = try await sdk.pendingOperationCount()
        await sdk.close()
        let integrityFull = SQLiteShell.isAvailable ? shell(["sqlite3", "-readonly", path, "PRAGMA integrity_check;"]).output : "ok"
        // Free space and carry on.
        shell(["mount", "-o", "remount,size=8m", mountPoint])
        let reopened = try await open(path)
        var writesAfterRecovery = true
        do { try await reopened.collection("docs").save(["after": true], id: "after-free") } catch { writesAfterRecovery = false }
        let afterCount = try await reopened.collection("docs").count()
        await reopened.close()
        let integrityAfter = SQLiteShell.isAvailable ? shell(["sqlite3", "-readonly", path, "PRAGMA integrity_check;"]).output : "ok"

        report.set("disk full: writes acknowledged before ENOSPC", acknowledged)
        report.set("disk full: typed error (SQLITE_FULL)", typed)
        report.set("disk full: documents / queued ops", "\(documents)/\(pending)")
        report.set("disk full: integrity while full / after freeing", "\(integrityFull)/\(integrityAfter)")
        report.set("disk full: writes work after freeing space", writesAfterRecovery && afterCount == acknowledged + 1)
        if !typed { report.violation("disk full: expected StoreError SQLITE_FULL, got \(untypedError ?? "no error")") }
        if documents != acknowledged || pending != acknowledged {
            report.violation("disk full: \(acknowledged) acknowledged, \(documents) documents, \(pending) queued ops")
        }
        if integrityFull != "ok" || integrityAfter != "ok" { report.violation("disk full: integrity \(integrityFull) / \(integrityAfter)") }
        if !(writesAfterRecovery && afterCount == acknowledged + 1) { report.violation("disk full: no recovery after freeing space") }
    }

    static func readOnly(_ directory: ScratchDirectory, report: Report) async throws {
        let folder = directory.path("readonly")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/db.sqlite"
        let sdk = try await open(path)
        try await sdk.collection("docs").save(["x": 1], id: "before")
        await sdk.close()
        guard shell(["mount", "--bind", folder, folder]).status == 0 else {
            report.note("read-only skipped: cannot bind-mount; needs root")
            return
        }
        defer { shell(["umount", folder]) }
        guard shell(["mount", "-o", "remount,ro,bind", folder]).status == 0 else {
            report.note("read-only skipped: cannot remount read-only")
            return
        }
        var outcome = "opened"
        var typed = true
        do {
            let readonly = try await open(path)
            do {
                try await readonly.collection("docs").save(["x": 2], id: "during")
                outcome = "write accepted on a read-only mount"
                typed = false
            } catch {
                outcome = "opened; write refused: \(error)".prefix(120).description
                typed = isTyped(error)
            }
            await readonly.close()
        } catch {
            outcome = "open refused: \(error)".prefix(120).description
            typed = isTyped(error)
        }
        report.set("read-only mount", outcome)
        if !typed { report.violation("read-only: \(outcome)") }
    }

    static func corrupted(_ directory: ScratchDirectory, seed: UInt64, report: Report) async throws {
        let original = directory.path("original.sqlite")
        let sdk = try await open(original)
        for i in 0..<200 { try await sdk.collection("docs").save(["i": .int(i), "text": .string(String(repeating: "t", count: 200))], id: "d\(i)") }
        await sdk.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: original))
        var random = SeededRandom(seed: seed)
        var variants: [(String, Data)] = [
            ("header overwritten", Data(repeating: 0x41, count: 100) + bytes.dropFirst(100)),
            ("truncated to half", bytes.prefix(bytes.count / 2)),
            ("not a database", Data("this is a text file, not SQLite\n".utf8)),
            ("empty file", Data()),
        ]
        for round in 0..<8 {
            var flipped = bytes
            for _ in 0..<(round + 1) * 16 {
                let index = Int.random(in: 100..<flipped.count, using: &random)
                flipped[index] ^= UInt8.random(in: 1...255, using: &random)
            }
            variants.append(("\((round + 1) * 16) random byte flips", flipped))
        }
        var detected = 0
        var untyped = 0
        var silent = 0
        for (index, (name, data)) in variants.enumerated() {
            let path = directory.path("corrupt-\(index).sqlite")
            try data.write(to: URL(fileURLWithPath: path))
            do {
                let damaged = try await open(path)
                do {
                    _ = try await damaged.collection("docs").getAll()
                    try await damaged.collection("docs").save(["new": true], id: "new")
                    _ = try await damaged.collection("docs").count()
                    silent += 1
                } catch {
                    if isTyped(error) { detected += 1 } else { untyped += 1; report.violation("\(name): untyped \(error)") }
                }
                await damaged.close()
            } catch {
                if isTyped(error) { detected += 1 } else { untyped += 1; report.violation("\(name): untyped \(error)") }
            }
        }
        report.set("corrupted files: variants", variants.count)
        report.set("corrupted files: typed errors", detected)
        report.set("corrupted files: opened and used without an error (damage outside touched pages or an empty file)", silent)
        report.set("corrupted files: untyped errors", untyped)
        report.set("crashes", 0)
    }
}
