import LabCore

/// What a client session hands its driver through `HeartbeatAction.send`: a message for the
/// Engine.IO transport (to the peer), or a notification for the application that owns the socket.
public enum SocketIOClientOutput: Sendable, Hashable {
    /// Write this message to the transport, as `message.frames` (Engine.IO "4" messages).
    case message(SocketIOMessage)
    /// The namespace is connected with this socket id (socket.io-client's "connect").
    case connected(sid: String)
    /// The namespace connection failed (socket.io-client's "connect_error").
    case connectFailed(SocketIOConnectFailure)
    /// The server emitted an event.
    case event(SocketIOEvent)
    /// The server acknowledged one of our events.
    case ackReceived(SocketIOAck)
    /// One of our emit-with-acks will get no answer; the ack callback gets this error.
    case ackFailed(id: Int64, SocketIOAckFailure)
}

/// One Socket.IO v5 namespace connection, client side, as a sans-IO state machine: namespace
/// CONNECT with a connect timeout, events, acks with per-ack timeouts, and the disconnect reasons
/// socket.io-client reports. It sits on an Engine.IO transport and never sees a socket or a clock.
///
/// Timing rules: the connect timeout (socket.io-client's `timeout`, 20 s by default) runs from
/// `start(at:)` (the moment the driver begins opening the transport, as Manager.open does) or, if
/// the driver skips it, from `transportOpened(at:)`. Deadlines are exclusive: a CONNECT answer or an
/// ack that arrives exactly at its deadline is late, whatever order the driver delivers it and the
/// timer in. After the session closes every input returns no actions.
///
/// Connection state recovery (socket.io 4.6+) as socket.io-client does it: the session keeps the
/// private id the server sent with CONNECT and the offset of the last event it processed
/// (`recoveryToken`), sends both with the next attempt's CONNECT, and reports `recovered` when the
/// server answers with the same private id.
public struct SocketIOClientSession: Sendable {
    /// The actions this machine returns.
    public typealias Action = HeartbeatAction<SocketIOTimer, SocketIOClientOutput>

    /// The client's settings, named after socket.io-client's.
    public struct Options: Sendable, Hashable {
        /// The namespace to join.
        public var namespace: String
        /// The `auth` object sent with CONNECT, if any.
        public var auth: JSONObject?
        /// socket.io-client's `timeout`: how long the connection may take; nil disables it (`false`).
        public var connectTimeout: TimeSpan?
        /// socket.io-client's `ackTimeout`: the default timeout of `emitWithAck`; nil waits forever.
        public var ackTimeout: TimeSpan?

        /// Options with socket.io-client's defaults: namespace "/", no auth, 20 s connect timeout,
        /// no ack timeout.
        public init(namespace: String = SocketIOPacket.defaultNamespace, auth: JSONObject? = nil,
                    connectTimeout: TimeSpan? = .seconds(20), ackTimeout: TimeSpan? = nil) {
            self.namespace = namespace
            self.auth = auth
            self.connectTimeout = connectTimeout
            self.ackTimeout = ackTimeout
        }
    }

    /// Where the session is.
    public enum State: Sendable, Hashable {
        /// Created; nothing has happened yet.
        case idle
        /// The driver is opening the transport; the connect timeout runs.
        case openingTransport
        /// CONNECT sent; waiting for the server's answer.
        case connecting
        /// Connected with this socket id.
        case connected(sid: String)
        /// Over, for this reason; every later input is ignored.
        case closed(CloseReason)
    }

    /// The settings this session was made with.
    public let options: Options
    /// The current state.
    public private(set) var state: State = .idle

    private var connectDeadline: Instant?
    private var acks = SocketIOAckTable()
    private var assembler = SocketIOMessageAssembler()
    /// Emits made before the namespace connected, sent on connect (socket.io-client's sendBuffer).
    private var sendBuffer: [(ackID: Int64?, message: SocketIOMessage)] = []
    /// Events received before the namespace connected (socket.io-client's receiveBuffer).
    private var receiveBuffer: [SocketIOEvent] = []
    /// The private session id and last offset, carried from one attempt's session to the next.
    public private(set) var recoveryToken: SocketIORecoveryToken?
    /// Whether the namespace connect recovered the previous session (socket.io-client's `recovered`).
    public private(set) var recovered = false

    /// A session that has not started, carrying the previous attempt's `recoveryToken` if any.
    public init(options: Options = Options(), resuming token: SocketIORecoveryToken? = nil) {
        self.options = options
        self.recoveryToken = token
    }

    /// Whether the namespace is connected.
    public var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    /// Whether the session is over.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The driver starts opening the transport for this session: the connect timeout starts now.
    public mutating func start(at now: Instant) -> [Action] {
        guard case .idle = state else { return [] }
        state = .openingTransport
        return armConnectTimer(now: now)
    }

    /// The Engine.IO transport is open: send CONNECT (with `auth`), arming the connect timeout if
    /// `start(at:)` did not.
    public mutating func transportOpened(at now: Instant) -> [Action] {
        switch state {
        case .idle, .openingTransport:
            if case .openingTransport = state, let deadline = connectDeadline, now >= deadline {
                return timeOutConnect()
            }
            var actions = connectDeadline == nil ? armConnectTimer(now: now) : []
            state = .connecting
            let auth = recoveryToken.map { $0.connectPayload(auth: options.auth) } ?? options.auth
            actions.append(.send(.message(SocketIOMessage(.connect(namespace: options.namespace, auth: auth)))))
            return actions
        default:
            return []
        }
    }

    /// One Engine.IO message from the server. Undecodable input closes with `.parseError`;
    /// packets for other namespaces are ignored, as are frames before `transportOpened(at:)`.
    public mutating func receive(_ frame: SocketIOFrame, at now: Instant) -> [Action] {
        switch state {
        case .connecting, .connected: break
        default: return []
        }
        let message: SocketIOMessage?
        do {
            message = try assembler.receive(frame)
        } catch {
            return finish(.parseError, closeTransport: true)
        }
        guard let message, message.packet.namespace == options.namespace else { return [] }
        return handle(message, now: now)
    }

    /// Emits an event without an ack. Before the namespace connects it is buffered and sent on
    /// connect; after the session closed it is dropped.
    public mutating func emit(_ event: String, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                              at now: Instant) throws(SocketIOEmitError) -> [Action] {
        guard !SocketIOPacket.reservedEventNames.contains(event) else { throw .reservedEventName(event) }
        guard !isClosed else { return [] }
        let packet = SocketIOPacket.event(event, arguments, namespace: options.namespace,
                                          attachmentCount: attachments.count)
        return send(SocketIOMessage(packet, attachments: attachments), ackID: nil)
    }

    /// Emits an event that wants an ack, with `options.ackTimeout`.
    public mutating func emitWithAck(_ event: String, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                                     at now: Instant) throws(SocketIOEmitError) -> (ackID: Int64?, actions: [Action]) {
        try emitWithAck(event, arguments, attachments: attachments, timeout: options.ackTimeout, at: now)
    }

    /// Emits an event that wants an ack (socket.io-client's `timeout(ms).emitWithAck`): returns the
    /// ack id, or nil when the session is closed and nothing was sent. The answer comes back as
    /// `.ackReceived`, or `.ackFailed(.timedOut)` once `timeout` has passed (nil: never).
    public mutating func emitWithAck(_ event: String, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                                     timeout: TimeSpan?,
                                     at now: Instant) throws(SocketIOEmitError) -> (ackID: Int64?, actions: [Action]) {
        guard !SocketIOPacket.reservedEventNames.contains(event) else { throw .reservedEventName(event) }
        guard !isClosed else { return (nil, []) }
        let (id, deadline) = acks.register(timeout: timeout, now: now)
        let packet = SocketIOPacket.event(event, arguments, namespace: options.namespace, ackID: id,
                                          attachmentCount: attachments.count)
        var actions: [Action] = []
        if let deadline { actions.append(.arm(.ackTimeout(id), at: deadline)) }
        actions += send(SocketIOMessage(packet, attachments: attachments), ackID: id)
        return (id, actions)
    }

    /// Answers an event the server sent with an ack id; a second answer, or one for an id the
    /// server never sent, is ignored (socket.io-client's "prevent double callbacks").
    public mutating func ack(_ id: Int64, _ arguments: [JSONValue] = [], attachments: [[UInt8]] = [],
                             at now: Instant) -> [Action] {
        guard isConnected, acks.pay(id) else { return [] }
        let packet = SocketIOPacket.ack(id: id, arguments, namespace: options.namespace,
                                        attachmentCount: attachments.count)
        return [.send(.message(SocketIOMessage(packet, attachments: attachments)))]
    }

    /// The application disconnects (socket.disconnect()): DISCONNECT if connected, then close with
    /// `.ioClientDisconnect`; socket.io-client does not reconnect after this.
    public mutating func disconnect(at now: Instant) -> [Action] {
        switch state {
        case .closed:
            return []
        case .idle:
            return finish(.ioClientDisconnect, closeTransport: false)
        case .connected:
            let bye: Action = .send(.message(SocketIOMessage(.disconnect(namespace: options.namespace))))
            return [bye] + finish(.ioClientDisconnect, closeTransport: true)
        case .openingTransport, .connecting:
            return finish(.ioClientDisconnect, closeTransport: true)
        }
    }

    /// The transport closed under the session (ping timeout, transport close or error...): the
    /// session ends with that reason and pending acks fail with `.disconnected`.
    public mutating func transportClosed(_ reason: CloseReason, at now: Instant) -> [Action] {
        guard !isClosed else { return [] }
        return finish(reason, closeTransport: false)
    }

    /// A timer armed by this session fired; stale or early firings are ignored.
    public mutating func timerFired(_ timer: SocketIOTimer, at now: Instant) -> [Action] {
        guard !isClosed else { return [] }
        switch timer {
        case .connectTimeout:
            guard let deadline = connectDeadline, now >= deadline else { return [] }
            switch state {
            case .openingTransport, .connecting: return timeOutConnect(timerFired: true)
            default: return []
            }
        case .ackTimeout(let id):
            guard acks.expire(id, now: now) else { return [] }
            sendBuffer.removeAll { $0.ackID == id }
            return [.send(.ackFailed(id: id, .timedOut))]
        }
    }

    // MARK: - Internals

    private mutating func armConnectTimer(now: Instant) -> [Action] {
        guard let timeout = options.connectTimeout else { return [] }
        let deadline = now + timeout
        connectDeadline = deadline
        return [.arm(.connectTimeout, at: deadline)]
    }

    private mutating func send(_ message: SocketIOMessage, ackID: Int64?) -> [Action] {
        if isConnected { return [.send(.message(message))] }
        sendBuffer.append((ackID, message))
        return []
    }

    private mutating func handle(_ message: SocketIOMessage, now: Instant) -> [Action] {
        let packet = message.packet
        switch packet.type {
        case .connect:
            guard case .connecting = state else { return [] }
            if let deadline = connectDeadline, now >= deadline { return timeOutConnect() }
            guard case .object(let object)? = packet.data, case .string(let sid)? = object["sid"] else {
                return [.send(.connectFailed(.incompatibleServer))]
            }
            var pid: String?
            if case .string(let given)? = object["pid"] { pid = given }
            return connect(sid: sid, pid: pid)
        case .connectError:
            guard case .connecting = state else { return [] }
            var actions = finish(.forcedClose, closeTransport: true)
            actions.append(.send(.connectFailed(.refused(packet.data))))
            return actions
        case .disconnect:
            return finish(.ioServerDisconnect, closeTransport: true)
        case .event, .binaryEvent:
            let event = SocketIOEvent(name: packet.eventName ?? "", arguments: packet.arguments,
                                      ackID: packet.ackID, attachments: message.attachments)
            if let id = packet.ackID { acks.owe(id) }
            if isConnected {
                processed(event)
                return [.send(.event(event))]
            }
            receiveBuffer.append(event)
            return []
        case .ack, .binaryAck:
            guard let id = packet.ackID else { return [] }
            switch acks.resolve(id, now: now) {
            case .unknown:
                return []
            case .late:
                sendBuffer.removeAll { $0.ackID == id }
                return [.cancel(.ackTimeout(id)), .send(.ackFailed(id: id, .timedOut))]
            case .onTime(let hadTimer):
                var actions: [Action] = hadTimer ? [.cancel(.ackTimeout(id))] : []
                actions.append(.send(.ackReceived(SocketIOAck(id: id, arguments: packet.arguments,
                                                              attachments: message.attachments))))
                return actions
            }
        }
    }

    /// An event without an ack that the driver did not encode (the simulator's size-only ticks)
    /// reached the application with this offset as its last argument.
    public mutating func processedUnencoded(offset: Int64) {
        guard isConnected, recoveryToken?.pid != nil else { return }
        recoveryToken?.offset = String(offset)
    }

    /// socket.io-client's emitEvent: with a private id, an event without an ack whose last argument
    /// is a string moves the offset there.
    private mutating func processed(_ event: SocketIOEvent) {
        guard recoveryToken?.pid != nil, event.ackID == nil, case .string(let offset)? = event.arguments.last else { return }
        recoveryToken?.offset = offset
    }

    /// socket.io-client's onconnect: the private id (recovered when it is the one we had), buffered
    /// events, then buffered emits, then "connect".
    private mutating func connect(sid: String, pid: String?) -> [Action] {
        recovered = pid != nil && recoveryToken?.pid == pid
        if pid != nil || recoveryToken != nil {
            recoveryToken = SocketIORecoveryToken(pid: pid, offset: recoveryToken?.offset)
        }
        state = .connected(sid: sid)
        for event in receiveBuffer { processed(event) }
        var actions: [Action] = [.observe(.opened)]
        if connectDeadline != nil {
            actions.append(.cancel(.connectTimeout))
            connectDeadline = nil
        }
        actions += receiveBuffer.map { .send(.event($0)) }
        actions += sendBuffer.map { .send(.message($0.message)) }
        receiveBuffer = []
        sendBuffer = []
        actions.append(.send(.connected(sid: sid)))
        return actions
    }

    /// Gives up on the connection: from the timer itself, or from an answer that came too late
    /// (then the still-armed timer is cancelled).
    private mutating func timeOutConnect(timerFired: Bool = false) -> [Action] {
        var actions = finish(.connectTimeout, closeTransport: true, timerFired: timerFired)
        actions.append(.send(.connectFailed(.timedOut)))
        return actions
    }

    /// Ends the session: cancels timers, closes the transport if asked, records the close, then
    /// fails every pending ack with `.disconnected` (the order of socket.io-client's onclose).
    private mutating func finish(_ reason: CloseReason, closeTransport: Bool, timerFired: Bool = false) -> [Action] {
        var actions: [Action] = []
        if connectDeadline != nil, !timerFired { actions.append(.cancel(.connectTimeout)) }
        connectDeadline = nil
        let failed = acks.drain()
        for entry in failed where entry.hadTimer { actions.append(.cancel(.ackTimeout(entry.id))) }
        if closeTransport { actions.append(.close(reason)) }
        actions.append(.observe(.closed(reason)))
        for entry in failed { actions.append(.send(.ackFailed(id: entry.id, .disconnected))) }
        sendBuffer = []
        receiveBuffer = []
        assembler.reset()
        state = .closed(reason)
        return actions
    }
}
