import Hummingbird
import NIOCore

/// Per-request state: the connection (so a test hook can drop it) and the caller's token.
public struct SyncRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The accepted bearer token, set by the authentication middleware.
    var token: String?
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
