import DequeModule
import Heartbeat
import LabCore

/// One simulated Socket.IO client and the server sessions it opens: a driver of
/// `SocketIOClientStack`, the same composition of machines the live `SocketIOClient` runs (the
/// Engine.IO heartbeat, the namespace session, reconnection, and a dashboard's custom ping and
/// health check when configured). It only carries out the stack's actions: each `openTransport`
/// opens a new `SimulatedTransport`, whose handshake makes the round trips through the links.
///
/// Random streams: every draw derives from (seed, run, connection): the links of transport k from
/// (…, "link", k) and then the direction, the reconnection jitter and the server's session ids from
/// their own streams, so adding a connection or a transport does not shift anyone else's draws.
final class SimulatedConnection {
    // unowned(unsafe): the engine owns every connection and transport for the whole run (and the
    // scheduler, whose callbacks are the only other holders), so these never dangle; checked
    // unowned references cost a retain and a release per access, which dominated batched ticks.
    unowned(unsafe) let engine: SimulationEngine
    /// The connection's index in the run (logged as "c" + (index + 1)).
    let index: Int
    private let random: SeededGenerator
    private var sidGenerator: SeededGenerator
    /// The client itself: every machine and their wiring, shared with the live client.
    // Unchecked exclusivity on the state the batched-tick loop touches: single-threaded, and no
    // access here overlaps another (dynamic checks cost a thread-local lookup per access).
    @exclusivity(unchecked) private var stack: SocketIOClientStack
    /// The client's transport, while it has one open.
    @exclusivity(unchecked) private var current: SimulatedTransport?
    /// Transports not yet closed at both ends (an old one can outlive the client's interest in it:
    /// the server learns of a half-open connection only by its own timeout).
    @exclusivity(unchecked) private(set) var transports: [SimulatedTransport] = []
    /// Closed transports with batched ticks still in flight: they still arrive (and count as
    /// delivered packets, as with one event per tick), to a closed end.
    @exclusivity(unchecked) private var draining: [SimulatedTransport] = []
    private var transportCount = 0
    private var timers: [SocketIOClientStack.Timer: TimerToken] = [:]
    @exclusivity(unchecked) private var heartbeatToken: TimerToken?

    init(engine: SimulationEngine, index: Int) {
        self.engine = engine
        self.index = index
        let configuration = engine.configuration
        random = SeededGenerator(seed: configuration.seed, stream: [configuration.run, UInt64(index)])
        sidGenerator = random.derived(0x736964)
        stack = SocketIOClientStack(
            configuration: .init(heartbeat: configuration.clientHeartbeat, namespace: configuration.clientNamespace,
                                 reconnection: configuration.reconnection,
                                 customPing: configuration.application.customPing,
                                 healthCheck: configuration.application.healthCheck,
                                 emitInterval: configuration.workload.clientEmitInterval,
                                 broadcastReplay: configuration.workload.broadcastReplay,
                                 broadcastRoom: configuration.workload.broadcastRooms.map { "r\(index % max($0, 1) + 1)" }),
            generator: random.derived(0x7265))
    }

    /// The application starts the client (socket.io-client's `connect()`).
    func start() {
        perform(stack.start(at: engine.now))
    }

    /// A session id for the next server session, drawn as socket.io's base64id.
    func nextSocketID() -> String {
        SocketIOServerSession.makeSocketID(using: &sidGenerator)
    }

    // MARK: Transports

    private func openTransport() {
        let now = engine.now
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

    /// Closes the client's socket: a FIN upstream.
    private func closeTransport() {
        guard let transport = current else { return }
        current = nil
        transport.clientOpen = false
        transport.transmitClose(.upstream)
        transportMayBeFinished(transport)
    }

    /// A packet from the server reached the client on `transport`.
    func received(_ wire: WirePacket, on transport: SimulatedTransport) {
        guard transport === current else { return }
        switch wire {
        case .engineIO(let packet): perform(stack.received(packet, at: engine.now))
        // Size-only tick: the machines see a message; the session would emit "tick" when connected.
        case .sizedTick(_, let offset):
            let (delivered, actions) = stack.receivedUnencodedEvent(at: engine.now, offset: offset == 0 ? nil : offset)
            if !actions.isEmpty { perform(actions) }
            // Logged after the machines, as a decoded tick's event would be.
            if delivered, transport === current { record(.eventReceived("tick")) }
        case .upgradeRequest, .upgradeResponse: return
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
    /// runs in batched mode, and a message changes no session state, so the stack is asked once.
    func receivedBatchedTicks(on transport: SimulatedTransport, count: Int, lastAt last: Instant) {
        guard transport === current else { return }
        let actions = stack.receivedUnobservedMessages(lastAt: last, at: engine.now)
        if !actions.isEmpty {
            perform(actions)
            guard transport === current else { return }
        }
        if stack.isConnected { engine.counters.messagesReceived += count }
    }

    /// The transport closed under the client (a FIN, a reset, a proxy's close).
    func transportClosedUnder(_ transport: SimulatedTransport) {
        guard transport === current else { return }
        perform(stack.transportClosed(at: engine.now))
    }

    /// Forgets `transport` once both its ends are closed.
    func transportMayBeFinished(_ transport: SimulatedTransport) {
        guard transport.isFinished, let i = transports.firstIndex(where: { $0 === transport }) else { return }
        transports.remove(at: i)
        if transport.hasTicksInFlight { draining.append(transport) }
    }

    // MARK: Carrying out the stack's actions

    private func perform(_ actions: [SocketIOClientStack.Action]) {
        for action in actions {
            switch action {
            case .openTransport: openTransport()
            case .send(let packet):
                guard let current, current.clientOpen else { continue }
                current.transmit(.engineIO(packet), .upstream)
            case .closeTransport: closeTransport()
            case .arm(let timer, let at): arm(timer, at: at)
            case .cancel(let timer): cancel(timer)
            case .cancelAllTimers:
                for token in timers.values { engine.scheduler.cancel(token) }
                timers.removeAll()
                cancel(.heartbeat(.pingTimeout))
            case .note(let note): record(note)
            }
        }
    }

    private func arm(_ timer: SocketIOClientStack.Timer, at instant: Instant) {
        if case .heartbeat = timer {
            // The one heartbeat timer is re-armed on every ping: kept out of the dictionary.
            if let old = heartbeatToken { engine.scheduler.cancel(old) }
            heartbeatToken = engine.schedule(at: engine.clientDeadline(instant), for: self) { [unowned self] in
                heartbeatToken = nil
                perform(stack.timerFired(timer, at: engine.now))
            }
            return
        }
        let token = engine.schedule(at: engine.clientDeadline(instant), for: self) { [unowned self] in
            timers[timer] = nil
            perform(stack.timerFired(timer, at: engine.now))
        }
        if let old = timers.updateValue(token, forKey: timer) { engine.scheduler.cancel(old) }
    }

    private func cancel(_ timer: SocketIOClientStack.Timer) {
        if case .heartbeat = timer {
            if let old = heartbeatToken { engine.scheduler.cancel(old) }
            heartbeatToken = nil
            return
        }
        if let token = timers.removeValue(forKey: timer) { engine.scheduler.cancel(token) }
    }

    /// Writes a note to the run's log (the live client's text, interned) and counts it.
    private func record(_ note: ClientStackNote) {
        switch note {
        case .eventReceived(let name):
            engine.counters.messagesReceived += 1
            engine.record(.messageReceived, side: .client, connection: index, detail: engine.eventName(name))
        case .ackReceived:
            engine.counters.messagesReceived += 1
            engine.record(.messageReceived, side: .client, connection: index, detail: engine.detailAck)
        case .eventSent(let name):
            engine.counters.messagesSent += 1
            engine.record(.messageSent, side: .client, connection: index, detail: engine.eventName(name))
        case .connected:
            engine.record(.connect, side: .client, connection: index, detail: engine.detailSocketIO)
        case .ping:
            engine.record(.ping, side: .client, connection: index)
        case .disconnected(let reason):
            engine.counters.clientDisconnects += 1
            engine.record(.disconnect, side: .client, connection: index, reason: engine.reason(reason))
        case .reconnectAttempt(let attempt):
            engine.counters.reconnectAttempts += 1
            engine.record(.reconnectAttempt, side: .client, connection: index, attempt: attempt)
        case .ackFailed, .connectError, .reconnected, .reconnectFailed:
            if case .ackFailed = note { engine.counters.messagesReceived += 1 }
            let fields = note.logFields
            engine.record(fields.kind, side: .client, connection: index, reason: fields.reason, detail: fields.detail)
        }
    }
}

@available(*, unavailable)
extension SimulatedConnection: Sendable {}
