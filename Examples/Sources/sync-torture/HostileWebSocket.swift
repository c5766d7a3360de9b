import Foundation
import SyncLayer

/// C15/C16 over the socket: a realtime client connects to ``HostileWebSocketServer`` and receives
/// frames that break RFC 6455 (invalid UTF-8, reserved opcodes and bits, a masked server frame, bad
/// fragmentation, a message over the size limit, bad close codes) and messages that break the
/// protocol (truncated JSON, wrong types, huge numbers, unknown types, binary frames). Each
/// protocol violation must make the client fail the connection; every message must leave the
/// local store as it was (read through the SDK); afterwards the client must reconnect and apply
/// a valid change. HTTP goes to the reference server, which has the same documents.
enum HostileWebSocket {
    static let collection = "ws"

    /// Frames that break RFC 6455: the client must fail the connection (with this close code).
    static var protocolViolations: [(name: String, bytes: [UInt8], code: UInt16)] {
        let change = #"{"type":"insert","collection":"ws","recordId":"h-frame","data":{"v":1},"metadata":{"version":1,"seq":1}}"#
        var invalidUTF8 = Array(change.utf8)
        invalidUTF8.replaceSubrange(invalidUTF8.count - 3..<invalidUTF8.count - 2, with: [0xC3, 0x28])
        let maxMessage = UInt64(16 << 20)  // WebSocketService.defaultMaxMessageBytes
        return [
            ("invalid UTF-8 in a text frame", HostileFrames.frame(opcode: 0x1, invalidUTF8), 1007),
            ("text ending inside a character", HostileFrames.frame(opcode: 0x1, Array(#"{"type":"ping","x":""#.utf8) + [0xE2, 0x82]), 1007),
            ("frame over the size limit (16 MiB + 1 declared, 64 KiB sent)",
             HostileFrames.frame(opcode: 0x1, [UInt8](repeating: 0x20, count: 65_536), declaredLength: maxMessage + 1), 1009),
            ("64-bit length with the top bit set", HostileFrames.frame(opcode: 0x1, [], declaredLength: 1 << 63 | 5), 1002),
            ("reserved opcode 0x3", HostileFrames.frame(opcode: 0x3, Array(change.utf8)), 1002),
            ("reserved control opcode 0xB", HostileFrames.frame(opcode: 0xB, []), 1002),
            ("RSV1 set (no extension negotiated)", HostileFrames.frame(opcode: 0x1, Array(change.utf8), rsv: 0b100), 1002),
            ("RSV2 and RSV3 set", HostileFrames.frame(opcode: 0x1, Array(change.utf8), rsv: 0b011), 1002),
            ("masked server frame", HostileFrames.frame(opcode: 0x1, Array(change.utf8), mask: [1, 2, 3, 4]), 1002),
            ("continuation frame without a message", HostileFrames.frame(opcode: 0x0, Array(change.utf8)), 1002),
            ("new text frame inside a fragmented message",
             HostileFrames.text(#"{"type":"insert","#, fin: false) + HostileFrames.text(change), 1002),
            ("fragmented ping", HostileFrames.frame(opcode: 0x9, [1], fin: false), 1002),
            ("ping longer than 125 bytes", HostileFrames.frame(opcode: 0x9, [UInt8](repeating: 7, count: 126)), 1002),
            ("close with code 1005 (never on the wire)", HostileFrames.close(code: 1005), 1002),
            ("close with code 999", HostileFrames.close(code: 999), 1002),
            ("close with a 1-byte payload", HostileFrames.frame(opcode: 0x8, [3]), 1002),
            ("close reason not UTF-8", HostileFrames.close(code: 1000, reason: [0xFF, 0xFE]), 1007),
        ]
    }

    /// Well-formed frames whose message breaks the sync protocol: ignored, the connection kept.
    static var badMessages: [(name: String, bytes: [UInt8])] {
        func text(_ name: String, _ json: String) -> (String, [UInt8]) { (name, HostileFrames.text(json)) }
        let good = #"{"type":"delete","collection":"ws","recordId":"keep","metadata":{"version":99,"seq":99}}"#
        return [
            text("truncated JSON", String(good.dropLast(20))),
            text("not JSON", "<html>502</html>"),
            text("JSON array", "[1,2,3]"),
            text("type is a number", #"{"type":5,"collection":"ws","recordId":"keep"}"#),
            text("recordId is an array", #"{"type":"delete","collection":"ws","recordId":["keep"],"metadata":{"version":99}}"#),
            text("collection is a number", #"{"type":"delete","collection":7,"recordId":"keep","metadata":{"version":99}}"#),
            text("data is a string", #"{"type":"update","collection":"ws","recordId":"keep","data":"x","metadata":{"version":99}}"#),
            text("data is an array", #"{"type":"insert","collection":"ws","recordId":"h1","data":[1],"metadata":{"version":1}}"#),
            text("metadata is a string", #"{"type":"delete","collection":"ws","recordId":"keep","metadata":"version=99"}"#),
            text("version is a string", #"{"type":"delete","collection":"ws","recordId":"keep","metadata":{"version":"99"}}"#),
            text("version 1e400", #"{"type":"delete","collection":"ws","recordId":"keep","metadata":{"version":1e400}}"#),
            text("version beyond 2^64", #"{"type":"delete","collection":"ws","recordId":"keep","metadata":{"version":184467440737095516160}}"#),
            text("version -1e30", #"{"type":"delete","collection":"ws","recordId":"keep","metadata":{"version":-1e30}}"#),
            text("NaN version", #"{"type":"delete","collection":"ws","recordId":"keep","metadata":{"version":NaN}}"#),
            text("a change of another collection", #"{"type":"insert","collection":"sl_outbox","recordId":"h2","data":{"v":1},"metadata":{"version":1}}"#),
            text("unknown type", #"{"type":"drop_table","collection":"ws","recordId":"keep","metadata":{"version":99}}"#),
            text("type in capitals", #"{"type":"DELETE","collection":"ws","recordId":"keep","metadata":{"version":99}}"#),
            text("no type", #"{"collection":"ws","recordId":"keep","metadata":{"version":99}}"#),
            text("ack for no op", #"{"type":"ack","data":{"opId":"nobody","status":"applied","version":1}}"#),
            text("sync snapshot with wrong types", #"{"type":"sync","collection":"ws","data":{"records":"all"}}"#),
            text("deep nesting", #"{"type":"insert","collection":"ws","recordId":"h3","data":"# + String(repeating: "[", count: 50_000)
                + String(repeating: "]", count: 50_000) + #","metadata":{"version":1}}"#),
            ("fragmented message (3 frames) with wrong types",
             HostileFrames.text(#"{"type":"delete","collection":"ws","#, fin: false)
                + HostileFrames.frame(opcode: 0x0, Array(#""recordId":"keep","metadata":"#.utf8), fin: false)
                + HostileFrames.frame(opcode: 0x0, Array(#"{"version":"99"}}"#.utf8))),
            ("binary frame carrying a valid change", HostileFrames.frame(opcode: 0x2, Array(good.utf8))),
            ("pong nobody asked for", HostileFrames.frame(opcode: 0xA, [1, 2, 3])),
        ]
    }

    static func valid(_ id: String, seq: Int) -> [UInt8] {
        HostileFrames.text(#"{"type":"insert","collection":"ws","recordId":"\#(id)","data":{"v":"\#(id)"},"#
            + #""timestamp":"2026-11-21T17:00:00.000Z","metadata":{"version":1,"seq":\#(seq),"hlc":"1763744400000-0000-hostile","clientId":"hostile"}}"#)
    }

    static func run(report: Report) async throws {
        let server = try await TortureServer.start("wshostile")
        defer { Task { await server.stop() } }
        let hostile = try HostileWebSocketServer()
        defer { hostile.stop() }
        let sdk = try await SyncLayer(config: SyncConfig(
            baseURL: server.baseURL, collections: [collection], authToken: TortureServer.token, maxRetries: 1_000,
            enableAutoSync: true, enableRealtimeSync: true,
            websocketURL: URL(string: "ws://127.0.0.1:\(hostile.port)/ws")!, websocketReconnectDelay: .milliseconds(50),
            storage: .file(server.directory.path("client.sqlite")), protocolVersion: .v2))
        defer { Task { await sdk.close() } }
        guard let realtime = sdk.realtime else {
            report.violation("realtime is off although enabled")
            return
        }
        let documents = sdk.collection(collection)
        try await documents.save(["v": "kept"], id: "keep")
        try await documents.save(["v": 1], id: "h1")
        try await withTimeout(.seconds(20)) { try await sdk.waitForPendingWrites() }

        var framesSent = 0
        var connections = 0
        var failures: [String] = []

        /// The client's next connection, handshake answered; nil (and a violation) when it does not come.
        func connection(_ purpose: String) async -> HostileWebSocketServer.Connection? {
            report.doing("waiting for the client's connection (\(purpose))")
            // Skips the reconnect backoff, which grows with every failed connection.
            let reconnect = Task { try? await realtime.socket.connect() }
            defer { reconnect.cancel() }
            let accepted = await blocking { hostile.nextConnection(timeout: .seconds(15)) }
            guard let accepted else {
                failures.append("\(purpose): the client did not connect within 15 s")
                return nil
            }
            do {
                try await blocking { try accepted.handshake(timeout: .seconds(5)) }
            } catch {
                accepted.hangUp()
                failures.append("\(purpose): handshake failed: \(error)")
                return nil
            }
            connections += 1
            guard await eventually(.seconds(5), { realtime.state == .connected }) else {
                accepted.hangUp()
                failures.append("\(purpose): the client did not report the connection")
                return nil
            }
            _ = await blocking { accepted.reaction(within: .milliseconds(100), answering: collection) }  // subscriptions
            return accepted
        }

        /// Ends a connection from the server side and waits until the client has noticed.
        func hangUp(_ connection: HostileWebSocketServer.Connection) async {
            connection.hangUp()
            _ = await eventually(.seconds(5)) { realtime.state != .connected }
        }

        // Control: a valid change on the first connection is applied (the frames are right).
        var controlApplied = false
        if let first = await connection("control change") {
            first.write(valid("control", seq: 1))
            framesSent += 1
            controlApplied = await eventually(.seconds(5)) { (try? await documents.get("control")) != nil }
            await hangUp(first)
        }
        if !controlApplied { report.violation("a valid change on the hostile server's first connection was not applied") }
        let before = try await snapshot(sdk, collection)

        // Protocol violations, one connection each.
        var failedConnections = 0
        var codes: [String] = []
        for (name, bytes, code) in protocolViolations {
            guard let connection = await connection(name) else { continue }
            report.doing("sent \(name); waiting for the client to fail the connection")
            connection.write(bytes)
            framesSent += 1
            let reaction = await blocking { connection.reaction(within: .seconds(3), answering: collection) }
            switch reaction {
            case .closed(let sent):
                failedConnections += 1
                if sent != code { codes.append("\(name): \(sent.map(String.init) ?? "no code") (RFC 6455: \(code))") }
            case .dropped:
                failedConnections += 1
                codes.append("\(name): dropped without a close frame")
            case .open, .pong:
                failures.append("\(name): the client kept the connection open")
            }
            await hangUp(connection)
        }

        // Bad messages on one connection: ignored, the connection stays up (it answers a ping after them).
        var keptOpen = false
        if let connection = await connection("bad messages") {
            report.doing("sending \(badMessages.count) malformed messages")
            for (_, bytes) in badMessages {
                connection.write(bytes)
                framesSent += 1
            }
            connection.write(HostileFrames.frame(opcode: 0x9, Array("still there?".utf8)))
            let reaction = await blocking { connection.reaction(within: .seconds(5), answering: collection) }
            keptOpen = reaction == .pong
            if !keptOpen { failures.append("after the malformed messages the client answered \(reaction), not a pong") }
            await hangUp(connection)
        }
        try? await sdk.syncNow()  // what the HTTP syncs they triggered would bring is in too
        let after = try await snapshot(sdk, collection)
        let changed = Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()

        // Recovery: a new connection, then a valid change is applied.
        var recovered = false
        if let last = await connection("recovery") {
            report.doing("sent a valid change after the hostile frames; waiting for it to be applied")
            last.write(valid("after-hostile", seq: 2))
            framesSent += 1
            recovered = await eventually(.seconds(5)) { (try? await documents.get("after-hostile"))?["v"] == "after-hostile" }
            last.hangUp()
        }

        report.set("frames sent", framesSent)
        report.set("protocol violations (RFC 6455)", protocolViolations.count)
        report.set("connections failed by the client after a violation", "\(failedConnections)/\(protocolViolations.count)")
        report.set("malformed messages (truncated, wrong types, huge numbers, unknown types, binary, fragmented)", badMessages.count)
        report.set("connection kept after the malformed messages", keptOpen)
        report.set("client connections accepted", connections)
        report.set("crashes", 0)
        report.set("documents changed by hostile frames", changed.count)
        report.set("client recovered (reconnected, applied a valid change)", recovered)
        for code in codes { report.note("close code: \(code)") }
        for failure in failures { report.violation(failure) }
        if !changed.isEmpty { report.violation("hostile frames changed \(changed.prefix(5))") }
        if failedConnections != protocolViolations.count {
            report.violation("\(protocolViolations.count - failedConnections) protocol violations did not fail the connection")
        }
        if !recovered { report.violation("after the hostile frames the client did not apply a valid change") }
    }
}

/// Runs blocking socket work off the cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
func eventually(_ limit: Duration, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
