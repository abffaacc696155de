import Foundation
import Heartbeat
import LabCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Settings of Flatline's built-in Engine.IO/Socket.IO server; defaults are python-socketio's.
public struct EngineIOServerConfiguration: Sendable {
    /// The URL path the server answers on.
    public var path = "/socket.io/"
    /// How often the server pings each client.
    public var pingInterval: TimeSpan = .seconds(25)
    /// How long it waits for the pong before closing with "ping timeout".
    public var pingTimeout: TimeSpan = .seconds(20)
    /// The largest payload a client may send, in bytes.
    public var maxPayload = 1_000_000
    /// Whether polling clients are offered the upgrade to WebSocket.
    public var allowUpgrades = true
    /// Seed for session ids, so a simulated and a live run name sessions alike.
    public var seed: UInt64 = 0
    /// How often the server emits a "tick" event to every connected client; nil for never.
    public var emitInterval: TimeSpan?
    /// Payload size of each emitted tick, in bytes.
    public var emitSize = 64
    /// The event a dashboard client's custom ping emits; the server answers it with `pongEvent`,
    /// echoing its arguments (as the simulated server does).
    public var pingEvent = "ping"
    /// The event the server answers a custom ping with.
    public var pongEvent = "pong"
    /// How long a connection may take to deliver a whole HTTP request (headers and body) before it
    /// is closed, so unfinished requests cannot hold sockets forever.
    public var requestTimeout: TimeSpan = .seconds(10)

    /// The defaults.
    /// python-engineio's service task (server.stack python-socketio): an overdue pong is noticed
    /// only at its sweeps, every pingTimeout from this long after the server started; nil: at once.
    public var serviceSweepPhase: TimeSpan?
    /// A failure detector deciding when a pong is overdue instead of `pingTimeout` after the ping
    /// (a scenario's `detector:`); nil for engine.io's fixed timer.
    public var detector: DetectorChoice?
    /// The application's broadcast stream: event k at `startedAt + k·broadcastInterval`, to every
    /// session connected then (a scenario's `workload.broadcast`); nil for none.
    public var broadcastInterval: TimeSpan?
    /// The encoded size a broadcast event is padded to.
    public var broadcastSize = 64
    /// The application's replay of the broadcast stream on connect (nil: none).
    public var broadcastReplay: BroadcastReplay?
    /// Which instance this server is (1-based) when several run behind a proxy; its connects say so.
    public var instance: Int?
    /// Per-room streams: these rooms each have their own broadcast stream (nil: one to everyone).
    public var broadcastRooms: [String]?
    /// socket.io's connection state recovery (a scenario's `server.connectionStateRecovery`); nil for off.
    public var recovery: SocketIORecoveryOptions?

    /// socket.io's defaults: 25 s / 20 s heartbeat, 1 MB payloads, upgrades on, no workload.
    public init() {}
}

/// Flatline's built-in Engine.IO v4 / Socket.IO v5 server on SwiftNIO: HTTP long-polling and
/// WebSocket transports with upgrade, CORS for browsers, and the event log. The protocol logic is
/// in the Heartbeat machines; this type only moves bytes and timers for them.
public final class EngineIOServer: @unchecked Sendable {
    /// The event loop every session, channel and timer of this server runs on.
    let loop: any EventLoop
    let configuration: EngineIOServerConfiguration
    let events: any EventSink
    let startedAt: Instant
    private var listener: (any Channel)?
    /// Sessions by sid; only touched on `loop`.
    var sessions: [String: EngineIOServerSession] = [:]
    private var sidRandom: SeededGenerator
    /// The store for connection state recovery that every session of this server shares (nil: off).
    let recovery: SocketIORecoveryStore?

    /// The instance's process died (a scenario's `server: { down: [k] }`): what the recovery store
    /// kept is gone with it.
    public func clearRecovery() {
        recovery?.clear(at: Instant.monotonicNow())
    }

    /// The event loop the server and its sessions run on.
    public var eventLoop: any EventLoop { loop }

    /// The bound port.
    public private(set) var port = 0

    private init(loop: any EventLoop, configuration: EngineIOServerConfiguration, events: any EventSink, startedAt: Instant?) {
        self.loop = loop
        self.configuration = configuration
        self.events = events
        self.startedAt = startedAt ?? loop.instant
        self.sidRandom = SeededGenerator(seed: configuration.seed, stream: [0x736964])
        let origin = self.startedAt
        recovery = configuration.recovery.map { options in
            SocketIORecoveryStore(options: options, broadcast: configuration.broadcastInterval.map {
                SocketIORecoveryStore.Broadcast(interval: $0, origin: origin, size: configuration.broadcastSize,
                                                rooms: configuration.broadcastRooms)
            }, origin: origin, seed: configuration.seed &+ 0x5ec0_7e41)
        }
    }

    /// Starts a server on `host:port` (port 0 picks one); event times count from `startedAt`
    /// (default: now), so a runner can give every component of a run one time origin.
    public static func start(group: any EventLoopGroup, host: String = "127.0.0.1", port: Int,
                             configuration: EngineIOServerConfiguration = .init(),
                             events: any EventSink, startedAt: Instant? = nil) async throws -> EngineIOServer {
        let loop = group.next()
        let server = EngineIOServer(loop: loop, configuration: configuration, events: events, startedAt: startedAt)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: max(1 << 16, configuration.maxPayload),
            // A frame too large is EngineIOWebSocketHandler's to refuse (1009 and a lingering
            // close): NIO's own handling closes at once, and the rest of the frame still arriving
            // turns that close into a reset that can lose the Close frame.
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                // A declined upgrade goes on to the HTTP handler, which answers why (handleHTTP).
                let ok = EngineIORequest(uri: head.uri).path.hasPrefix(configuration.path) && server.upgradeRefusal(head) == nil
                return channel.eventLoop.makeSucceededFuture(ok ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    try server.attachWebSocket(channel: channel, request: EngineIORequest(uri: head.uri))
                }
            }
        )
        let channel = try await ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let http = EngineIOHTTPHandler(server: server, maxBody: configuration.maxPayload)
                    let timeout = HTTPRequestTimeoutHandler(requestTimeout: configuration.requestTimeout)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(timeout, promise: nil)
                            context.pipeline.syncOperations.removeHandler(http, promise: nil)
                        })
                    )
                    try channel.pipeline.syncOperations.addHandler(timeout)
                    try channel.pipeline.syncOperations.addHandler(http)
                }
            }
            .bind(host: host, port: port).get()
        server.listener = channel
        server.port = channel.localAddress?.port ?? port
        return server
    }

    /// Stops listening and closes every session with "forced close".
    public func stop() async {
        try? await listener?.close()
        try? await loop.submit {
            for session in self.sessions.values { session.close(.forcedClose, notifyPeer: true) }
        }.get()
    }

    /// Records an event stamped with the time since the server started.
    func record(_ connection: String, _ kind: EventKind, reason: String? = nil, rtt: TimeSpan? = nil, detail: String? = nil,
                at now: Instant? = nil) {
        let now = now ?? loop.instant
        events.record(LabEvent(time: now - startedAt, connection: connection, side: .server, kind: kind,
                               reason: reason, rtt: rtt, detail: detail))
    }

    /// A session id like engine.io's base64id, drawn from the seeded generator.
    func newSid() -> String {
        SocketIOServerSession.makeSocketID(using: &sidRandom)
    }

    // MARK: HTTP long-polling

    func handleHTTP(_ head: HTTPRequestHead, body: String, channel: any Channel) {
        let request = EngineIORequest(uri: head.uri)
        guard request.path.hasPrefix(configuration.path) else {
            HTTPResponder.respond(on: channel, request: head, status: .notFound, body: "not found")
            return
        }
        if head.method == .OPTIONS {
            HTTPResponder.preflight(on: channel, request: head)
            return
        }
        func fail(_ error: EngineIOHTTPError, _ status: HTTPResponseStatus = .badRequest) {
            HTTPResponder.respond(on: channel, request: head, status: status, contentType: "application/json", body: error.body)
        }
        if WebSocketServerRules.asksForUpgrade(head) {
            // Only an upgrade the upgrader declined gets here: say why (RFC 6455 section 4.2.2).
            let refusal = upgradeRefusal(head) ?? HTTPRefusal(status: .badRequest, contentType: "application/json", body: EngineIOHTTPError.badRequest.body)
            HTTPResponder.respond(on: channel, request: head, status: refusal.status, contentType: refusal.contentType,
                                  body: refusal.body, extraHeaders: refusal.headers)
            return
        }
        guard request.protocolVersion == "4" else { return fail(.unsupportedProtocolVersion) }
        guard request.transport == "polling" else { return fail(.unknownTransport) }
        guard let sid = request.sid else {
            guard head.method == .GET else { return fail(.badHandshakeMethod) }
            let session = EngineIOServerSession(server: self, sid: newSid())
            sessions[session.sid] = session
            session.openOverPolling(channel: channel, request: head)
            return
        }
        guard let session = sessions[sid] else { return fail(.unknownSid) }
        switch head.method {
        case .GET: session.poll(channel: channel, request: head)
        case .POST: session.receivePollingPayload(body, channel: channel, request: head)
        default: fail(.badRequest)
        }
    }

    // MARK: WebSocket

    /// Why a WebSocket upgrade request on the server's path cannot be accepted, or nil when it can:
    /// Engine.IO's own checks (protocol 4, transport websocket, a known sid still on polling and not
    /// already probing), answered with Engine.IO's JSON errors, then RFC 6455's handshake rules.
    /// Runs on the server's loop (the upgrader's shouldUpgrade and the HTTP handler both do).
    func upgradeRefusal(_ head: HTTPRequestHead) -> HTTPRefusal? {
        let request = EngineIORequest(uri: head.uri)
        func engineIO(_ error: EngineIOHTTPError) -> HTTPRefusal {
            HTTPRefusal(status: .badRequest, contentType: "application/json", body: error.body)
        }
        guard request.protocolVersion == "4" else { return engineIO(.unsupportedProtocolVersion) }
        guard request.transport == "websocket" else { return engineIO(.badRequest) }
        if let sid = request.sid {
            guard let session = sessions[sid] else { return engineIO(.unknownSid) }
            guard session.canTakeProbe else { return engineIO(.badRequest) }
        }
        return WebSocketServerRules.handshakeRefusal(head)
    }

    func attachWebSocket(channel: any Channel, request: EngineIORequest) throws {
        if let sid = request.sid {
            guard let session = sessions[sid] else {
                channel.close(promise: nil)
                return
            }
            try session.attachProbe(channel: channel)
        } else {
            let session = EngineIOServerSession(server: self, sid: newSid())
            sessions[session.sid] = session
            try session.openOverWebSocket(channel: channel)
        }
    }

    func sessionEnded(_ session: EngineIOServerSession) {
        sessions[session.sid] = nil
    }
}
