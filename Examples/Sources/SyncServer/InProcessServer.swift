import Hummingbird
import Logging
import ServiceLifecycle

/// The reference server running inside the current process, for tests and demos.
///
/// ```swift
/// let server = try await InProcessServer.start(configuration: ServerConfiguration(port: 0, tokens: ["t"]))
/// defer { Task { await server.stop() } }
/// let url = server.baseURL            // http://127.0.0.1:<free port>
/// ```
///
/// With ``ServerConfiguration/tls`` set, the URLs are `https://` and `wss://`.
public final class InProcessServer: Sendable {
    /// The bound port.
    public let port: Int
    public let host: String
    /// Whether the server speaks TLS (``ServerConfiguration/tls``).
    public let usesTLS: Bool
    private let serviceGroup: ServiceGroup
    private let task: Task<Void, any Error>

    /// `http://host:port`, or `https://` with TLS.
    public var baseURL: String { "\(usesTLS ? "https" : "http")://\(host):\(port)" }
    /// `ws://host:port/ws`, or `wss://` with TLS.
    public var webSocketURL: String { "\(usesTLS ? "wss" : "ws")://\(host):\(port)/ws" }

    /// Starts the server and returns once it listens.
    ///
    /// - Parameters:
    ///   - configuration: use port 0 for a free port.
    ///   - faults: test hooks the caller keeps to switch faults on.
    /// - Throws: when the database or the TLS files cannot be opened, or the port cannot be bound.
    public static func start(
        configuration: ServerConfiguration, faults: FaultInjector = FaultInjector(), store: (any SyncStore)? = nil,
        logger: Logger? = nil
    ) async throws -> InProcessServer {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = try buildApplication(
            configuration: configuration, faults: faults, store: store,
            logger: logger ?? Logger(label: "synclayer-server", factory: { _ in SwiftLogNoOpLogHandler() })
        ) { port in
            portContinuation.yield(port)
            portContinuation.finish()
        }
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "synclayer-server.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() })))
        let task = Task {
            defer { portContinuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The service group ended before binding: surface its error.
            try await task.value
            throw ServerStartFailure()
        }
        return InProcessServer(port: port, host: configuration.host, usesTLS: configuration.tls != nil,
                               serviceGroup: group, task: task)
    }

    private init(port: Int, host: String, usesTLS: Bool, serviceGroup: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.host = host
        self.usesTLS = usesTLS
        self.serviceGroup = serviceGroup
        self.task = task
    }

    /// Stops accepting, closes connections gracefully and waits until the server has stopped.
    public func stop() async {
        await serviceGroup.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

/// The server stopped before it was listening.
public struct ServerStartFailure: Error {}
