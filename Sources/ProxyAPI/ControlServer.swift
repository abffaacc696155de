import FaultProxy
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The Toxiproxy-compatible control API served over HTTP/1.1 (NIOHTTP1), so existing Toxiproxy
/// clients drive Flatline's proxies unchanged. Start it, point clients at the returned address,
/// stop it at shutdown.
public final class ControlServer: Sendable {
    /// The request-to-response logic, usable without sockets.
    public let api: ControlAPI
    /// Request bodies larger than this are refused with 413 (1 MiB by default).
    public let maxBodySize: Int
    /// A connection that sends nothing for this long is closed.
    public let idleTimeout: TimeAmount

    private let group: any EventLoopGroup
    private let state = Mutex<State>(State())

    private struct State {
        var listener: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
    }

    /// Creates a server for `registry`'s proxies whose sockets run on `group`.
    public init(registry: ProxyRegistry, group: any EventLoopGroup, maxBodySize: Int = 1 << 20,
                idleTimeout: TimeAmount = .seconds(60)) {
        self.api = ControlAPI(registry: registry)
        self.group = group
        self.maxBodySize = maxBodySize
        self.idleTimeout = idleTimeout
    }

    /// Starts listening on `host:port` (port 0 picks a free one) and returns the bound address.
    public func start(host: String, port: Int) async throws -> HostPort {
        let api = self.api
        let maxBodySize = self.maxBodySize
        let idleTimeout = self.idleTimeout
        let server = self
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let sync = child.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try sync.addHandler(HTTPControlHandler(api: api, maxBodySize: maxBodySize))
                    server.track(child)
                }
            }
            .bind(host: host, port: port).get()
        let stale: (any Channel)? = state.withLock { s in
            defer { s.listener = channel }
            return s.listener
        }
        try? await stale?.close()
        return HostPort(host: host, port: channel.localAddress?.port ?? port)
    }

    /// Stops listening and closes every open API connection.
    public func stop() async {
        let (listener, connections) = state.withLock { s in
            defer {
                s.listener = nil
                s.connections = [:]
            }
            return (s.listener, Array(s.connections.values))
        }
        try? await listener?.close()
        for c in connections { try? await c.close() }
    }

    /// Creates or replaces proxies from a `--config` file's JSON (Toxiproxy's populate format:
    /// an array of proxies, or `{"proxies": [...]}`); errors name `source` and the entry and field.
    @discardableResult
    public func populate(json: [UInt8], source: String) async throws(PopulateError) -> [ProxySnapshot] {
        try await api.populate(json: json, source: source)
    }

    /// `populate(json:source:)` for file contents read as `Data`.
    @discardableResult
    public func populate(json: Data, source: String) async throws(PopulateError) -> [ProxySnapshot] {
        try await api.populate(json: [UInt8](json), source: source)
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.connections[id] = channel }
        channel.closeFuture.whenComplete { _ in
            _ = self.state.withLock { $0.connections.removeValue(forKey: id) }
        }
    }
}
