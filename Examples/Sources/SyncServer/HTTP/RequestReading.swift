import Hummingbird

/// Reading bodies, paths and queries strictly (PROTOCOL.md §1).
enum RequestReading {
    /// The body as JSON, or a 400/413 `APIError`.
    ///
    /// Nesting is read as deep as the deepest allowed document inside the deepest envelope (a v2 push:
    /// body, ops, op). A container deeper than that is checked but not built, and an empty array takes its
    /// place: the document holding it stays too deep and is refused on its own (per op in a v2 push), not
    /// the whole body.
    static func json(_ request: Request, limits: ServerConfiguration.Limits) async throws -> JSONValue {
        let maxBytes = limits.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBytes {
            throw tooLarge(maxBytes)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBytes)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw tooLarge(maxBytes)
        }
        // Past the hard cap the substitute could land inside an allowed depth and be stored: refuse instead.
        let depth = limits.document.maxDepth + ServerConfiguration.Limits.envelopeDepth
        let overflow: JSONParser.DepthOverflow = depth <= ServerConfiguration.Limits.maxBodyDepth ? .substituteEmptyArray : .fail
        do {
            return try JSONParser.parse(
                buffer.readableBytesView, maxDepth: min(depth, ServerConfiguration.Limits.maxBodyDepth), beyondMaxDepth: overflow)
        } catch {
            switch error.reason {
            case .invalidUTF8: throw APIError.invalidJSON("body is not valid UTF-8")
            case .syntax: throw APIError.invalidJSON("body is not valid JSON (at byte \(error.offset))")
            case .tooDeep: throw APIError(.badRequest, code: "DOCUMENT_TOO_DEEP", message: "body nesting is too deep")
            }
        }
    }

    static func tooLarge(_ maxBytes: Int) -> APIError {
        APIError(.contentTooLarge, code: "PAYLOAD_TOO_LARGE", message: "request body exceeds \(maxBytes) bytes")
    }

    /// A JSON object body.
    static func object(_ request: Request, limits: ServerConfiguration.Limits) async throws -> [String: JSONValue] {
        guard let object = try await json(request, limits: limits).objectValue else {
            throw APIError.invalidRequest("body must be a JSON object")
        }
        return object
    }

    /// A path parameter, percent-decoded.
    static func pathParameter(_ name: String, _ context: SyncRequestContext) throws -> String {
        guard let raw = context.parameters.get(name), let decoded = percentDecode(raw, plusIsSpace: false) else {
            throw APIError.invalidIdentifier("malformed \(name) in path")
        }
        return decoded
    }

    /// Query pairs in order, keys and values percent-decoded and `+` read as a space.
    static func query(_ request: Request) throws -> [(key: String, value: String)] {
        guard let query = request.uri.query, !query.isEmpty else { return [] }
        return try query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = percentDecode(String(parts[0]), plusIsSpace: true),
                  let value = percentDecode(parts.count > 1 ? String(parts[1]) : "", plusIsSpace: true)
            else { throw APIError.invalidRequest("malformed query string") }
            return (key, value)
        }
    }

    /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
    static func percentDecode(_ text: String, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
