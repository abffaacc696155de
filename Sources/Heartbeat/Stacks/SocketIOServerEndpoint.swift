import LabCore

/// What a Socket.IO server endpoint reports for the event log; each driver writes these in its
/// own log representation.
public enum ServerEndpointNote: Sendable, Hashable {
    /// The namespace connected; `auth` is the client's CONNECT payload; `recovered` when connection
    /// state recovery gave the client its earlier session back; `instance` the server instance
    /// (1-based) when several run behind the proxy.
    case connected(auth: JSONValue?, recovered: Bool = false, instance: Int? = nil)
    /// A heartbeat ping went out.
    case pingSent
    /// The client's pong came back after `rtt`.
    case pong(rtt: TimeSpan)
    /// The client emitted this event.
    case eventReceived(String)
    /// The client acknowledged the server's emit of this event.
    case ackReceived(String)
    /// An ack the server waited for (for this event) failed.
    case ackFailed(String, SocketIOAckFailure)
    /// The server emitted this event.
    case eventSent(String)
    /// The session ended, for this reason (recorded once: the namespace's reason when it has one).
    case disconnected(CloseReason)

    /// Whether this is the namespace's connect.
    public var isConnect: Bool {
        if case .connected = self { return true }
        return false
    }

    /// The event-log kind, reason and detail this note is written as (the live log's text; the
    /// simulator interns the same strings).
    public var logFields: (kind: EventKind, reason: String?, detail: String?) {
        switch self {
        case .connected(_, let recovered, let instance):
            (.connect, nil, "socket.io /" + (recovered ? " recovered" : "") + (instance.map(InstanceDetail.suffix) ?? ""))
        case .pingSent: (.ping, nil, nil)
        case .pong: (.pong, nil, nil)
        case .eventReceived(let name): (.messageReceived, nil, name)
        case .ackReceived(let name): (.messageReceived, nil, "ack:\(name)")
        case .ackFailed(let name, let failure): (.messageReceived, "\(failure)", "ack:\(name)")
        case .eventSent(let name): (.messageSent, nil, name)
        case .disconnected(let reason): (.disconnect, reason.rawValue, nil)
        }
    }
}

/// One client's session on Flatline's built-in Socket.IO server, sans-IO: the Engine.IO server
/// heartbeat, the namespace session and the built-in app (`BuiltinSocketIOApp`: echo, ask, the
/// custom ping's answer, the tick workload), composed once with their close rules. The live
/// server's session and the simulated transport's server end only carry out its actions:
/// `send` a packet on the session's transport, `closeTransport` once the session ended.
public struct SocketIOServerEndpoint: Sendable {
    /// What composes the endpoint.
    public struct Configuration: Sendable {
        /// The Engine.IO heartbeat (ping interval and timeout, max payload).
        public var heartbeat: EngineIOServerHeartbeat.Configuration
        /// The namespace session's options.
        public var namespace: SocketIOServerSession.Options
        /// The tick workload's interval (nil: none).
        public var emitInterval: TimeSpan?
        /// The encoded size a tick is padded to.
        public var emitSize: Int
        /// The custom ping event the app answers, and its answer.
        public var pingEvent: String
        /// The event the app answers the custom ping with.
        public var pongEvent: String
        /// Whether ticks are encoded (`send`) or left to the driver (`sendUnencodedTick`).
        public var encodesTicks: Bool
        /// The application's broadcast stream: event k is due at `broadcastOrigin + k·interval`
        /// on the server's clock and goes to every client connected then (nil: none).
        public var broadcastInterval: TimeSpan?
        /// The encoded size a broadcast event is padded to.
        public var broadcastSize: Int = 64
        /// The server's clock origin for the broadcast stream (its start).
        public var broadcastOrigin: Instant = .zero
        /// The server's store for connection state recovery (nil: off), one for all its sessions.
        public var recovery: SocketIORecoveryStore?
        /// The application's replay of the broadcast stream on connect (nil: none).
        public var broadcastReplay: BroadcastReplay?
        /// Which server instance this is (1-based), when several run behind the proxy (nil: the only one).
        public var instance: Int?
        /// Per-room streams: a client gets the broadcast events of the rooms it joined (`join`),
        /// each room its own stream; false: one stream to everyone.
        public var broadcastRooms = false

        /// A configuration; the defaults are socket.io's (25 s / 20 s) and no workload.
        public init(heartbeat: EngineIOServerHeartbeat.Configuration = .engineIO,
                    namespace: SocketIOServerSession.Options = .init(), emitInterval: TimeSpan? = nil,
                    emitSize: Int = 64, pingEvent: String = "ping", pongEvent: String = "pong", encodesTicks: Bool = true) {
            self.heartbeat = heartbeat
            self.namespace = namespace
            self.emitInterval = emitInterval
            self.emitSize = emitSize
            self.pingEvent = pingEvent
            self.pongEvent = pongEvent
            self.encodesTicks = encodesTicks
        }
    }

    /// Every timer of the endpoint.
    public enum Timer: Sendable, Hashable {
        /// The Engine.IO heartbeat's (next ping, pong deadline).
        case heartbeat(EngineIOServerHeartbeat.Timer)
        /// The namespace session's (connect timeout, ack timeouts).
        case session(SocketIOTimer)
        /// The workload's next tick.
        case tick
        /// The broadcast stream's next event.
        case broadcast
    }

    /// What the endpoint asks of its driver.
    public enum Action: Sendable, Hashable {
        /// Write this packet on the session's transport.
        case send(EngineIOPacket)
        /// Send tick number `sequence` without encoding it (only when `encodesTicks` is off).
        case sendUnencodedTick(sequence: Int64, offset: Int64? = nil)
        /// The session ended: close its transport (after the packets before this action).
        case closeTransport
        /// Arm (or re-arm) the timer at the instant; then call `timerFired`.
        case arm(Timer, at: Instant)
        /// Disarm the timer if armed.
        case cancel(Timer)
        /// Disarm every timer of the session.
        case cancelAllTimers
        /// Write this to the event log.
        case note(ServerEndpointNote)
    }

    /// The Engine.IO session id.
    public let sid: String
    /// The composition's settings.
    public let configuration: Configuration
    /// The Engine.IO heartbeat.
    public private(set) var heartbeat: EngineIOServerHeartbeat
    /// The namespace session.
    public private(set) var session: SocketIOServerSession
    /// The built-in app.
    public private(set) var app: BuiltinSocketIOApp
    /// Whether the session is open (until it closes, for any reason).
    public private(set) var isOpen = false
    /// Whether the namespace is connected and the session open (kept, not computed: drivers read it per tick).
    public private(set) var isConnected = false
    private var disconnectNoted = false
    /// A recovered session's replayed events, noted once its connect is.
    private var replayNotes: [Action] = []
    /// Event names of the app's emits with acks, by ack id, for the log.
    private var pendingAcks: [Int64: String] = [:]

    /// An endpoint for the Engine.IO session `sid` (the namespace's id is `sid#ns`).
    public init(sid: String, configuration: Configuration) {
        self.sid = sid
        self.configuration = configuration
        heartbeat = EngineIOServerHeartbeat(configuration: configuration.heartbeat)
        session = SocketIOServerSession(sid: sid + "#ns", options: configuration.namespace, recovery: configuration.recovery)
        app = BuiltinSocketIOApp(emitInterval: configuration.emitInterval, emitSize: configuration.emitSize,
                                 pingEvent: configuration.pingEvent, pongEvent: configuration.pongEvent)
    }

    // MARK: Inputs

    /// An empty action list with room for a typical answer (a send, a timer, a note), so that
    /// appending to it does not reallocate on the simulator's per-packet path.
    @inline(__always)
    private static func actionBuffer() -> [Action] {
        var out: [Action] = []
        out.reserveCapacity(4)
        return out
    }

    /// The transport opened (the handshake): the open packet goes out, pings start, the namespace waits.
    public mutating func opened(upgrades: [String], at now: Instant) -> [Action] {
        guard !isOpen, !disconnectNoted else { return [] }
        isOpen = true
        var out = Self.actionBuffer()
        heartbeat(heartbeat.opened(sid: sid, upgrades: upgrades, at: now), now, &out)
        session(session.start(at: now), now, &out)
        return out
    }

    /// A packet arrived from the client.
    public mutating func received(_ packet: EngineIOPacket, at now: Instant) -> [Action] {
        guard isOpen else { return [] }
        var out = Self.actionBuffer()
        switch packet {
        case .message(let text):
            heartbeat(heartbeat.received(packet, at: now), now, &out)
            session(session.receive(.text(text), at: now), now, &out)
        case .binary(let bytes):
            heartbeat(heartbeat.received(packet, at: now), now, &out)
            session(session.receive(.binary(bytes), at: now), now, &out)
        case .close:
            close(.transportClose, notifyPeer: false, now, &out)
        default:
            heartbeat(heartbeat.received(packet, at: now), now, &out)
        }
        return out
    }

    /// The session ends from outside the machines: its transport closed or failed, or the client
    /// broke the protocol (`notifyPeer`: send the Engine.IO close packet first).
    public mutating func close(_ reason: CloseReason, notifyPeer: Bool, at now: Instant) -> [Action] {
        var out = Self.actionBuffer()
        close(reason, notifyPeer: notifyPeer, now, &out)
        return out
    }

    /// A timer the endpoint armed fired.
    public mutating func timerFired(_ timer: Timer, at now: Instant) -> [Action] {
        guard isOpen else { return [] }
        var out = Self.actionBuffer()
        switch timer {
        case .heartbeat(let t): heartbeat(heartbeat.timerFired(t, at: now), now, &out)
        case .session(let t): session(session.timerFired(t, at: now), now, &out)
        case .tick:
            guard isConnected else { return [] }
            tick(now, &out)
            if let interval = configuration.emitInterval { out.append(.arm(.tick, at: now + interval)) }
        case .broadcast:
            guard isConnected, let interval = configuration.broadcastInterval else { return [] }
            // The slot that is due now (the timer fires at it or a little after).
            let (sequence, next) = broadcastSlots(at: now, every: interval)
            if sequence >= 1 {
                for room in broadcastStreams() {
                    let arguments = BuiltinSocketIOApp.broadcastArguments(sequence: sequence, size: configuration.broadcastSize, room: room)
                    out.append(.note(.eventSent(BroadcastDetail.detail(sequence))))
                    session(session.emitBroadcast(sequence: sequence, room: room, arguments, at: now), now, &out)
                }
            }
            out.append(.arm(.broadcast, at: next))
        }
        return out
    }

    /// The broadcast streams this session gets: the rooms it is in with per-room streams, else the one
    /// stream to everyone (nil).
    private func broadcastStreams() -> [String?] {
        configuration.broadcastRooms ? session.rooms.sorted().map { $0 } : [nil]
    }

    /// The broadcast slot that is due at `now` (0 before the first) and the instant of the next one.
    private func broadcastSlots(at now: Instant, every interval: TimeSpan) -> (current: Int64, next: Instant) {
        let p = max(interval.nanoseconds, 1)
        let current = max(0, (now - configuration.broadcastOrigin).nanoseconds / p)
        return (current, configuration.broadcastOrigin + .nanoseconds((current + 1) * p))
    }

    /// For a driver that carries out the tick timer in batches (the simulator's catch-up): counts
    /// one tick due while connected, exactly as the timer would, and returns its sequence number.
    public mutating func batchedTick() -> Int64 {
        app.unencodedTick()
    }

    // MARK: Wiring

    private mutating func tick(_ now: Instant, _ out: inout [Action]) {
        if !configuration.encodesTicks {
            out.append(.note(.eventSent("tick")))
            let sequence = app.unencodedTick()
            // With recovery the tick is kept and carries its offset, as an encoded one would.
            let offset = session.recovery == nil ? nil
                : session.recordUnencoded("tick", BuiltinSocketIOApp.tickArguments(sequence: sequence, pad: app.tickPadding), at: now)
            out.append(.sendUnencodedTick(sequence: sequence, offset: offset))
            return
        }
        reply(app.tick(), now, &out)
    }

    private mutating func heartbeat(_ actions: [EngineIOServerHeartbeat.Action], _ now: Instant, _ out: inout [Action]) {
        for action in actions {
            switch action {
            case .send(let packet): if isOpen { out.append(.send(packet)) }
            case .arm(let timer, let at): out.append(.arm(.heartbeat(timer), at: at))
            case .cancel(let timer): out.append(.cancel(.heartbeat(timer)))
            case .close(let reason): close(reason, notifyPeer: reason != .pingTimeout, now, &out)
            case .observe(.pingSent): out.append(.note(.pingSent))
            case .observe(.pongReceived(let rtt)): out.append(.note(.pong(rtt: rtt)))
            case .observe: break
            }
        }
    }

    private mutating func session(_ actions: [SocketIOServerSession.Action], _ now: Instant, _ out: inout [Action]) {
        for action in actions {
            switch action {
            case .send(.message(let message)):
                guard isOpen else { continue }
                for frame in message.frames {
                    switch frame {
                    case .text(let text): out.append(.send(.message(text)))
                    case .binary(let bytes): out.append(.send(.binary(bytes)))
                    }
                }
            case .send(.connectRequested):
                session(session.accept(at: now), now, &out)
            case .send(.connected(let auth)):
                isConnected = true
                out.append(.note(.connected(auth: auth, recovered: session.recovered, instance: configuration.instance)))
                // The missed events went out before the CONNECT answer; the log has them after the connect.
                out += replayNotes
                replayNotes = []
                if let interval = configuration.emitInterval { out.append(.arm(.tick, at: now + interval)) }
                if let interval = configuration.broadcastInterval {
                    out.append(.arm(.broadcast, at: broadcastSlots(at: now, every: interval).next))
                    // With rooms the push waits for the join: the history is the room's.
                    if let replay = configuration.broadcastReplay, replay.mode == .push, !session.recovered, !configuration.broadcastRooms {
                        replayBroadcast(replay, since: 0, every: interval, now, &out)
                    }
                }
            case .send(.replayed(let event)):
                replayNotes.append(.note(.eventSent(BuiltinSocketIOApp.logName(of: event))))
            case .send(.event(let event)):
                out.append(.note(.eventReceived(event.name)))
                if configuration.broadcastRooms, let room = BuiltinSocketIOApp.room(inJoin: event) {
                    session.join(room: room)
                    if let replay = configuration.broadcastReplay, replay.mode == .push, let interval = configuration.broadcastInterval {
                        replayBroadcast(replay, since: 0, every: interval, rooms: [room], now, &out)
                    }
                }
                for r in app.replies(to: event) { reply(r, now, &out) }
                if let replay = configuration.broadcastReplay, replay.mode == .request,
                   let interval = configuration.broadcastInterval, let since = BroadcastReplay.since(in: event) {
                    replayBroadcast(replay, since: since, every: interval, now, &out)
                }
            case .send(.ackReceived(let ack)):
                out.append(.note(.ackReceived(pendingAcks.removeValue(forKey: ack.id) ?? "\(ack.id)")))
            case .send(.ackFailed(let id, let failure)):
                out.append(.note(.ackFailed(pendingAcks.removeValue(forKey: id) ?? "", failure)))
            case .arm(let timer, let at): out.append(.arm(.session(timer), at: at))
            case .cancel(let timer): out.append(.cancel(.session(timer)))
            case .close(let reason): close(reason, notifyPeer: true, now, &out)
            case .observe(.closed(let reason)):
                // The namespace's reason is the one to report; the transport closing after it follows.
                if !disconnectNoted, isOpen {
                    out.append(.note(.disconnected(reason)))
                    disconnectNoted = true
                }
            case .observe: break
            }
        }
    }

    /// The application's history: the broadcast events after `since`, at most `replay.last`, sent
    /// to this client as ordinary emits (with recovery on, each gets a new offset, as a socket.io
    /// app's `socket.emit` would).
    /// With per-room streams, the history of `rooms` (default: those the socket is in).
    private mutating func replayBroadcast(_ replay: BroadcastReplay, since: Int64, every interval: TimeSpan, rooms: [String]? = nil,
                                          _ now: Instant, _ out: inout [Action]) {
        guard let range = replay.sequences(current: broadcastSlots(at: now, every: interval).current, since: since) else { return }
        for room in rooms.map({ $0.map { Optional($0) } }) ?? broadcastStreams() {
            for sequence in range {
                let arguments = BuiltinSocketIOApp.broadcastArguments(sequence: sequence, size: configuration.broadcastSize, room: room)
                guard let actions = try? session.emit(BroadcastDetail.event, arguments, at: now) else { return }
                out.append(.note(.eventSent(BroadcastDetail.detail(sequence))))
                session(actions, now, &out)
            }
        }
    }

    private mutating func reply(_ reply: BuiltinSocketIOApp.Reply, _ now: Instant, _ out: inout [Action]) {
        switch reply {
        case .emit(let name, let arguments):
            guard let actions = try? session.emit(name, arguments, at: now) else { return }
            out.append(.note(.eventSent(name)))
            session(actions, now, &out)
        case .emitWithAck(let name, let arguments):
            guard let (id, actions) = try? session.emitWithAck(name, arguments, timeout: nil, at: now) else { return }
            if let id { pendingAcks[id] = name }
            out.append(.note(.eventSent(name)))
            session(actions, now, &out)
        case .ack(let id, let arguments):
            session(session.ack(id, arguments, at: now), now, &out)
        }
    }

    /// Ends the session: says so to the client when asked, stops every timer, notes the reason
    /// (unless the namespace already did), closes the transport.
    private mutating func close(_ reason: CloseReason, notifyPeer: Bool, _ now: Instant, _ out: inout [Action]) {
        guard isOpen else { return }
        if notifyPeer { out.append(.send(.close)) }
        isOpen = false
        isConnected = false
        _ = session.transportClosed(reason, at: now)  // fails pending acks; the disconnect is noted below
        out.append(.cancelAllTimers)
        if !disconnectNoted {
            out.append(.note(.disconnected(reason)))
            disconnectNoted = true
        }
        out.append(.closeTransport)
    }
}
