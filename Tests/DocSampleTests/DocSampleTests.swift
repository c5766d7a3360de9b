import Foundation
import Testing

/// Every Swift sample a user reads must compile against the current API. The samples are kept word
/// for word in Swift files the test targets compile (`sampleFiles`); this suite finds every
/// ```` ```swift ```` block in the Markdown documents and in the sources' `///` doc comments and fails,
/// naming the document and line, when one is not found there. A block that starts with
/// `// swift-tools-version` is a package manifest and is evaluated by `swift package dump-package`.
@Suite struct DocSampleTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where samples are compiled: public API with plain imports, internal types with
    /// `@testable import`, and the reference server (Examples package).
    static let sampleFiles = [
        "Tests/DocSampleTests/Samples.swift",
        "Tests/SyncLayerTests/InternalDocSamples.swift",
        "Examples/Tests/SyncServerTests/DocSamples.swift",
        "Examples/Tests/TodoTests/DocSamples.swift",
    ]

    struct Sample: CustomStringConvertible {
        var file: String
        var line: Int
        var lines: [String]
        var description: String { "\(file):\(line)" }
        var isManifest: Bool { lines.first?.hasPrefix("// swift-tools-version") ?? false }
    }

    @Test func everySwiftSampleInTheDocumentsIsCompiled() throws {
        let samples = try Self.allSamples()
        #expect(samples.count >= 15, "the documents hold fewer samples than expected: \(samples)")
        let compiled = try Self.sampleFiles.map { try Self.normalized(Self.read($0).components(separatedBy: "\n")) }
        let imports = Set(compiled.joined().filter { $0.hasPrefix("import ") })
        for sample in samples where !sample.isManifest {
            let lines = Self.normalized(sample.lines)
            for line in lines where line.hasPrefix("import ") {
                #expect(imports.contains(line), "\(sample): `\(line)` is not imported by the sample files")
            }
            let body = lines.filter { !$0.hasPrefix("import ") }
            #expect(compiled.contains { Self.contains($0, run: body) },
                    "\(sample): this sample is not in \(Self.sampleFiles.joined(separator: " or ")), so nothing compiles it")
        }
    }

    @Test func theInstallSnippetIsAPackageManifest() throws {
        let manifests = try Self.allSamples().filter(\.isManifest)
        #expect(!manifests.isEmpty, "README.md has no package manifest sample")
        for manifest in manifests {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            try manifest.lines.joined(separator: "\n").write(to: folder.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["swift", "package", "--package-path", folder.path, "dump-package"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(manifest): swift package dump-package failed:\n\(text)")
            #expect(text.contains("\"SyncLayer\""), "\(manifest): the manifest does not name the SyncLayer product")
        }
    }

    // MARK: Finding samples

    static func allSamples() throws -> [Sample] {
        let files = FileManager.default
        var markdown = ["README.md", "Examples/README.md"]
        for folder in ["doc", "Sources/SyncLayer/SyncLayer.docc"] {
            markdown += try files.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)
                .filter { $0.hasSuffix(".md") }.sorted().map { "\(folder)/\($0)" }
        }
        var samples = try markdown.flatMap { try blocks(in: $0, linePrefix: "") }
        for folder in ["Sources", "Examples/Sources"] {
            let base = root.appendingPathComponent(folder)
            guard let walker = files.enumerator(atPath: base.path) else { continue }
            for case let path as String in walker where path.hasSuffix(".swift") {
                samples += try blocks(in: "\(folder)/\(path)", linePrefix: "///")
            }
        }
        return samples
    }

    /// The ```` ```swift ```` blocks of a file, in lines that start with `linePrefix` (after indentation).
    static func blocks(in file: String, linePrefix: String) throws -> [Sample] {
        var samples: [Sample] = []
        var open: Sample?
        for (index, raw) in try read(file).components(separatedBy: "\n").enumerated() {
            var line = Substring(raw.drop { $0 == " " || $0 == "\t" })
            guard line.hasPrefix(linePrefix) else {
                if !linePrefix.isEmpty { open = nil }
                continue
            }
            line = line.dropFirst(linePrefix.count)
            if !linePrefix.isEmpty, line.hasPrefix(" ") { line = line.dropFirst() }
            let fence = line.trimmingCharacters(in: .whitespaces)
            if var sample = open {
                if fence == "```" {
                    samples.append(sample)
                    open = nil
                } else {
                    sample.lines.append(String(line))
                    open = sample
                }
            } else if fence == "```swift" {
                open = Sample(file: file, line: index + 1, lines: [])
            }
        }
        return samples
    }

    // MARK: Matching

    /// Lines without indentation, blank lines and lines that are only `…` (a sample's "and so on").
    static func normalized(_ lines: [String]) -> [String] {
        lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0 != "…" }
    }

    /// Whether `run` appears as consecutive lines of `lines`; a `…` inside a sample line stands for
    /// any text of the compiled line (`catch { … }` matches `catch { showError() }`).
    static func contains(_ lines: [String], run: [String]) -> Bool {
        guard !run.isEmpty, run.count <= lines.count else { return run.isEmpty }
        return (0...(lines.count - run.count)).contains { start in
            zip(lines[start..<(start + run.count)], run).allSatisfy(matches)
        }
    }

    static func matches(_ line: String, _ sample: String) -> Bool {
        let parts = sample.components(separatedBy: "…")
        guard parts.count > 1 else { return line == sample }
        guard line.hasPrefix(parts[0]), line.hasSuffix(parts[parts.count - 1]) else { return false }
        var rest = line.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count)
        for part in parts.dropFirst().dropLast() {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }
}
