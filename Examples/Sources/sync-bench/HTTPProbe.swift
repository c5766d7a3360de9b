import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Times one POST of a body of the size of a v2 push batch through URLSession, as is and with
/// the `Expect` header emptied: libcurl (under URLSession on Linux) sends `Expect: 100-continue`
/// for larger bodies and waits up to 1 s for a `100 Continue` the server may never send.
enum HTTPProbe {
    static func postSeconds(url: URL, token: String, bytes: Int, suppressExpect: Bool) async throws -> Double {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if suppressExpect { request.setValue("", forHTTPHeaderField: "Expect") }
        request.httpBody = Data(repeating: UInt8(ascii: " "), count: bytes - 2) + Data("{}".utf8)
        return try await measure { _ = try await URLSession.shared.data(for: request) }
    }

    /// Median of a few POSTs each way, as a note.
    static func note(baseURL: String, token: String, bytes: Int) async -> String {
        guard let url = URL(string: baseURL + "/v2/push") else { return "" }
        do {
            var plain = Samples(), suppressed = Samples()
            for _ in 0..<3 {
                plain.add(try await postSeconds(url: url, token: token, bytes: bytes, suppressExpect: false))
                suppressed.add(try await postSeconds(url: url, token: token, bytes: bytes, suppressExpect: true))
            }
            return "one \(bytes / 1024) KiB POST through URLSession: \(Format.time(plain.median)); "
                + "with the Expect header emptied: \(Format.time(suppressed.median))"
        } catch {
            return "HTTP probe failed: \(error)"
        }
    }
}
