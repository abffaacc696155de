import Heartbeat
import LabCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// One Engine.IO session of the built-in server: its transport (long-polling, WebSocket, or
/// polling while a WebSocket probe is in progress) under a `SocketIOServerEndpoint`, the same
/// composition of heartbeat, namespace and app the simulator's server end runs; this class only
/// carries out its actions. Event-loop bound: everything runs on the server's loop.
final class EngineIOServerSession: @unchecked Sendable {

    enum Transport {
        case polling
        case websocket(any Channel)
    }

    let sid: String
    private unowned let server: EngineIOServer
    private var transport: Transport = .polling
    private var probe: (any Channel)?
    /// "3probe" went out: until the "5", every poll is answered at once with a noop (python-engineio).
    private var probeAnswered = false
    private var pendingPoll: (channel: any Channel, request: HTTPRequestHead)?
    private var outbox: [EngineIOPacket] = []
    private var endpoint: SocketIOServerEndpoint
    private var timers = MachineTimers<SocketIOServerEndpoint.Timer>()
    private var closed = false
    /// The name events are logged under: the sid, or the name a Flatline client sent in its CONNECT
    /// auth ({"flatline": "c1"}), so both sides of a live run log one connection under one name.
    private var logName: String

    init(server: EngineIOServer, sid: String) {
        self.server = server
        self.sid = sid
        self.logName = sid
        let configuration = server.configuration
        var endpointConfiguration = SocketIOServerEndpoint.Configuration(
            heartbeat: .init(pingInterval: configuration.pingInterval, pingTimeout: configuration.pingTimeout,
                             maxPayload: Int64(configuration.maxPayload),
                             serviceSweepOrigin: configuration.serviceSweepPhase.map { server.startedAt + $0 },
                             detector: configuration.detector),
            emitInterval: configuration.emitInterval, emitSize: configuration.emitSize,
            pingEvent: configuration.pingEvent, pongEvent: configuration.pongEvent)
        endpointConfiguration.broadcastInterval = configuration.broadcastInterval
        endpointConfiguration.broadcastSize = configuration.broadcastSize
        endpointConfiguration.broadcastOrigin = server.startedAt
        endpointConfiguration.recovery = server.recovery
        endpointConfiguration.broadcastReplay = configuration.broadcastReplay
        endpointConfiguration.instance = configuration.instance
        endpointConfiguration.broadcastRooms = configuration.broadcastRooms != nil
        self.endpoint = SocketIOServerEndpoint(sid: sid, configuration: endpointConfiguration)
    }

    // MARK: Opening

    /// The handshake GET: its response carries the open packet the machine sends.
    func openOverPolling(channel: any Channel, request: HTTPRequestHead) {
        pendingPoll = (channel, request)
        opened()
    }

    func openOverWebSocket(channel: any Channel) throws {
        transport = .websocket(channel)
        try addWebSocketHandler(channel, isProbe: false)
        opened()
    }

    private func opened() {
        // The connection is logged from the namespace connect on, under the client's name when it
        // sends one: an Engine.IO-level connect here would sit under the bare sid.
        let upgrades = server.configuration.allowUpgrades && !isWebSocket ? ["websocket"] : []
        drive { $0.opened(upgrades: upgrades, at: $1) }
    }

    private var isWebSocket: Bool {
        if case .websocket = transport { return true }
        return false
    }

    // MARK: Polling

    func poll(channel: any Channel, request: HTTPRequestHead) {
        guard !closed else {
            HTTPResponder.respond(on: channel, request: request, status: .badRequest, contentType: "application/json",
                                  body: EngineIOHTTPError.unknownSid.body)
            return
        }
        if let old = pendingPoll {
            // A second concurrent poll is a protocol error (engine.io closes the session).
            HTTPResponder.respond(on: old.channel, request: old.request, status: .badRequest, body: "duplicate poll")
            pendingPoll = nil
            HTTPResponder.respond(on: channel, request: request, status: .badRequest, body: "duplicate poll")
            close(.transportError, notifyPeer: false)
            return
        }
        pendingPoll = (channel, request)
        if probeAnswered, outbox.isEmpty { outbox.append(.noop) }
        flushPolling()
    }

    func receivePollingPayload(_ body: String, channel: any Channel, request: HTTPRequestHead) {
        let payload: EngineIOPayload
        do {
            payload = try EngineIOPayload(text: body)
        } catch {
            HTTPResponder.respond(on: channel, request: request, status: .badRequest, body: "parse error")
            close(.parseError, notifyPeer: false)
            return
        }
        HTTPResponder.respond(on: channel, request: request, status: .ok, body: "ok")
        for packet in payload.packets { received(packet) }
    }

    private func flushPolling() {
        guard case .polling = transport, let poll = pendingPoll, !outbox.isEmpty else { return }
        pendingPoll = nil
        let packets = outbox
        outbox.removeAll()
        HTTPResponder.respond(on: poll.channel, request: poll.request, status: .ok,
                              body: EngineIOPayload(packets: packets).encodedText)
    }

    // MARK: WebSocket and upgrade

    /// Whether a WebSocket probe may attach now: the session is open, on polling, with no probe yet.
    var canTakeProbe: Bool {
        guard !closed, case .polling = transport, probe == nil else { return false }
        return true
    }

    func attachProbe(channel: any Channel) throws {
        guard !closed, case .polling = transport, probe == nil else {
            channel.close(promise: nil)
            return
        }
        probe = channel
        try addWebSocketHandler(channel, isProbe: true)
    }

    private func addWebSocketHandler(_ channel: any Channel, isProbe: Bool) throws {
        let handler = EngineIOWebSocketHandler(
            maxMessageSize: server.configuration.maxPayload,
            onText: { [weak self] text in self?.webSocketFrame(.text(text), from: channel) },
            onBinary: { [weak self] bytes in self?.webSocketFrame(.binary(bytes), from: channel) },
            onClose: { [weak self] in self?.webSocketClosed(channel) }
        )
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameRulesHandler(fromClient: true))
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    private func webSocketFrame(_ frame: EngineIOFrame, from channel: any Channel) {
        let packet: EngineIOPacket
        do {
            packet = try EngineIOPacket(frame: frame)
        } catch {
            close(.parseError, notifyPeer: false)
            return
        }
        if let probe, probe === channel {
            switch packet {
            case .ping("probe"):
                write(frame: EngineIOPacket.pong("probe").frame, to: probe)
                probeAnswered = true
                // Release any pending poll so the client can pause polling and send "5".
                if pendingPoll != nil, outbox.isEmpty { outbox.append(.noop) }
                flushPolling()
            case .upgrade:
                transport = .websocket(probe)
                self.probe = nil
                probeAnswered = false
                if let poll = pendingPoll {
                    pendingPoll = nil
                    HTTPResponder.respond(on: poll.channel, request: poll.request, status: .ok,
                                          body: EngineIOPayload(packets: [.noop]).encodedText)
                }
                let queued = outbox
                outbox.removeAll()
                for p in queued { write(frame: p.frame, to: probe) }
            default:
                break
            }
            return
        }
        received(packet)
    }

    private func webSocketClosed(_ channel: any Channel) {
        if let probe, probe === channel {
            self.probe = nil
            probeAnswered = false
            return
        }
        if case .websocket(let current) = transport, current === channel {
            close(.transportClose, notifyPeer: false)
        }
    }

    private func write(frame: EngineIOFrame, to channel: any Channel) {
        var buffer = channel.allocator.buffer(capacity: 64)
        let opcode: WebSocketOpcode
        switch frame {
        case .text(let text):
            buffer.writeString(text)
            opcode = .text
        case .binary(let bytes):
            buffer.writeBytes(bytes)
            opcode = .binary
        }
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: opcode, data: buffer), promise: nil)
    }

    // MARK: Packets

    private func send(_ packet: EngineIOPacket) {
        guard !closed else { return }
        switch transport {
        case .websocket(let channel): write(frame: packet.frame, to: channel)
        case .polling:
            outbox.append(packet)
            flushPolling()
        }
    }

    private func received(_ packet: EngineIOPacket) {
        guard !closed else { return }
        drive { $0.received(packet, at: $1) }
    }

    /// Gives the endpoint an input at the loop's now and carries out its answer.
    private func drive(_ input: (inout SocketIOServerEndpoint, Instant) -> [SocketIOServerEndpoint.Action]) {
        let now = server.loop.instant
        let actions = input(&endpoint, now)
        perform(actions, at: now)
    }

    /// Carries out the endpoint's actions; events are stamped with `now`, the instant it decided at.
    private func perform(_ actions: [SocketIOServerEndpoint.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .send(let packet): send(packet)
            case .sendUnencodedTick: break  // the live endpoint encodes its ticks
            case .closeTransport: closeTransports()
            case .arm(let timer, let at):
                timers.arm(timer, at: at, on: server.loop) { [weak self] in
                    guard let self else { return }
                    self.timers.fired(timer)
                    self.drive { $0.timerFired(timer, at: $1) }
                }
            case .cancel(let timer): timers.cancel(timer)
            case .cancelAllTimers: timers.cancelAll()
            case .note(let note) where note.isConnect:
                if case .connected(let auth, _, _) = note, case .object(let fields)? = auth,
                   case .string(let name)? = fields["flatline"] { logName = name }
                server.record(logName, .connect, detail: note.logFields.detail, at: now)
            case .note(.pong(let rtt)):
                server.record(logName, .pong, rtt: rtt, at: now)
            case .note(let note):
                let fields = note.logFields
                server.record(logName, fields.kind, reason: fields.reason, detail: fields.detail, at: now)
            }
        }
    }

    /// Ends the session from outside the machines (a protocol error, the transport gone, the
    /// server stopping): the endpoint notes why and asks for the transports to close.
    func close(_ reason: CloseReason, notifyPeer: Bool, at now: Instant? = nil) {
        guard !closed else { return }
        let now = now ?? server.loop.instant
        perform(endpoint.close(reason, notifyPeer: notifyPeer, at: now), at: now)
    }

    /// The session ended: answer a waiting poll with the close packet, close the WebSocket and any probe.
    private func closeTransports() {
        guard !closed else { return }
        closed = true
        if let poll = pendingPoll {
            pendingPoll = nil
            HTTPResponder.respond(on: poll.channel, request: poll.request, status: .ok,
                                  body: EngineIOPayload(packets: [.close]).encodedText)
        }
        if case .websocket(let channel) = transport { channel.close(promise: nil) }
        probe?.close(promise: nil)
        server.sessionEnded(self)
    }
}
