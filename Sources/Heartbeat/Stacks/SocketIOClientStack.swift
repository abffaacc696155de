import LabCore

/// What a Socket.IO client stack reports for the event log. Each driver writes these in its own
/// log representation; what is reported, and when, is decided here once.
public enum ClientStackNote: Sendable, Hashable {
    /// A reconnect attempt starts (socket.io-client's "reconnect_attempt").
    case reconnectAttempt(Int)
    /// The namespace connected ("connect").
    case connected
    /// A reconnect succeeded after this many attempts: the namespace connected again (socket.io-client
    /// reports "reconnect" at the transport's open; the connection counts from here), and whether the
    /// server recovered the session (connection state recovery: same socket id, missed events replayed).
    case reconnected(attempts: Int, recovered: Bool)
    /// The reconnection attempts are used up ("reconnect_failed").
    case reconnectFailed
    /// A connect attempt failed, for this reason ("connect_error").
    case connectError(ClientConnectError)
    /// A heartbeat ping arrived.
    case ping
    /// The server emitted this event.
    case eventReceived(String)
    /// The server acknowledged one of the client's emits.
    case ackReceived
    /// An ack the client waited for failed.
    case ackFailed(id: Int64, SocketIOAckFailure)
    /// The client emitted this event.
    case eventSent(String)
    /// The connection ended, for this reason.
    case disconnected(CloseReason)

    /// The event-log kind, reason, detail and attempt this note is written as (the live log's text;
    /// the simulator interns the same strings).
    public var logFields: (kind: EventKind, reason: String?, detail: String?, attempt: Int?) {
        switch self {
        case .reconnectAttempt(let n): (.reconnectAttempt, nil, nil, n)
        case .connected: (.connect, nil, "socket.io /", nil)
        case .reconnected(let n, let recovered):
            (.connect, nil, "reconnected after \(n) attempts" + (recovered ? ClientStackNote.recoveredSuffix : ""), nil)
        case .reconnectFailed: (.connectError, "reconnect failed", nil, nil)
        case .connectError(let error): (.connectError, error.rawValue, nil, nil)
        case .ping: (.ping, nil, nil, nil)
        case .eventReceived(let name): (.messageReceived, nil, name, nil)
        case .ackReceived: (.messageReceived, nil, "ack", nil)
        case .ackFailed(let id, let failure): (.messageReceived, "\(failure)", "ack \(id) failed", nil)
        case .eventSent(let name): (.messageSent, nil, name, nil)
        case .disconnected(let reason): (.disconnect, reason.rawValue, nil, nil)
        }
    }
}

extension ClientStackNote {
    /// What a connect's log detail ends with when the server recovered the session.
    public static let recoveredSuffix = ", recovered"
}

/// Why a client's connect attempt failed, as the event log names it.
public enum ClientConnectError: String, Sendable, Hashable {
    /// The namespace connect did not finish within the connect timeout.
    case timedOut = "connect timeout"
    /// The server answered CONNECT_ERROR.
    case refused = "refused by server"
    /// The server's CONNECT answer was not Socket.IO v5's.
    case incompatibleServer = "incompatible server"
    /// The transport could not be opened.
    case transportError = "transport error"
}

/// A Socket.IO client as a whole, sans-IO: the Engine.IO client heartbeat, the namespace session,
/// socket.io-client's reconnection manager and, when configured, a dashboard's custom ping and
/// health check and an "echo" emitter, composed once with their close rules. Inputs (a packet from
/// the current transport, the transport's close, a timer) plus `now` in, actions out.
///
/// The live client (NIO) and the simulated connection both carry out these actions and nothing
/// else: `openTransport` starts a new transport (anything the previous one delivers afterwards is
/// to be ignored), `send` writes on the current one, `closeTransport` closes it. Which transport is
/// current is the driver's business; whether there is one is the stack's (`hasTransport`).
public struct SocketIOClientStack: Sendable {
    /// What composes the stack.
    public struct Configuration: Sendable {
        /// The Engine.IO client heartbeat's rules.
        public var heartbeat: EngineIOClientHeartbeat.Configuration
        /// The namespace session's options (auth payload, connect timeout).
        public var namespace: SocketIOClientSession.Options
        /// Reconnection (socket.io-client's Manager options).
        public var reconnection: ReconnectionOptions
        /// A dashboard's custom ping (nil: none).
        public var customPing: CustomPing.Options?
        /// A dashboard's health check (nil: none).
        public var healthCheck: HealthCheck.Options?
        /// How often the client emits "echo" with an ack once connected (nil: never).
        public var emitInterval: TimeSpan?
        /// The application's replay of the broadcast stream: with `request`, the client asks for
        /// the events after the newest it received on every connect that did not recover (nil: none).
        public var broadcastReplay: BroadcastReplay?
        /// The room of the broadcast stream this client joins on every connect that did not recover
        /// (a recovered session is still in it); nil joins none.
        public var broadcastRoom: String?

        /// A configuration; the defaults are socket.io-client's, with no application layer.
        public init(heartbeat: EngineIOClientHeartbeat.Configuration = .engineIOClient,
                    namespace: SocketIOClientSession.Options = .init(),
                    reconnection: ReconnectionOptions = .init(),
                    customPing: CustomPing.Options? = nil, healthCheck: HealthCheck.Options? = nil,
                    emitInterval: TimeSpan? = nil, broadcastReplay: BroadcastReplay? = nil, broadcastRoom: String? = nil) {
            self.heartbeat = heartbeat
            self.namespace = namespace
            self.reconnection = reconnection
            self.customPing = customPing
            self.healthCheck = healthCheck
            self.emitInterval = emitInterval
            self.broadcastReplay = broadcastReplay
            self.broadcastRoom = broadcastRoom
        }
    }

    /// Every timer of the stack, by machine.
    public enum Timer: Sendable, Hashable {
        /// The Engine.IO heartbeat's.
        case heartbeat(EngineIOClientHeartbeat.Timer)
        /// The namespace session's (connect timeout, ack timeouts).
        case session(SocketIOTimer)
        /// The reconnection backoff.
        case reconnect(ReconnectionTimer)
        /// The next "echo" emit.
        case emit
        /// The custom ping's.
        case customPing(CustomPingTimer)
        /// The health check's.
        case healthCheck
    }

    /// What the stack asks of its driver.
    public enum Action: Sendable, Hashable {
        /// Open a new transport for this attempt (0: the first connection; n: reconnect attempt n).
        case openTransport(attempt: Int)
        /// Write this packet on the current transport.
        case send(EngineIOPacket)
        /// Close the current transport (the client's socket closes; a FIN goes to the server).
        case closeTransport
        /// Arm (or re-arm) the timer at the instant; then call `timerFired`.
        case arm(Timer, at: Instant)
        /// Disarm the timer if armed.
        case cancel(Timer)
        /// Disarm every timer (a transport that failed to open).
        case cancelAllTimers
        /// Write this to the event log.
        case note(ClientStackNote)
    }

    /// The composition's settings.
    public let configuration: Configuration
    /// The current attempt's Engine.IO heartbeat.
    public private(set) var heartbeat: EngineIOClientHeartbeat
    /// The current attempt's namespace session.
    public private(set) var session: SocketIOClientSession
    /// The reconnection manager.
    public private(set) var reconnection: ReconnectionManager
    private var customPing: CustomPing?
    private var healthCheck: HealthCheck?
    /// Whether a transport is open (or opening) for the current attempt.
    public private(set) var hasTransport = false
    /// Whether the current attempt's namespace connected (the session's own state says closed as
    /// soon as it decides to close, before the close is carried out).
    private var namespaceConnected = false
    /// A reconnect attempt whose transport opened (socket.io-client's Manager "reconnect"): the
    /// attempts it took, reported when the namespace connects, which is when the client is connected.
    private var reconnectedAfter: Int?
    private var stopped = false
    private var echoCount: Int64 = 0
    /// The newest broadcast event received, over every attempt (the replay request's `since`).
    private var newestBroadcast: Int64 = 0

    /// A stack with this configuration, drawing reconnection jitter from `generator`.
    public init(configuration: Configuration, generator: SeededGenerator) {
        self.configuration = configuration
        heartbeat = EngineIOClientHeartbeat(configuration: configuration.heartbeat)
        session = SocketIOClientSession(options: configuration.namespace)
        reconnection = ReconnectionManager(options: configuration.reconnection, generator: generator)
        customPing = configuration.customPing.map { CustomPing(options: $0) }
        healthCheck = configuration.healthCheck.map { HealthCheck(options: $0) }
    }

    /// Whether the namespace is connected.
    public var isConnected: Bool {
        if case .connected = session.state { return true }
        return false
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

    /// The application connects (socket.io-client's `connect()`).
    public mutating func start(at now: Instant) -> [Action] {
        var out = Self.actionBuffer()
        reconnection(reconnection.start(at: now), now, &out)
        return out
    }

    /// The application disconnects (`socket.disconnect()`): the session says goodbye, reconnection
    /// stops, every timer is disarmed. An attempt in flight is abandoned: its transport closes and
    /// nothing it delivers later reaches the stack; a socket that never connected reports no
    /// disconnect (socket.io-client emits "disconnect" only for a connected socket).
    public mutating func stop(at now: Instant) -> [Action] {
        stopped = true
        var out = Self.actionBuffer()
        session(session.disconnect(at: now), now, &out)
        reconnection(reconnection.stop(at: now), now, &out)
        out.append(.cancelAllTimers)
        return out
    }

    /// A packet arrived on the current transport.
    public mutating func received(_ packet: EngineIOPacket, at now: Instant) -> [Action] {
        guard hasTransport else { return [] }
        var out = Self.actionBuffer()
        heartbeat(heartbeat.received(packet, at: now), now, &out)
        switch packet {
        // A health check keyed to chosen events hears of them once they are decoded (below).
        case .message, .binary: if healthCheck?.countsEveryMessage ?? false { observe(.message, now, &out) }
        case .ping, .pong: observe(.heartbeat, now, &out)
        default: break
        }
        // The heartbeat or the health check may have closed the connection.
        guard hasTransport else { return out }
        switch packet {
        case .open:
            reconnection(reconnection.opened(at: now), now, &out)
            session(session.transportOpened(at: now), now, &out)
        case .ping:
            out.append(.note(.ping))
        case .message(let text):
            session(session.receive(.text(text), at: now), now, &out)
        case .binary(let bytes):
            session(session.receive(.binary(bytes), at: now), now, &out)
        case .close:
            closeTransport(.transportClose, now, &out)
        default:
            break
        }
        return out
    }

    /// A server event arrived whose payload the driver did not encode (the simulator's size-only
    /// ticks): the heartbeat and health check see a message. Returns whether the event reached the
    /// application (the namespace is connected), which the driver logs as an event received, and
    /// what else to do, usually nothing: this is the simulator's per-message path, and an empty
    /// answer allocates nothing.
    public mutating func receivedUnencodedEvent(at now: Instant, offset: Int64? = nil) -> (delivered: Bool, actions: [Action]) {
        guard hasTransport else { return (false, []) }
        if let offset { session.processedUnencoded(offset: offset) }
        let answer = heartbeat.received(.message(""), at: now)
        var out: [Action] = []
        if !answer.isEmpty { heartbeat(answer, now, &out) }
        // The unencoded events are the workload's ticks.
        if let check = healthCheck, check.countsEveryMessage || check.counts(event: "tick") { observe(.message, now, &out) }
        return (hasTransport && isConnected, out)
    }

    /// Several unencoded events arrived, the last at `last` (not after `now`), where no log or
    /// health check looks at each (the simulator's batched ticks): only the heartbeat hears of them, once.
    public mutating func receivedUnobservedMessages(lastAt last: Instant, at now: Instant) -> [Action] {
        guard hasTransport else { return [] }
        let actions = heartbeat.receivedMessages(lastAt: last)
        if actions.isEmpty { return [] }
        var out = Self.actionBuffer()
        heartbeat(actions, now, &out)
        return out
    }

    /// A frame on the current transport could not be parsed.
    public mutating func receivedMalformed(_ error: EngineIOParseError, at now: Instant) -> [Action] {
        guard hasTransport else { return [] }
        var out = Self.actionBuffer()
        heartbeat(heartbeat.receivedMalformed(error, at: now), now, &out)
        return out
    }

    /// The current transport closed under the client (a FIN, a reset, a close frame).
    public mutating func transportClosed(at now: Instant) -> [Action] {
        guard hasTransport else { return [] }
        var out = Self.actionBuffer()
        heartbeat(heartbeat.transportClosed(at: now), now, &out)
        return out
    }

    /// The current transport failed (a polling request that failed).
    public mutating func transportError(at now: Instant) -> [Action] {
        guard hasTransport else { return [] }
        var out = Self.actionBuffer()
        heartbeat(heartbeat.transportError(at: now), now, &out)
        return out
    }

    /// The current attempt's transport could not be opened (refused, unreachable).
    public mutating func transportOpenFailed(at now: Instant) -> [Action] {
        guard hasTransport else { return [] }
        hasTransport = false
        var out: [Action] = [.note(.connectError(.transportError)), .closeTransport, .cancelAllTimers]
        reconnection(reconnection.openFailed(at: now), now, &out)
        return out
    }

    /// A timer the stack armed fired.
    public mutating func timerFired(_ timer: Timer, at now: Instant) -> [Action] {
        var out = Self.actionBuffer()
        switch timer {
        case .heartbeat(let t): heartbeat(heartbeat.timerFired(t, at: now), now, &out)
        case .session(let t): session(session.timerFired(t, at: now), now, &out)
        case .reconnect(let t): reconnection(reconnection.timerFired(t, at: now), now, &out)
        case .emit: emitEcho(now, &out)
        case .customPing(let t):
            if customPing != nil { customPing(customPing!.timerFired(t, at: now), now, &out) }
        case .healthCheck:
            if healthCheck != nil { healthCheck(healthCheck!.timerFired(.check, at: now), now, &out) }
        }
        return out
    }

    // MARK: Wiring

    private mutating func open(attempt: Int, _ now: Instant, _ out: inout [Action]) {
        guard !stopped else { return }
        if attempt > 0 { out.append(.note(.reconnectAttempt(attempt))) }
        heartbeat = EngineIOClientHeartbeat(configuration: configuration.heartbeat)
        // socket.io-client's Socket outlives its attempts: its private id and last offset carry over.
        session = SocketIOClientSession(options: configuration.namespace, resuming: session.recoveryToken)
        hasTransport = true
        session(session.start(at: now), now, &out)
        out.append(.openTransport(attempt: attempt))
    }

    private mutating func heartbeat(_ actions: [EngineIOClientHeartbeat.Action], _ now: Instant, _ out: inout [Action]) {
        for action in actions {
            switch action {
            case .send(let packet): if hasTransport { out.append(.send(packet)) }
            case .arm(let timer, let at): out.append(.arm(.heartbeat(timer), at: at))
            case .cancel(let timer): out.append(.cancel(.heartbeat(timer)))
            case .close(let reason): closeTransport(reason, now, &out)
            case .observe: break
            }
        }
    }

    private mutating func session(_ actions: [SocketIOClientSession.Action], _ now: Instant, _ out: inout [Action]) {
        for action in actions {
            switch action {
            case .send(let output): sessionOutput(output, now, &out)
            case .arm(let timer, let at): out.append(.arm(.session(timer), at: at))
            case .cancel(let timer): out.append(.cancel(.session(timer)))
            case .close(let reason): closeTransport(reason, now, &out, fromSession: true)
            case .observe: break
            }
        }
    }

    private mutating func sessionOutput(_ output: SocketIOClientOutput, _ now: Instant, _ out: inout [Action]) {
        switch output {
        case .message(let message):
            guard hasTransport else { return }
            for frame in message.frames {
                switch frame {
                case .text(let text): out.append(.send(.message(text)))
                case .binary(let bytes): out.append(.send(.binary(bytes)))
                }
            }
        case .connected:
            namespaceConnected = true
            // A connection counts from the namespace connect, not the transport's open: a server
            // that never acknowledges CONNECT has connected nobody.
            out.append(.note(reconnectedAfter.map { .reconnected(attempts: $0, recovered: session.recovered) } ?? .connected))
            reconnectedAfter = nil
            if let interval = configuration.emitInterval { out.append(.arm(.emit, at: now + interval)) }
            // The dashboard's socket.on("connect"): start the custom ping and the health check.
            if customPing != nil { customPing(customPing!.connected(at: now), now, &out) }
            if healthCheck != nil, isConnected { healthCheck(healthCheck!.connected(at: now), now, &out) }
            if let room = configuration.broadcastRoom, !session.recovered, isConnected,
               let emitted = try? session.emit(BuiltinSocketIOApp.joinEvent, [.object(["room": .string(room)])], at: now) {
                out.append(.note(.eventSent(BuiltinSocketIOApp.joinEvent)))
                session(emitted, now, &out)
            }
            if configuration.broadcastReplay?.mode == .request, !session.recovered, isConnected,
               let emitted = try? session.emit(BroadcastReplay.requestEvent,
                                               BroadcastReplay.requestArguments(since: newestBroadcast), at: now) {
                out.append(.note(.eventSent(BroadcastReplay.requestEvent)))
                session(emitted, now, &out)
            }
        case .connectFailed(let failure):
            switch failure {
            case .timedOut: out.append(.note(.connectError(.timedOut)))
            case .incompatibleServer: out.append(.note(.connectError(.incompatibleServer)))
            case .refused:
                out.append(.note(.connectError(.refused)))
                // A CONNECT_ERROR destroys the socket: socket.io-client stops reconnecting.
                reconnection(reconnection.stop(at: now), now, &out)
            }
        case .event(let event):
            let name = BuiltinSocketIOApp.logName(of: event)
            if let k = BroadcastDetail.sequence(in: name) { newestBroadcast = max(newestBroadcast, k) }
            out.append(.note(.eventReceived(name)))
            if let check = healthCheck, check.counts(event: event.name) { observe(.message, now, &out) }
            if let id = event.ackID { session(session.ack(id, event.arguments, at: now), now, &out) }
            if customPing != nil, isConnected {
                customPing(customPing!.received(event: event.name, arguments: event.arguments, at: now), now, &out)
            }
        case .ackReceived:
            out.append(.note(.ackReceived))
        case .ackFailed(let id, let failure):
            out.append(.note(.ackFailed(id: id, failure)))
        }
    }

    private mutating func observe(_ traffic: HealthCheckTraffic, _ now: Instant, _ out: inout [Action]) {
        guard let check = healthCheck, check.state == .watching else { return }
        healthCheck(healthCheck!.received(traffic, at: now), now, &out)
    }

    private mutating func customPing(_ actions: [CustomPing.Action], _ now: Instant, _ out: inout [Action]) {
        for action in actions {
            switch action {
            case .send(let emit):
                guard isConnected, let emitted = try? session.emit(emit.event, emit.arguments, at: now) else { continue }
                out.append(.note(.eventSent(emit.event)))
                session(emitted, now, &out)
            case .arm(let timer, let at): out.append(.arm(.customPing(timer), at: at))
            case .cancel(let timer): out.append(.cancel(.customPing(timer)))
            case .close(let reason): closeTransport(reason, now, &out)
            case .observe: break
            }
        }
    }

    private mutating func healthCheck(_ actions: [HealthCheck.Action], _ now: Instant, _ out: inout [Action]) {
        for action in actions {
            switch action {
            case .arm(_, let at): out.append(.arm(.healthCheck, at: at))
            case .cancel: out.append(.cancel(.healthCheck))
            case .close(let reason): closeTransport(reason, now, &out)
            case .observe, .send: break
            }
        }
    }

    private mutating func emitEcho(_ now: Instant, _ out: inout [Action]) {
        guard isConnected, let interval = configuration.emitInterval else { return }
        echoCount += 1
        // "echo" is not a reserved name, so this cannot throw.
        if let emitted = try? session.emitWithAck("echo", [.object(["n": .integer(echoCount)])], timeout: nil, at: now) {
            session(emitted.actions, now, &out)
        }
        out.append(.note(.eventSent("echo")))
        out.append(.arm(.emit, at: now + interval))
    }

    private mutating func reconnection(_ actions: [ReconnectionManager.Action], _ now: Instant, _ out: inout [Action]) {
        for action in actions {
            switch action {
            case .send(.openTransport(let attempt)): open(attempt: attempt, now, &out)
            case .send(.reconnected(let attempts)): reconnectedAfter = attempts
            case .send(.reconnectFailed): out.append(.note(.reconnectFailed))
            case .arm(let timer, let at): out.append(.arm(.reconnect(timer), at: at))
            case .cancel(let timer): out.append(.cancel(.reconnect(timer)))
            case .close(let reason): closeTransport(reason, now, &out)
            case .observe: break
            }
        }
    }

    /// The connection ended for `reason`: every machine hears of it once, the transport closes, the
    /// log says so, and the reconnection manager decides what comes next.
    private mutating func closeTransport(_ reason: CloseReason, _ now: Instant, _ out: inout [Action],
                                         fromSession: Bool = false) {
        guard hasTransport else { return }
        hasTransport = false
        out.append(.cancel(.emit))
        out.append(.cancel(.heartbeat(.pingTimeout)))
        out.append(.closeTransport)
        let wasConnected = namespaceConnected
        namespaceConnected = false
        if !fromSession { session(session.transportClosed(reason, at: now), now, &out) }
        _ = heartbeat.close(at: now)
        // Any disconnect stops the application layer (a forced close has stopped its own machine).
        if customPing != nil { customPing(customPing!.disconnected(at: now), now, &out) }
        if healthCheck != nil { healthCheck(healthCheck!.disconnected(at: now), now, &out) }
        // The application abandoning an attempt is no disconnect of a socket that never connected.
        if wasConnected || reason != .ioClientDisconnect { out.append(.note(.disconnected(reason))) }
        if wasConnected || reason != .connectTimeout {
            reconnection(reconnection.disconnected(reason, at: now), now, &out)
        } else {
            reconnection(reconnection.openFailed(at: now), now, &out)
        }
    }
}
