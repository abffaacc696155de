import DequeModule
import Heartbeat
import LabCore

/// One simulated Socket.IO client and the server sessions it opens: the client runs
/// `EngineIOClientHeartbeat`, `SocketIOClientSession` and `ReconnectionManager` exactly as the live
/// `SocketIOClient` does on WebSocket, and each (re)connection opens a new `SimulatedTransport`,
/// whose handshake makes the round trips through the links.
///
/// On top of the session, the application layer of a dashboard, when configured: `CustomPing`
/// emits its ping event and takes the server's pong event, `HealthCheck` watches inbound traffic
/// (every Engine.IO message as `.message`, Engine.IO pings as `.heartbeat`). Both start on the
/// namespace's "connect" and stop on any disconnect; when one fires, the client closes with its
/// reason and the `ReconnectionManager` reconnects, as socket.io-client does after a forced close.
///
/// Random streams: every draw derives from (seed, run, connection): the links of transport k from
/// (…, "link", k) and then the direction, the reconnection jitter and the server's session ids from
/// their own streams, so adding a connection or a transport does not shift anyone else's draws.
final class SimulatedConnection {
    enum ClientTimer: Hashable {
        case heartbeat
        case session(SocketIOTimer)
        case reconnect
        case emit
        case customPing(CustomPingTimer)
        case healthCheck
    }

    // unowned(unsafe): the engine owns every connection and transport for the whole run (and the
    // scheduler, whose callbacks are the only other holders), so these never dangle; checked
    // unowned references cost a retain and a release per access, which dominated batched ticks.
    unowned(unsafe) let engine: SimulationEngine
    /// The connection's index in the run (logged as "c" + (index + 1)).
    let index: Int
    private let random: SeededGenerator
    private var sidGenerator: SeededGenerator
    private var reconnection: ReconnectionManager
    // Unchecked exclusivity on the state the batched-tick loop touches: single-threaded, and no
    // access here overlaps another (dynamic checks cost a thread-local lookup per access).
    @exclusivity(unchecked) private var heartbeat: EngineIOClientHeartbeat
    @exclusivity(unchecked) private var session: SocketIOClientSession
    /// The dashboard's custom ping, if the configuration runs one.
    private var customPing: CustomPing?
    /// The dashboard's health check, if the configuration runs one.
    private var healthCheck: HealthCheck?
    /// The client's transport, while it has one open.
    @exclusivity(unchecked) private var current: SimulatedTransport?
    /// Transports not yet closed at both ends (an old one can outlive the client's interest in it:
    /// the server learns of a half-open connection only by its own timeout).
    @exclusivity(unchecked) private(set) var transports: [SimulatedTransport] = []
    /// Closed transports with batched ticks still in flight: they still arrive (and count as
    /// delivered packets, as with one event per tick), to a closed end.
    @exclusivity(unchecked) private var draining: [SimulatedTransport] = []
    private var transportCount = 0
    private var timers: [ClientTimer: TimerToken] = [:]
    @exclusivity(unchecked) private var heartbeatToken: TimerToken?
    private var echoCount: Int64 = 0

    init(engine: SimulationEngine, index: Int) {
        self.engine = engine
        self.index = index
        let configuration = engine.configuration
        random = SeededGenerator(seed: configuration.seed, stream: [configuration.run, UInt64(index)])
        sidGenerator = random.derived(0x736964)
        reconnection = ReconnectionManager(options: configuration.reconnection, generator: random.derived(0x7265))
        heartbeat = EngineIOClientHeartbeat(configuration: configuration.clientHeartbeat)
        session = SocketIOClientSession(options: configuration.clientNamespace)
        customPing = configuration.application.customPing.map { CustomPing(options: $0) }
        healthCheck = configuration.application.healthCheck.map { HealthCheck(options: $0) }
    }

    /// The application starts the client (socket.io-client's `connect()`).
    func start() {
        performReconnection(reconnection.start(at: engine.now))
    }

    /// A session id for the next server session, drawn as socket.io's base64id.
    func nextSocketID() -> String {
        SocketIOServerSession.makeSocketID(using: &sidGenerator)
    }

    // MARK: Opening a transport

    private func open(attempt: Int) {
        let now = engine.now
        if attempt > 0 {
            engine.counters.reconnectAttempts += 1
            engine.record(.reconnectAttempt, side: .client, connection: index, attempt: attempt)
        }
        heartbeat = EngineIOClientHeartbeat(configuration: engine.configuration.clientHeartbeat)
        session = SocketIOClientSession(options: engine.configuration.clientNamespace)
        performSession(session.start(at: now))
        let transport = SimulatedTransport(engine: engine, connection: self, number: transportCount,
                                           random: random.derived(0x6c696e6b, UInt64(transportCount)))
        transportCount += 1
        transports.append(transport)
        current = transport
        let delay = transport.links.connectDelay
        if delay > .zero {
            engine.schedule(at: now + delay, for: self) { [weak transport] in
                guard let transport, transport.clientOpen else { return }
                transport.transmit(.upgradeRequest, .upstream)
            }
        } else {
            transport.transmit(.upgradeRequest, .upstream)
        }
    }

    // MARK: Packets

    private func send(_ packet: EngineIOPacket) {
        guard let current, current.clientOpen else { return }
        current.transmit(.engineIO(packet), .upstream)
    }

    /// A packet from the server reached the client on `transport`.
    func received(_ wire: WirePacket, on transport: SimulatedTransport) {
        guard transport === current else { return }
        let now = engine.now
        let packet: EngineIOPacket
        switch wire {
        case .engineIO(let p): packet = p
        case .sizedTick:
            // Size-only tick: the Engine.IO machine sees a message; the session would emit "tick" when connected.
            performHeartbeat(heartbeat.received(.message(""), at: now))
            observeTraffic(.message, on: transport, at: now)
            guard transport === current else { return }
            if session.isConnected {
                engine.counters.messagesReceived += 1
                engine.record(.messageReceived, side: .client, connection: index, detail: engine.detailTick)
            }
            return
        case .upgradeRequest, .upgradeResponse: return
        }
        performHeartbeat(heartbeat.received(packet, at: now))
        switch packet {
        case .message, .binary: observeTraffic(.message, on: transport, at: now)
        case .ping, .pong: observeTraffic(.heartbeat, on: transport, at: now)
        default: break
        }
        guard transport === current else { return }
        switch packet {
        case .open:
            performReconnection(reconnection.opened(at: now))
            performSession(session.transportOpened(at: now))
        case .ping:
            engine.record(.ping, side: .client, connection: index)
        case .message(let text):
            performSession(session.receive(.text(text), at: now))
        case .binary(let bytes):
            performSession(session.receive(.binary(bytes), at: now))
        case .close:
            closeTransport(.transportClose)
        default:
            break
        }
    }

    /// Batched ticks (`SimulationEngine.batchesTicks`): every transport emits the server ticks due
    /// by now and delivers those that have arrived, each at its own instant.
    func catchUp() {
        let now = engine.now
        for transport in transports { transport.catchUp(to: now) }
        if !draining.isEmpty {
            for transport in draining { transport.catchUp(to: now) }
            draining.removeAll { !$0.hasTicksInFlight }
        }
    }

    /// `count` batched ticks reached the client on `transport`, the last at `last` (at most now):
    /// what `received` does with each size-only tick, at the ticks' own instants. No health check
    /// runs in batched mode, and a message changes no session state, so the session is asked once.
    func receivedBatchedTicks(on transport: SimulatedTransport, count: Int, lastAt last: Instant) {
        guard transport === current else { return }
        let actions = heartbeat.receivedMessages(lastAt: last)
        if !actions.isEmpty {
            performHeartbeat(actions)
            guard transport === current else { return }
        }
        // `state`, not `isConnected`: the computed property copied the whole session on this path.
        if case .connected = session.state { engine.counters.messagesReceived += count }
    }

    /// Inbound traffic for the health check; it may find the connection stale and close it.
    private func observeTraffic(_ traffic: HealthCheckTraffic, on transport: SimulatedTransport, at now: Instant) {
        guard transport === current, let check = healthCheck, check.state == .watching else { return }
        performHealthCheck(healthCheck!.received(traffic, at: now))
    }

    /// The transport closed under the client (a FIN, a reset, a proxy's close).
    func transportClosedUnder(_ transport: SimulatedTransport) {
        guard transport === current else { return }
        performHeartbeat(heartbeat.transportClosed(at: engine.now))
    }

    /// Forgets `transport` once both its ends are closed.
    func transportMayBeFinished(_ transport: SimulatedTransport) {
        guard transport.isFinished, let i = transports.firstIndex(where: { $0 === transport }) else { return }
        transports.remove(at: i)
        if transport.hasTicksInFlight { draining.append(transport) }
    }

    // MARK: Machines

    private func arm(_ timer: ClientTimer, at instant: Instant, _ fire: @escaping (Instant) -> Void) {
        let token = engine.schedule(at: engine.clientDeadline(instant), for: self) { [unowned self] in
            timers[timer] = nil
            fire(engine.now)
        }
        if let old = timers.updateValue(token, forKey: timer) { engine.scheduler.cancel(old) }
    }

    private func cancel(_ timer: ClientTimer) {
        if let token = timers.removeValue(forKey: timer) { engine.scheduler.cancel(token) }
    }

    private func performHeartbeat(_ actions: [EngineIOClientHeartbeat.Action]) {
        for action in actions {
            switch action {
            case .send(let packet): send(packet)
            case .arm(let timer, let at):
                // The one heartbeat timer is re-armed on every ping: kept out of the dictionary.
                if let old = heartbeatToken { engine.scheduler.cancel(old) }
                heartbeatToken = engine.schedule(at: engine.clientDeadline(at), for: self) { [unowned self] in
                    heartbeatToken = nil
                    performHeartbeat(heartbeat.timerFired(timer, at: engine.now))
                }
            case .cancel:
                if let old = heartbeatToken { engine.scheduler.cancel(old) }
                heartbeatToken = nil
            case .close(let reason): closeTransport(reason)
            case .observe: break
            }
        }
    }

    private func performSession(_ actions: [SocketIOClientSession.Action]) {
        for action in actions {
            switch action {
            case .send(let output): sessionOutput(output)
            case .arm(let timer, let at):
                arm(.session(timer), at: at) { [unowned self] now in performSession(session.timerFired(timer, at: now)) }
            case .cancel(let timer): cancel(.session(timer))
            case .close(let reason):
                if reason == .connectTimeout {
                    engine.record(.connectError, side: .client, connection: index, reason: engine.reason(reason))
                }
                closeTransport(reason, fromSession: true)
            case .observe: break
            }
        }
    }

    private func sessionOutput(_ output: SocketIOClientOutput) {
        let now = engine.now
        switch output {
        case .message(let message):
            for frame in message.frames {
                switch frame {
                case .text(let text): send(.message(text))
                case .binary(let bytes): send(.binary(bytes))
                }
            }
        case .connected:
            engine.record(.connect, side: .client, connection: index, detail: engine.detailSocketIO)
            if let interval = engine.configuration.workload.clientEmitInterval {
                arm(.emit, at: now + interval) { [unowned self] now in emitEcho(at: now) }
            }
            // The dashboard's socket.on("connect"): start the custom ping and the health check.
            if customPing != nil { performCustomPing(customPing!.connected(at: now)) }
            if healthCheck != nil, session.isConnected { performHealthCheck(healthCheck!.connected(at: now)) }
        case .connectFailed(let failure):
            engine.record(.connectError, side: .client, connection: index, reason: engine.string("\(failure)"))
            if case .refused = failure { performReconnection(reconnection.stop(at: now)) }
        case .event(let event):
            engine.counters.messagesReceived += 1
            let detail = switch event.name {
            case "tick": engine.detailTick
            case "echo": engine.detailEcho
            default: engine.string(event.name)
            }
            engine.record(.messageReceived, side: .client, connection: index, detail: detail)
            if let id = event.ackID { performSession(session.ack(id, event.arguments, at: now)) }
            if customPing != nil, session.isConnected {
                performCustomPing(customPing!.received(event: event.name, arguments: event.arguments, at: now))
            }
        case .ackReceived, .ackFailed:
            engine.counters.messagesReceived += 1
            engine.record(.messageReceived, side: .client, connection: index, detail: engine.detailAck)
        }
    }

    private func performCustomPing(_ actions: [CustomPing.Action]) {
        for action in actions {
            switch action {
            case .send(let emit):
                let now = engine.now
                guard session.isConnected, let emitted = try? session.emit(emit.event, emit.arguments, at: now) else { continue }
                engine.counters.messagesSent += 1
                engine.record(.messageSent, side: .client, connection: index, detail: engine.string(emit.event))
                performSession(emitted)
            case .arm(let timer, let at):
                arm(.customPing(timer), at: at) { [unowned self] now in
                    guard customPing != nil else { return }
                    performCustomPing(customPing!.timerFired(timer, at: now))
                }
            case .cancel(let timer): cancel(.customPing(timer))
            case .close(let reason): closeTransport(reason)
            case .observe: break
            }
        }
    }

    private func performHealthCheck(_ actions: [HealthCheck.Action]) {
        for action in actions {
            switch action {
            case .arm(let timer, let at):
                arm(.healthCheck, at: at) { [unowned self] now in
                    guard healthCheck != nil else { return }
                    performHealthCheck(healthCheck!.timerFired(timer, at: now))
                }
            case .cancel: cancel(.healthCheck)
            case .close(let reason): closeTransport(reason)
            case .observe, .send: break
            }
        }
    }

    private func emitEcho(at now: Instant) {
        guard session.isConnected, let interval = engine.configuration.workload.clientEmitInterval else { return }
        echoCount += 1
        if let emitted = try? session.emitWithAck("echo", [.object(["n": .integer(echoCount)])], timeout: nil, at: now) {
            performSession(emitted.actions)
        }
        engine.counters.messagesSent += 1
        engine.record(.messageSent, side: .client, connection: index, detail: engine.detailEcho)
        arm(.emit, at: now + interval) { [unowned self] now in emitEcho(at: now) }
    }

    private func performReconnection(_ actions: [ReconnectionManager.Action]) {
        let now = engine.now
        for action in actions {
            switch action {
            case .send(.openTransport(let attempt)): open(attempt: attempt)
            case .send(.reconnected(let attempts)):
                engine.record(.connect, side: .client, connection: index,
                              detail: engine.string("reconnected after \(attempts) attempts"))
            case .send(.reconnectFailed):
                engine.record(.connectError, side: .client, connection: index, reason: engine.string("reconnect failed"))
            case .arm(_, let at):
                arm(.reconnect, at: at) { [unowned self] now in
                    performReconnection(reconnection.timerFired(.reconnectDelay, at: now))
                }
            case .cancel: cancel(.reconnect)
            case .close(let reason):
                if current != nil { closeTransport(reason) }
            case .observe: break
            }
        }
        _ = now
    }

    /// The connection ended for `reason`: tell every machine once, record it, close the client's
    /// socket (a FIN upstream), and let the reconnection manager decide what comes next, as the
    /// live client's `closeTransport` does.
    private func closeTransport(_ reason: CloseReason, fromSession: Bool = false) {
        guard let transport = current else { return }
        let now = engine.now
        current = nil
        cancel(.emit)
        if let old = heartbeatToken { engine.scheduler.cancel(old) }
        heartbeatToken = nil
        transport.clientOpen = false
        transport.transmitClose(.upstream)
        transportMayBeFinished(transport)
        let wasConnected = session.isConnected
        if !fromSession { performSession(session.transportClosed(reason, at: now)) }
        _ = heartbeat.close(at: now)
        // Any disconnect stops the application layer (a forced close has stopped its own machine).
        if customPing != nil { performCustomPing(customPing!.disconnected(at: now)) }
        if healthCheck != nil { performHealthCheck(healthCheck!.disconnected(at: now)) }
        engine.counters.clientDisconnects += 1
        engine.record(.disconnect, side: .client, connection: index, reason: engine.reason(reason))
        if wasConnected || reason != .connectTimeout {
            performReconnection(reconnection.disconnected(reason, at: now))
        } else {
            performReconnection(reconnection.openFailed(at: now))
        }
    }
}

@available(*, unavailable)
extension SimulatedConnection: Sendable {}
