import Heartbeat
import LabCore
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// One Engine.IO session of the built-in server: its transport (long-polling, WebSocket, or
/// polling while a WebSocket probe is in progress), the Engine.IO heartbeat machine and the
/// Socket.IO namespace on top. Event-loop bound: everything runs on the server's loop.
final class EngineIOServerSession: @unchecked Sendable {
    /// The session's timers: the heartbeat machine's, and the workload's next emit.
    enum SessionTimer: Hashable {
        case heartbeat(EngineIOServerHeartbeat.Timer)
        case socketIO(SocketIOTimer)
        case emit
    }

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
    private var heartbeat: EngineIOServerHeartbeat
    private var timers = MachineTimers<SessionTimer>()
    private var socketIO: SocketIOServerSession
    private var app: BuiltinSocketIOApp
    /// Event names of our emit-with-acks, by ack id, for the event log.
    private var pendingAcks: [Int64: String] = [:]
    private var closed = false
    private var disconnectRecorded = false
    /// The name events are logged under: the sid, or the name a Flatline client sent in its CONNECT
    /// auth ({"flatline": "c1"}), so both sides of a live run log one connection under one name.
    private var logName: String

    init(server: EngineIOServer, sid: String) {
        self.server = server
        self.sid = sid
        self.logName = sid
        self.heartbeat = EngineIOServerHeartbeat(configuration: .init(
            pingInterval: server.configuration.pingInterval, pingTimeout: server.configuration.pingTimeout,
            maxPayload: Int64(server.configuration.maxPayload)))
        self.socketIO = SocketIOServerSession(sid: sid + "#ns")
        self.app = BuiltinSocketIOApp(emitInterval: server.configuration.emitInterval, emitSize: server.configuration.emitSize,
                                      pingEvent: server.configuration.pingEvent, pongEvent: server.configuration.pongEvent)
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
        let now = Instant.monotonicNow()
        perform(heartbeat.opened(sid: sid, upgrades: upgrades, at: now), at: now)
        performSocketIO(socketIO.start(at: now), at: now)
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
            onText: { [weak self] text in self?.webSocketFrame(.text(text), from: channel) },
            onBinary: { [weak self] bytes in self?.webSocketFrame(.binary(bytes), from: channel) },
            onClose: { [weak self] in self?.webSocketClosed(channel) }
        )
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
        let now = Instant.monotonicNow()
        switch packet {
        case .message(let text):
            perform(heartbeat.received(packet, at: now), at: now)
            performSocketIO(socketIO.receive(.text(text), at: now), at: now)
        case .binary(let bytes):
            perform(heartbeat.received(packet, at: now), at: now)
            performSocketIO(socketIO.receive(.binary(bytes), at: now), at: now)
        case .close:
            close(.transportClose, notifyPeer: false)
        default:
            perform(heartbeat.received(packet, at: now), at: now)
        }
    }

    /// Carries out the namespace session's actions, and the built-in app's replies to its events.
    private func performSocketIO(_ actions: [SocketIOServerSession.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .send(.message(let message)):
                for frame in message.frames {
                    switch frame {
                    case .text(let text): send(.message(text))
                    case .binary(let bytes): send(.binary(bytes))
                    }
                }
            case .send(.connectRequested):
                performSocketIO(socketIO.accept(at: now), at: now)
            case .send(.connected(let auth)):
                if case .object(let fields)? = auth, case .string(let name)? = fields["flatline"] { logName = name }
                server.record(logName, .connect, detail: "socket.io /", at: now)
                armTick(after: now)
            case .send(.event(let event)):
                server.record(logName, .messageReceived, detail: event.name, at: now)
                for reply in app.replies(to: event) { perform(reply, at: now) }
            case .send(.ackReceived(let ack)):
                let name = pendingAcks.removeValue(forKey: ack.id) ?? "\(ack.id)"
                server.record(logName, .messageReceived, detail: "ack:\(name)", at: now)
            case .send(.ackFailed(let id, let failure)):
                server.record(logName, .messageReceived, reason: "\(failure)", detail: "ack:\(pendingAcks.removeValue(forKey: id) ?? "")", at: now)
            case .arm(let timer, let at):
                timers.arm(.socketIO(timer), at: at, on: server.loop) { [weak self] in
                    guard let self else { return }
                    self.timers.fired(.socketIO(timer))
                    let now = Instant.monotonicNow()
                    self.performSocketIO(self.socketIO.timerFired(timer, at: now), at: now)
                }
            case .cancel(let timer): timers.cancel(.socketIO(timer))
            case .close(let reason): close(reason, notifyPeer: true, at: now)
            case .observe(.closed(let reason)):
                // The namespace's reason is the one to report; the transport closing after it is a consequence.
                if !disconnectRecorded, !closed {
                    server.record(logName, .disconnect, reason: reason.rawValue, at: now)
                    disconnectRecorded = true
                }
            case .observe: break
            }
        }
    }

    private func perform(_ reply: BuiltinSocketIOApp.Reply, at now: Instant) {
        switch reply {
        case .emit(let name, let arguments):
            guard let actions = try? socketIO.emit(name, arguments, at: now) else { return }
            server.record(logName, .messageSent, detail: name, at: now)
            performSocketIO(actions, at: now)
        case .emitWithAck(let name, let arguments):
            guard let (id, actions) = try? socketIO.emitWithAck(name, arguments, timeout: nil, at: now) else { return }
            if let id { pendingAcks[id] = name }
            server.record(logName, .messageSent, detail: name, at: now)
            performSocketIO(actions, at: now)
        case .ack(let id, let arguments):
            performSocketIO(socketIO.ack(id, arguments, at: now), at: now)
        }
    }

    private func armTick(after now: Instant) {
        guard let interval = app.emitInterval else { return }
        timers.arm(.emit, at: now + interval, on: server.loop) { [weak self] in
            guard let self, self.socketIO.isConnected else { return }
            self.timers.fired(.emit)
            let now = Instant.monotonicNow()
            self.perform(self.app.tick(), at: now)
            self.armTick(after: now)
        }
    }

    /// Carries out the machine's actions; events are stamped with `now`, the instant the machine decided at.
    private func perform(_ actions: [HeartbeatAction<EngineIOServerHeartbeat.Timer, EngineIOPacket>], at now: Instant) {
        for action in actions {
            switch action {
            case .send(let packet): send(packet)
            case .arm(let timer, let at):
                timers.arm(.heartbeat(timer), at: at, on: server.loop) { [weak self] in
                    guard let self else { return }
                    self.timers.fired(.heartbeat(timer))
                    let now = Instant.monotonicNow()
                    self.perform(self.heartbeat.timerFired(timer, at: now), at: now)
                }
            case .cancel(let timer): timers.cancel(.heartbeat(timer))
            case .close(let reason): close(reason, notifyPeer: reason != .pingTimeout, at: now)
            case .observe(let observation): observe(observation, at: now)
            }
        }
    }

    private func observe(_ observation: HeartbeatObservation, at now: Instant) {
        switch observation {
        case .pingSent: server.record(logName, .ping, at: now)
        case .pongReceived(let rtt): server.record(logName, .pong, rtt: rtt, at: now)
        case .pingReceived, .opened, .closed: break
        }
    }

    /// Ends the session: records the reason, stops timers, closes transports.
    func close(_ reason: CloseReason, notifyPeer: Bool, at now: Instant = Instant.monotonicNow()) {
        guard !closed else { return }
        if notifyPeer { send(.close) }
        closed = true
        _ = socketIO.transportClosed(reason, at: now)  // fails pending acks; the disconnect is recorded below
        timers.cancelAll()
        if !disconnectRecorded { server.record(logName, .disconnect, reason: reason.rawValue, at: now) }
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
