/// The bearer token shared by HTTP and the WebSocket, with a single-flight refresh.
///
/// When several requests get a 401 at once, one call of the provider serves them all: a
/// caller whose token is already stale gets the newer one without another refresh.
actor TokenStore {
    private(set) var token: String?
    private let provider: (@Sendable () async throws -> String)?
    private var refreshing: Task<String?, Never>?

    init(token: String?, provider: (@Sendable () async throws -> String)?) {
        self.token = token
        self.provider = provider
    }

    var canRefresh: Bool { provider != nil }

    func set(_ token: String?) {
        self.token = token
    }

    /// A fresh token after `rejected` failed with a 401, or nil when none can be had.
    func refresh(after rejected: String?) async -> String? {
        if let token, token != rejected { return token }
        if let refreshing { return await refreshing.value }
        guard let provider else { return nil }
        let task = Task<String?, Never> { try? await provider() }
        refreshing = task
        let fresh = await task.value
        refreshing = nil
        if let fresh, !fresh.isEmpty { token = fresh }
        return fresh.flatMap { $0.isEmpty ? nil : $0 }
    }
}
