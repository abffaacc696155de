import Heartbeat
import LabCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Where a WebSocket client connects: host, port and the request target ("/path?query").
public struct WebSocketEndpoint: Sendable, Hashable {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int
    /// The request target of the opening handshake, starting with "/".
    public var target: String

    /// Creates an endpoint.
    public init(host: String, port: Int, target: String = "/") {
        self.host = host
        self.port = port
        self.target = target.hasPrefix("/") ? target : "/" + target
    }

    /// Reads "ws://host[:port][/path]" (port 80 when absent); errors say what is wrong.
    public init(url: String) throws(UnitParseError) {
        guard url.hasPrefix("ws://") else {
            throw UnitParseError("'\(url)' is not a ws:// URL: expected ws://host:port[/path] (wss is not supported)")
        }
        let rest = url.dropFirst("ws://".count)
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<slash]
        var target = String(rest[slash...])
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }
        var host = Substring(authority)
        var port = 80
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else {
                    throw UnitParseError("'\(url)' has a bad port: expected ws://host:port[/path]")
                }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]) else {
                throw UnitParseError("'\(url)' has a bad port: expected ws://host:port[/path]")
            }
            port = p
        }
        guard !host.isEmpty else { throw UnitParseError("'\(url)' has no host: expected ws://host:port[/path]") }
        guard (1...65535).contains(port) else { throw UnitParseError("'\(url)': port \(port) is not in 1-65535") }
        self.init(host: String(host), port: port, target: target)
    }

    /// The Host header's value.
    var hostHeader: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Settings of Flatline's built-in WebSocket keepalive client.
public struct WebSocketKeepaliveClientConfiguration: Sendable, Hashable {
    /// Keepalive, close timeout and message size, `websockets`' defaults.
    public var options = WebSocketKeepaliveOptions()
    /// How often the client sends a text message ("m1", "m2"...); nil for never.
    public var sendInterval: TimeSpan?
    /// Connection id used in the event log.
    public var name = "c1"

    /// The defaults.
    public init() {}
}

/// Flatline's built-in WebSocket client: it opens one connection, runs RFC 6455 keepalive on it
/// with the `WebSocketKeepalive` machine, as a Python `websockets` client does, optionally sends
/// text messages at a rate, and writes every step to the event log. It does not reconnect.
public final class WebSocketKeepaliveClient: @unchecked Sendable {
    private let loop: any EventLoop
    private let configuration: WebSocketKeepaliveClientConfiguration
    /// The open connection's handler; only touched on `loop`.
    private var handler: WebSocketKeepaliveHandler?
    private var channel: (any Channel)?
    private let closedPromise: EventLoopPromise<Void>
    private var opened = false

    /// Completes once the connection has ended, or once connecting has failed.
    public var closed: EventLoopFuture<Void> { closedPromise.futureResult }

    private init(loop: any EventLoop, configuration: WebSocketKeepaliveClientConfiguration) {
        self.loop = loop
        self.configuration = configuration
        self.closedPromise = loop.makePromise(of: Void.self)
    }

    /// Starts connecting to `endpoint`; a connect or upgrade failure is a `connect_error` event and
    /// completes `closed`. Throws only for a bad keepalive setting.
    public static func start(group: any EventLoopGroup, endpoint: WebSocketEndpoint,
                             configuration: WebSocketKeepaliveClientConfiguration = .init(),
                             events: any EventSink) throws -> WebSocketKeepaliveClient {
        _ = try WebSocketKeepalive(configuration: configuration.options.keepalive)
        let client = WebSocketKeepaliveClient(loop: group.next(), configuration: configuration)
        client.connect(endpoint: endpoint, events: events, startedAt: client.loop.instant)
        return client
    }

    /// Whether the opening handshake completed (the connection may have ended since).
    public var didOpen: Bool {
        get async { (try? await loop.submit { self.opened }.get()) ?? false }
    }

    /// Closes as an application would (Close 1000) and waits for the closing handshake, up to the
    /// close timeout; then the connection is closed whatever the peer did.
    public func stop() async {
        try? await loop.submit {
            if let handler = self.handler { handler.initiateClose(code: WebSocketCloseCode.normalClosure, reason: "") }
            else { self.channel?.close(promise: nil) }
        }.get()
        let timeout = loop.scheduleTask(in: .nanoseconds(configuration.options.closeTimeout.nanoseconds + 100_000_000)) {
            self.channel?.close(promise: nil)
        }
        try? await closed.get()
        timeout.cancel()
    }

    private func connect(endpoint: WebSocketEndpoint, events: any EventSink, startedAt: Instant) {
        let name = configuration.name
        let setup = WebSocketKeepaliveHandler.Setup(role: .client(sendInterval: configuration.sendInterval), name: name,
                                                    path: endpoint.target, options: configuration.options,
                                                    events: events, startedAt: startedAt)
        let loop = self.loop
        @Sendable func connectError(_ detail: String) {
            let now = loop.instant
            events.record(LabEvent(time: now - startedAt, connection: name, side: .client, kind: .connectError,
                                   reason: CloseReason.transportError.rawValue, detail: detail))
        }
        let maxFrameSize = configuration.options.maxMessageSize
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                self.channel = channel
                return channel.eventLoop.makeCompletedFuture {
                    try WebSocketClientHandshake.configure(
                        channel, target: endpoint.target, host: endpoint.hostHeader, maxFrameSize: maxFrameSize,
                        failed: { detail in connectError(detail) },
                        upgraded: { channel in
                            let handler = try WebSocketKeepaliveHandler(setup: setup) {}
                            try channel.pipeline.syncOperations.addHandler(WebSocketFrameRulesHandler(fromClient: false))
                            try channel.pipeline.syncOperations.addHandler(
                                NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                                                            maxAccumulatedFrameSize: maxFrameSize))
                            try channel.pipeline.syncOperations.addHandler(handler)
                            self.handler = handler
                            self.opened = true
                        })
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    connectError("\(error)")
                    self.closedPromise.succeed(())
                case .success(let channel):
                    channel.closeFuture.whenComplete { _ in
                        self.handler = nil
                        self.closedPromise.succeed(())
                    }
                }
            }
    }
}
