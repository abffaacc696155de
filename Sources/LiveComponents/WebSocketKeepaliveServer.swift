import Heartbeat
import LabCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Flatline's built-in WebSocket server: it accepts an upgrade on any path, echoes every text and
/// binary message, and runs RFC 6455 keepalive per connection with the `WebSocketKeepalive`
/// machine, as a Python `websockets` server does; every ping, pong and close goes to the event log.
public final class WebSocketKeepaliveServer: @unchecked Sendable {
    /// The loop the listener, every connection and every timer of this server run on.
    private let loop: any EventLoop
    private let options: WebSocketKeepaliveOptions
    private let events: any EventSink
    private let startedAt: Instant
    private var listener: (any Channel)?
    /// Open connections by name; only touched on `loop`.
    private var connections: [String: WebSocketKeepaliveHandler] = [:]
    private var connectionCount = 0
    private var stopping = false

    /// The bound port.
    public private(set) var port = 0

    private init(loop: any EventLoop, options: WebSocketKeepaliveOptions, events: any EventSink) {
        self.loop = loop
        self.options = options
        self.events = events
        self.startedAt = loop.instant
    }

    /// Starts a server on `host:port` (port 0 picks one); it fails at once on a bad keepalive setting.
    public static func start(group: any EventLoopGroup, host: String = "127.0.0.1", port: Int,
                             options: WebSocketKeepaliveOptions = .init(),
                             events: any EventSink) async throws -> WebSocketKeepaliveServer {
        _ = try WebSocketKeepalive(configuration: options.keepalive)
        let loop = group.next()
        let server = WebSocketKeepaliveServer(loop: loop, options: options, events: events)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: options.maxMessageSize,
            // A frame too large is the connection's to refuse (1009 and a lingering close): NIO's
            // own handling closes at once, and the rest of the frame still arriving turns that
            // close into a reset that can lose the Close frame.
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                // A handshake that breaks RFC 6455 goes on to UpgradeRequiredResponder, which says why.
                channel.eventLoop.makeSucceededFuture(WebSocketServerRules.handshakeRefusal(head) == nil ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    try server.attach(channel: channel, path: head.uri)
                }
            }
        )
        let channel = try await ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let refusal = NIOLoopBound(UpgradeRequiredResponder(), eventLoop: channel.eventLoop)
                    let timeout = NIOLoopBound(HTTPRequestTimeoutHandler(requestTimeout: options.handshakeTimeout),
                                               eventLoop: channel.eventLoop)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(timeout.value, promise: nil)
                            context.pipeline.syncOperations.removeHandler(refusal.value, promise: nil)
                        })
                    )
                    try channel.pipeline.syncOperations.addHandler(timeout.value)
                    try channel.pipeline.syncOperations.addHandler(refusal.value)
                }
            }
            .bind(host: host, port: port).get()
        server.listener = channel
        server.port = channel.localAddress?.port ?? port
        return server
    }

    /// Stops listening, starts the closing handshake (1001 "going away", as `websockets` does on
    /// shutdown) on every open connection, and closes what is still open after the close timeout.
    public func stop() async {
        try? await listener?.close()
        let open = try? await loop.submit { () -> Int in
            self.stopping = true
            for handler in self.connections.values { handler.initiateClose(code: 1001, reason: "going away") }
            return self.connections.count
        }.get()
        guard let open, open > 0 else { return }
        // Bounded: wait for the peers' answers, a few milliseconds at a time, up to the close timeout.
        let deadline = loop.instant + options.closeTimeout
        while loop.instant < deadline {
            try? await loop.scheduleTask(in: .milliseconds(5)) {}.futureResult.get()
            let left = (try? await loop.submit { self.connections.count }.get()) ?? 0
            if left == 0 { return }
        }
    }

    private func attach(channel: any Channel, path: String) throws {
        connectionCount += 1
        let name = "ws\(connectionCount)"
        let setup = WebSocketKeepaliveHandler.Setup(role: .server, name: name, path: path, options: options,
                                                    events: events, startedAt: startedAt)
        let handler = try WebSocketKeepaliveHandler(setup: setup) { [weak self] in
            self?.connections[name] = nil
        }
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameRulesHandler(fromClient: true))
        try channel.pipeline.syncOperations.addHandler(
            NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                                        maxAccumulatedFrameSize: options.maxMessageSize))
        try channel.pipeline.syncOperations.addHandler(handler)
        connections[name] = handler
        if stopping { handler.initiateClose(code: 1001, reason: "going away") }
    }
}

/// Answers a request the upgrader did not take, and closes the connection: a plain HTTP request
/// with 426 Upgrade Required, as `websockets` does; a WebSocket handshake that breaks RFC 6455 with
/// its 400 or 426 (`WebSocketServerRules.handshakeRefusal`).
private final class UpgradeRequiredResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        if WebSocketServerRules.asksForUpgrade(head), let refusal = WebSocketServerRules.handshakeRefusal(head) {
            HTTPResponder.respond(on: context.channel, request: head, status: refusal.status, contentType: refusal.contentType,
                                  body: refusal.body, extraHeaders: refusal.headers)
            return
        }
        HTTPResponder.respond(on: context.channel, request: head, status: .upgradeRequired,
                              body: "Failed to open a WebSocket connection: this server only speaks WebSocket.\n",
                              extraHeaders: [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")])
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpgradeRequiredResponder: Sendable {}
