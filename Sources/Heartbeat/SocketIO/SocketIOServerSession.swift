import LabCore

/// What a server session hands its driver through `HeartbeatAction.send`: a message for the
/// Engine.IO transport (to the client), or a notification for the server application.
public enum SocketIOServerOutput: Sendable, Hashable {
    /// Write this message to the transport, as `message.frames`.
    case message(SocketIOMessage)
    /// A client asks to join and the session waits for `accept(at:)` or `reject(...)` (the place
    /// of socket.io's namespace middleware).
    case connectRequested(auth: JSONValue?)
    /// The client joined the namespace (socket.io's "connection"), with the auth it sent.
    case connected(auth: JSONValue?)
    /// The client emitted an event.
    case event(SocketIOEvent)
    /// The client acknowledged one of our events.
    case ackReceived(SocketIOAck)
    /// One of our emit-with-acks will get no answer.
    case ackFailed(id: Int64, SocketIOAckFailure)
    /// A recovered session's missed event goes out again (the message follows this output).
    case replayed(SocketIOEvent)
}

/// One Socket.IO v5 namespace connection, server side, as a sans-IO state machine: it answers the
/// client's CONNECT with the socket id (or a CONNECT_ERROR), carries events and acks with per-ack
/// timeouts, and closes the transport when no namespace is joined within the server's
/// `connectTimeout` (socket.io's default 45 s).
///
/// Close reasons are socket.io's server-side ones: `.clientNamespaceDisconnect` when the client
/// sends DISCONNECT, `.serverNamespaceDisconnect` when the server disconnects the socket, and
/// `.connectTimeout` for a client that never joins in time. As in socket.io, a namespace disconnect
/// from either side leaves the transport to the client to close, unless
/// `disconnect(closeTransport: true, at:)`.
/// Deadlines are exclusive (see `SocketIOClientSession`); after the session closes every input
/// returns no actions.
///
/// With a recovery store (socket.io's `connectionStateRecovery`) the session hands the client a
/// private session id with CONNECT, appends an offset to every event it sends without an ack, keeps
/// itself in the store when it ends for a recoverable reason, and gives a client that comes back
/// with its private id and last offset its old socket id and the events it missed (sent before the
/// CONNECT answer, as socket.io does; `recovered` is then true).
public struct SocketIOServerSession: Sendable {
    /// The actions this machine returns.
    public typealias Action = HeartbeatAction<SocketIOTimer, SocketIOServerOutput>

    /// The server's settings, named after socket.io's.
    public struct Options: Sendable, Hashable {
        /// The namespace this session serves.
        public var namespace: String
        /// socket.io's `connectTimeout`: close the transport if no namespace is joined by then; nil never.
        public var connectTimeout: TimeSpan?
        /// When true, a CONNECT waits for `accept(at:)` or `reject(...)`; when false it is accepted at once.
        public var requiresAcceptance: Bool
        /// The default timeout of `emitWithAck`; nil waits forever.
        public var ackTimeout: TimeSpan?

        /// Options with socket.io's defaults: namespace "/", 45 s connect timeout, automatic
        /// acceptance, no ack timeout.
        public init(namespace: String = SocketIOPacket.defaultNamespace, connectTimeout: TimeSpan? = .seconds(45),
                    requiresAcceptance: Bool = false, ackTimeout: TimeSpan? = nil) {
            self.namespace = namespace
            self.connectTimeout = connectTimeout
            self.requiresAcceptance = requiresAcceptance
            self.ackTimeout = ackTimeout
        }
    }

    /// Where the session is.
    public enum State: Sendable, Hashable {
        /// Created; the transport is not reported open yet.
        case idle
        /// The transport is open; waiting for the client's CONNECT.
        case awaitingConnect
        /// A CONNECT arrived and waits for the application's decision.
        case awaitingAcceptance(auth: JSONValue?)
        /// The client joined the namespace.
        case connected
        /// Over, for this reason; every later input is ignored.
        case closed(CloseReason)
    }

    /// The settings this session was made with.
    public let options: Options
    /// The socket id handed to the client on connect (the old one, for a recovered session).
    public private(set) var sid: String
    /// The current state.
    public private(set) var state: State = .idle
    /// The store for connection state recovery, if the server has it on.
    public let recovery: SocketIORecoveryStore?
    /// The private session id handed to the client with CONNECT (only with recovery).
    public private(set) var pid: String?
    /// Whether this connect recovered an earlier session.
    public private(set) var recovered = false
    /// The rooms the socket is in (the application's `socket.join`; a recovered session's come back).
    public private(set) var rooms: Set<String> = []

    private var connectDeadline: Instant?
    private var acks = SocketIOAckTable()
    private var assembler = SocketIOMessageAssembler()
    /// A recovered session's missed events, held while the application decides on the connect.
    private var pendingReplay: [Action] = []

    /// A session that will hand out `sid` (draw it with `makeSocketID(using:)` for reproducible runs),
    /// recovering sessions through `recovery` when given.
    public init(sid: String, options: Options = Options(), recovery: SocketIORecoveryStore? = nil) {
        self.sid = sid
        self.options = options
        self.recovery = recovery
    }

    /// A socket id like socket.io's base64id: 15 random bytes as 20 URL-safe base64 characters,
    /// drawn from the caller's generator.
    public static func makeSocketID(using generator: inout SeededGenerator) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var bytes: [UInt8] = []
        while bytes.count < 15 {
            var word = generator.next()
            for _ in 0..<8 where bytes.count < 15 {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        var out = ""
        for chunk in stride(from: 0, to: 15, by: 3) {
            let n = UInt32(bytes[chunk]) << 16 | UInt32(bytes[chunk + 1]) << 8 | UInt32(bytes[chunk + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
        }
        return out
    }

    /// Whether the client has joined.
    public var isConnected: Bool { state == .connected }

    /// Whether the session is over.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The Engine.IO transport is open: the connect timeout starts.
    public mutating func start(at now: Instant) -> [Action] {
        guard state == .idle else { return [] }
        state = .awaitingConnect
        guard let timeout = options.connectTimeout else { return [] }
        connectDeadline = now + timeout
        return [.arm(.connectTimeout, at: now + timeout)]
    }

    /// One Engine.IO message from the client. Undecodable input closes with `.parseError`; packets
    /// for other namespaces, and anything but CONNECT before the client joined, are ignored.
    public mutating func receive(_ frame: SocketIOFrame, at now: Instant) -> [Action] {
        switch state {
        case .idle, .closed: return []
        default: break
        }
        let message: SocketIOMessage?
        do {
            message = try assembler.receive(frame)
        } catch {
            return finish(.parseError, closeTransport: true)
        }
        guard let message, message.packet.namespace == options.namespace else { return [] }
        let packet = message.packet
        switch packet.type {
        case .connect:
            guard state == .awaitingConnect else { return [] }
            if let deadline = connectDeadline, now >= deadline { return timeOut(timerFired: false) }
            var replay: [Action] = []
            if let recovery {
                // socket.io's _createSocket: a string pid and offset ask for the old session.
                if case .object(let auth)? = packet.data, case .string(let pid)? = auth["pid"],
                   case .string(let offset)? = auth["offset"], let restored = recovery.restore(pid: pid, offset: offset, at: now) {
                    sid = restored.sid
                    self.pid = pid
                    recovered = true
                    rooms = restored.rooms
                    for missed in restored.missed {
                        replay.append(.send(.replayed(SocketIOEvent(name: missed.event, arguments: missed.arguments,
                                                                    ackID: nil, attachments: []))))
                        replay.append(.send(.message(SocketIOMessage(.event(missed.event, missed.arguments,
                                                                            namespace: options.namespace)))))
                    }
                } else {
                    self.pid = recovery.newPrivateID()
                }
            }
            if options.requiresAcceptance, !(recovered && recovery?.options.skipMiddlewares == true) {
                // The replay waits for the decision; a refused client gets none.
                pendingReplay = replay
                state = .awaitingAcceptance(auth: packet.data)
                return [.send(.connectRequested(auth: packet.data))]
            }
            return replay + join(auth: packet.data)
        case .disconnect:
            guard isConnected else { return [] }
            return finish(.clientNamespaceDisconnect, closeTransport: false)
        case .event, .binaryEvent:
            guard isConnected else { return [] }
            if let id = packet.ackID { acks.owe(id) }
            return [.send(.event(SocketIOEvent(name: packet.eventName ?? "", arguments: packet.arguments,
                                               ackID: packet.ackID, attachments: message.attachments)))]
        case .ack, .binaryAck:
            guard isConnected, let id = packet.ackID else { return [] }
            switch acks.resolve(id, now: now) {
            case .unknown:
                return []
            case .late:
                return [.cancel(.ackTimeout(id)), .send(.ackFailed(id: id, .timedOut))]
            case .onTime(let hadTimer):
                var actions: [Action] = hadTimer ? [.cancel(.ackTimeout(id))] : []
                actions.append(.send(.ackReceived(SocketIOAck(id: id, arguments: packet.arguments,
                                                              attachments: message.attachments))))
                return actions
            }
        case .connectError:
            return []
        }
    }

    /// Accepts the pending CONNECT (see `Options.requiresAcceptance`).
    public mutating func accept(at now: Instant) -> [Action] {
        guard case .awaitingAcceptance(let auth) = state else { return [] }
        if let deadline = connectDeadline, now >= deadline { return timeOut(timerFired: false) }
        let replay = pendingReplay
        pendingReplay = []
        return replay + join(auth: auth)
    }

    /// Refuses the pending CONNECT with a CONNECT_ERROR `{"message":...,"data":...}`; the client
    /// may try again on the same transport until the connect timeout.
    public mutating func reject(message: String, data: JSONValue? = nil, at now: Instant) -> [Action] {
        guard case .awaitingAcceptance = state else { return [] }
        state = .awaitingConnect
        pendingReplay = []
        recovered = false
        let packet = SocketIOPacket.connectError(namespace: options.namespace, message: message, data: data)
        return [.send(.message(SocketIOMessage(packet)))]
    }

    /// Emits an event to the client without an ack; dropped unless connected.
    public mutating func emit(_ event: String, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                              at now: Instant) throws(SocketIOEmitError) -> [Action] {
        guard !SocketIOPacket.reservedEventNames.contains(event) else { throw .reservedEventName(event) }
        guard isConnected else { return [] }
        // With recovery every event without an ack is kept, its offset last (socket.io's socket.emit
        // through the session-aware adapter).
        let sent = recovery.map { $0.record(event, arguments, to: .socket(sid), at: now) } ?? arguments
        let packet = SocketIOPacket.event(event, sent, namespace: options.namespace,
                                          attachmentCount: attachments.count)
        return [.send(.message(SocketIOMessage(packet, attachments: attachments)))]
    }

    /// Keeps an event the driver sends without encoding it (the simulator's size-only ticks) in the
    /// recovery store, as `emit` would, and returns its offset; nil without recovery or a connection.
    public mutating func recordUnencoded(_ event: String, _ arguments: [JSONValue], at now: Instant) -> Int64? {
        guard isConnected, let recovery else { return nil }
        return recovery.recordOffset(event, arguments, to: .socket(sid), at: now)
    }

    /// The application puts the socket in `room` (socket.io's `socket.join`).
    public mutating func join(room: String) {
        rooms.insert(room)
    }

    /// Sends broadcast event number `sequence` of the server's stream (due by `now`) to this client
    /// (of `room`'s stream, for a per-room one); with recovery it carries the stream's offset for
    /// that event, the same for every client.
    public mutating func emitBroadcast(sequence: Int64, room: String? = nil, _ arguments: [JSONValue], at now: Instant) -> [Action] {
        guard isConnected else { return [] }
        let sent = recovery?.broadcastArguments(sequence: sequence, room: room, at: now) ?? arguments
        return [.send(.message(SocketIOMessage(.event(BroadcastDetail.event, sent, namespace: options.namespace))))]
    }

    /// Emits an event that wants an ack, with `options.ackTimeout`.
    public mutating func emitWithAck(_ event: String, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                                     at now: Instant) throws(SocketIOEmitError) -> (ackID: Int64?, actions: [Action]) {
        try emitWithAck(event, arguments, attachments: attachments, timeout: options.ackTimeout, at: now)
    }

    /// Emits an event that wants an ack (socket.io's `socket.timeout(ms).emitWithAck`); returns its
    /// ack id, or nil when not connected and nothing was sent.
    public mutating func emitWithAck(_ event: String, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                                     timeout: TimeSpan?,
                                     at now: Instant) throws(SocketIOEmitError) -> (ackID: Int64?, actions: [Action]) {
        guard !SocketIOPacket.reservedEventNames.contains(event) else { throw .reservedEventName(event) }
        guard isConnected else { return (nil, []) }
        let (id, deadline) = acks.register(timeout: timeout, now: now)
        let packet = SocketIOPacket.event(event, arguments, namespace: options.namespace, ackID: id,
                                          attachmentCount: attachments.count)
        var actions: [Action] = []
        if let deadline { actions.append(.arm(.ackTimeout(id), at: deadline)) }
        actions.append(.send(.message(SocketIOMessage(packet, attachments: attachments))))
        return (id, actions)
    }

    /// Answers an event the client sent with an ack id, once.
    public mutating func ack(_ id: Int64, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                             at now: Instant) -> [Action] {
        guard isConnected, acks.pay(id) else { return [] }
        let packet = SocketIOPacket.ack(id: id, arguments, namespace: options.namespace,
                                        attachmentCount: attachments.count)
        return [.send(.message(SocketIOMessage(packet, attachments: attachments)))]
    }

    /// The server disconnects the socket (socket.disconnect(close)): DISCONNECT if connected, then
    /// the session ends with `.serverNamespaceDisconnect`; the transport is closed only if asked.
    public mutating func disconnect(closeTransport: Bool = false, at now: Instant) -> [Action] {
        guard !isClosed else { return [] }
        var actions: [Action] = []
        if isConnected { actions.append(.send(.message(SocketIOMessage(.disconnect(namespace: options.namespace))))) }
        return actions + finish(.serverNamespaceDisconnect, closeTransport: closeTransport)
    }

    /// The transport closed under the session; it ends with that reason.
    public mutating func transportClosed(_ reason: CloseReason, at now: Instant) -> [Action] {
        guard !isClosed else { return [] }
        // socket.io's _onclose: a connected socket that ends for a recoverable reason is kept (the
        // other reasons, a namespace disconnect by either side or a parse error, end it for good).
        if isConnected, let recovery, let pid, SocketIORecoveryOptions.isRecoverable(reason) {
            recovery.persist(pid: pid, sid: sid, rooms: rooms, at: now)
        }
        return finish(reason, closeTransport: false)
    }

    /// A timer armed by this session fired; stale or early firings are ignored.
    public mutating func timerFired(_ timer: SocketIOTimer, at now: Instant) -> [Action] {
        guard !isClosed else { return [] }
        switch timer {
        case .connectTimeout:
            guard let deadline = connectDeadline, now >= deadline, !isConnected else { return [] }
            return timeOut(timerFired: true)
        case .ackTimeout(let id):
            guard acks.expire(id, now: now) else { return [] }
            return [.send(.ackFailed(id: id, .timedOut))]
        }
    }

    // MARK: - Internals

    private mutating func join(auth: JSONValue?) -> [Action] {
        state = .connected
        var actions: [Action] = [.observe(.opened)]
        if connectDeadline != nil {
            actions.append(.cancel(.connectTimeout))
            connectDeadline = nil
        }
        actions.append(.send(.message(SocketIOMessage(.connected(namespace: options.namespace, sid: sid, pid: pid)))))
        actions.append(.send(.connected(auth: auth)))
        return actions
    }

    private mutating func timeOut(timerFired: Bool) -> [Action] {
        finish(.connectTimeout, closeTransport: true, timerFired: timerFired)
    }

    private mutating func finish(_ reason: CloseReason, closeTransport: Bool, timerFired: Bool = false) -> [Action] {
        pendingReplay = []
        var actions: [Action] = []
        if connectDeadline != nil, !timerFired { actions.append(.cancel(.connectTimeout)) }
        connectDeadline = nil
        let failed = acks.drain()
        for entry in failed where entry.hadTimer { actions.append(.cancel(.ackTimeout(entry.id))) }
        if closeTransport { actions.append(.close(reason)) }
        actions.append(.observe(.closed(reason)))
        for entry in failed { actions.append(.send(.ackFailed(id: entry.id, .disconnected))) }
        assembler.reset()
        state = .closed(reason)
        return actions
    }
}
