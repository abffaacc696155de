import DequeModule
import Heartbeat
import LabCore

/// One simulated WebSocket transport of a connection (one TCP connection through the fault
/// links): its `ConnectionSchedule`, the packets its links hold, and the server's end, which runs
/// `EngineIOServerHeartbeat` and `SocketIOServerSession` as the live `EngineIOServerSession` does,
/// with the built-in server app: "tick" events, "echo" emitted back and acked, and the custom
/// ping's event answered with its pong event.
///
/// Every packet is admitted to its link when sent, with its encoded size; the `LinkSchedule`
/// decides when the far end receives it, or holds it (re-admitted in order when conditions
/// change), or drops it. FINs go the same way through `admitClose`. Connection actions (reset,
/// idle-timeout middlebox, blackhole deadline) close both ends.
final class SimulatedTransport {
    enum ServerState { case awaitingRequest, open, closed }

    // unowned(unsafe): the engine owns every connection and transport for the whole run (and the
    // scheduler, whose callbacks are the only other holders), so these never dangle; checked
    // unowned references cost a retain and a release per access, which dominated batched ticks.
    unowned(unsafe) let engine: SimulationEngine
    unowned(unsafe) let connection: SimulatedConnection
    /// The transport's number within its connection, from 0.
    let number: Int
    // Unchecked exclusivity on the state the batched-tick loop touches: single-threaded, and no
    // access here overlaps another (dynamic checks cost a thread-local lookup per access).
    @exclusivity(unchecked) var links: ConnectionSchedule
    @exclusivity(unchecked) private var heldUpstream = Deque<HeldItem>()
    @exclusivity(unchecked) private var heldDownstream = Deque<HeldItem>()
    /// Conditions added by a middlebox action (a NAT eviction's blackhole), kept across changes.
    private var middlebox: [ActiveCondition] = []
    private var actionToken: TimerToken?

    /// Whether the client still has this transport open.
    @exclusivity(unchecked) var clientOpen = true
    @exclusivity(unchecked) var serverState = ServerState.awaitingRequest

    // The server's end: the same endpoint the live server's sessions run.
    @exclusivity(unchecked) var endpoint: SocketIOServerEndpoint
    private var serverTimers: [SocketIOServerEndpoint.Timer: TimerToken] = [:]
    /// Whether the server's close sends a FIN (not when the connection is already gone).
    private var serverSendsFIN = true
    /// Batched ticks: when the server's next tick is due (nil: none armed).
    @exclusivity(unchecked) private var nextTickAt: Instant?
    /// Batched ticks: when each tick in flight downstream reaches the client, in order.
    @exclusivity(unchecked) private var tickArrivals = Deque<Instant>()
    /// Batched ticks: during a catch-up, its instant; ticks arriving by then skip the queue.
    @exclusivity(unchecked) private var catchUpLimit: Instant?
    /// Batched ticks that arrived during this catch-up ahead of every queued one, and the last one's instant.
    @exclusivity(unchecked) private var readyTicks = 0
    @exclusivity(unchecked) private var readyTicksLast = Instant.zero

    init(engine: SimulationEngine, connection: SimulatedConnection, number: Int, random: SeededGenerator) {
        self.engine = engine
        self.connection = connection
        self.number = number
        links = ConnectionSchedule(openedAt: engine.now, random: random)
        endpoint = SocketIOServerEndpoint(sid: "", configuration: engine.serverEndpoint)
        setConditions(upstream: engine.timeline.entries(.upstream, at: engine.now),
                      downstream: engine.timeline.entries(.downstream, at: engine.now))
    }

    var isFinished: Bool { !clientOpen && serverState == .closed }

    // MARK: Links

    /// New conditions on both links: held packets are re-admitted in order, and the next
    /// connection action is re-planned.
    func setConditions(upstream: [ConditionTimeline.Entry], downstream: [ConditionTimeline.Entry]) {
        let timeline = engine.timeline
        links.upstream.setConditions(timeline.active(upstream, connection: connection.index, openedAt: links.openedAt)
            + middlebox)
        links.downstream.setConditions(timeline.active(downstream, connection: connection.index, openedAt: links.openedAt)
            + middlebox)
        release(.upstream)
        release(.downstream)
        planAction()
    }

    /// Sends `packet` from the side that writes on `direction`, now (or at `at`, an instant not
    /// after now, when a batch catches up).
    func transmit(_ packet: WirePacket, _ direction: LinkDirection, at: Instant? = nil) {
        engine.counters.packetsSent += 1
        put(packet, direction, at: at ?? engine.now)
    }

    /// `transmit` without the count, for loops that count their packets once.
    private func put(_ packet: WirePacket, _ direction: LinkDirection, at: Instant) {
        let size = packet.wireSize(direction)
        links.noteActivity(at: at)
        if direction == .upstream ? !heldUpstream.isEmpty : !heldDownstream.isEmpty {
            hold(.packet(packet, size: size), direction)
            return
        }
        _ = admit(packet, size: size, direction, at: at)
    }

    /// Sends a FIN on `direction` (the writing side closed its socket).
    func transmitClose(_ direction: LinkDirection) {
        if direction == .upstream ? !heldUpstream.isEmpty : !heldDownstream.isEmpty {
            hold(.fin, direction)
            return
        }
        _ = admitClose(direction)
    }

    private func hold(_ item: HeldItem, _ direction: LinkDirection) {
        if direction == .upstream { heldUpstream.append(item) } else { heldDownstream.append(item) }
    }

    /// Admits a packet now; false when the link holds it.
    private func admit(_ packet: WirePacket, size: Int, _ direction: LinkDirection, at now: Instant? = nil) -> Bool {
        let now = now ?? engine.now
        // The stored links directly: the subscript's `_modify` coroutine showed up per tick.
        let fate = direction == .upstream ? links.upstream.admitWhole(bytes: size, at: now)
            : links.downstream.admitWhole(bytes: size, at: now)
        switch fate {
        case .deliver(let at, let delivered, let thenClose):
            if delivered == size {
                if engine.batchesTicks, case .sizedTick = packet {
                    // In a catch-up, a tick that has already arrived, with none in flight before it,
                    // is counted at once instead of queued.
                    if tickArrivals.isEmpty, let limit = catchUpLimit, at <= limit {
                        readyTicks += 1
                        readyTicksLast = at
                    } else {
                        tickArrivals.append(at)
                    }
                } else {
                    engine.schedule(at: at, for: connection) { [self] in arrive(packet, direction) }
                }
            }
            if thenClose {
                engine.schedule(at: at, for: connection) { [self] in connectionClosed(reset: false) }
            }
            return true
        case .hold:
            hold(.packet(packet, size: size), direction)
            return false
        case .drop:
            engine.counters.packetsDropped += 1
            return true
        }
    }

    private func admitClose(_ direction: LinkDirection) -> Bool {
        switch links[direction].admitClose(at: engine.now) {
        case .deliver(let at):
            engine.schedule(at: at, for: connection) { [self] in finArrived(direction) }
            return true
        case .hold:
            hold(.fin, direction)
            return false
        case .drop:
            return true
        }
    }

    /// Re-admits held items in order until the link holds again.
    private func release(_ direction: LinkDirection) {
        while let item = direction == .upstream ? heldUpstream.popFirst() : heldDownstream.popFirst() {
            let passed: Bool
            switch item {
            case .packet(let packet, let size): passed = admit(packet, size: size, direction)
            case .fin: passed = admitClose(direction)
            }
            if !passed {
                // `admit` put it back at the end; it belongs at the front.
                if direction == .upstream {
                    heldUpstream.removeLast()
                    heldUpstream.prepend(item)
                } else {
                    heldDownstream.removeLast()
                    heldDownstream.prepend(item)
                }
                return
            }
        }
    }

    /// Arms one timer for the connection's next action (reset, idle timeout, blackhole deadline).
    /// An idle timeout that traffic postponed is re-planned when the timer fires, not on every packet.
    private func planAction() {
        if let token = actionToken { engine.scheduler.cancel(token) }
        actionToken = nil
        guard engine.timeline.hasConnectionActions, !isFinished, let due = links.nextAction else { return }
        actionToken = engine.schedule(at: due.at, for: connection) { [self] in
            actionToken = nil
            guard !isFinished, let due = links.nextAction else { return }
            if due.at > engine.now {
                planAction()
                return
            }
            switch due.action {
            case .close: connectionClosed(reset: false)
            case .reset: connectionClosed(reset: true)
            case .blackhole:
                middlebox.append(ActiveCondition(name: "middlebox.\(due.cause)", condition: .blackhole(BlackholeCondition()),
                                                 since: engine.now))
                setConditions(upstream: engine.timeline.entries(.upstream, at: engine.now),
                              downstream: engine.timeline.entries(.downstream, at: engine.now))
            }
        }
    }

    /// A packet reached the end that reads `direction`.
    private func arrive(_ packet: WirePacket, _ direction: LinkDirection) {
        engine.counters.packetsDelivered += 1
        if direction == .upstream {
            onServer { [self] in serverReceived(packet) }
        } else if clientOpen {
            connection.received(packet, on: self)
        }
    }

    /// A FIN reached the end that reads `direction`.
    private func finArrived(_ direction: LinkDirection) {
        if direction == .upstream {
            onServer { [self] in serverLostConnection(sendFIN: true) }
        } else if clientOpen {
            connection.transportClosedUnder(self)
        }
    }

    /// The middle of the connection closed it (a proxy's close, reset, data limit): both ends
    /// learn at once, as they do through a loopback proxy.
    private func connectionClosed(reset: Bool) {
        onServer { [self] in serverLostConnection(sendFIN: false) }
        if clientOpen { connection.transportClosedUnder(self) }
        planAction()
    }

    /// The server's socket learnt the connection is gone (a FIN read, or the proxy closed it): a
    /// pending handshake is dropped, an open session closes ("transport close"), answering with its
    /// own FIN when `sendFIN`.
    private func serverLostConnection(sendFIN: Bool) {
        switch serverState {
        case .awaitingRequest: serverState = .closed
        case .open:
            // The connection gone from the middle: the server's close sends no FIN into it.
            serverSendsFIN = sendFIN
            perform(endpoint.close(.transportClose, notifyPeer: false, at: engine.now))
            serverSendsFIN = true
        case .closed: break
        }
    }

    // MARK: Server pauses

    /// Runs a read of the server's now, or at the end of the server's pause.
    private func onServer(_ read: @escaping () -> Void) {
        if engine.hasServerPauses, engine.serverIsPaused {
            engine.deferServerRead(read)
        } else {
            read()
        }
    }

    /// Arms a server timer; one that falls due while the server is paused runs at the pause's end,
    /// after the reads (unless cancelled by then).
    private func serverTimer(at deadline: Instant, _ fire: @escaping () -> Void) -> TimerToken {
        guard engine.hasServerPauses else { return engine.schedule(at: deadline, for: connection, fire) }
        let holder = TokenHolder()
        let token = engine.schedule(at: deadline, for: connection) { [engine] in
            if engine.serverIsPaused, let token = holder.token {
                engine.deferServerTimer(token, fire)
            } else {
                fire()
            }
        }
        holder.token = token
        return token
    }

    // MARK: The server's end

    private func serverReceived(_ packet: WirePacket) {
        switch (packet, serverState) {
        case (.upgradeRequest, .awaitingRequest):
            accept()
        case (.engineIO(let p), .open):
            perform(endpoint.received(p, at: engine.now))
        default:
            break
        }
    }

    /// The upgrade request arrived: answer 101, open the Engine.IO session, start the namespace.
    private func accept() {
        serverState = .open
        endpoint = SocketIOServerEndpoint(sid: connection.nextSocketID(), configuration: engine.serverEndpoint)
        engine.record(.connect, side: .server, connection: connection.index, detail: engine.detailEngineIO)
        transmit(.upgradeResponse, .downstream)
        perform(endpoint.opened(upgrades: [], at: engine.now))
    }

    /// Carries out the endpoint's actions on this transport and the run's log.
    private func perform(_ actions: [SocketIOServerEndpoint.Action]) {
        for action in actions {
            switch action {
            case .send(let packet):
                guard serverState == .open else { continue }
                transmit(.engineIO(packet), .downstream)
            case .sendUnencodedTick(let sequence):
                guard serverState == .open else { continue }
                transmit(.sizedTick(payload: engine.tickBaseSize + Self.digits(sequence)), .downstream)
            case .closeTransport: serverClosed()
            case .arm(.tick, let at) where engine.batchesTicks:
                nextTickAt = at
            case .arm(let timer, let at):
                let token = serverTimer(at: at) { [self] in
                    serverTimers[timer] = nil
                    perform(endpoint.timerFired(timer, at: engine.now))
                }
                if let old = serverTimers.updateValue(token, forKey: timer) { engine.cancel(old) }
            case .cancel(let timer):
                if timer == .tick { nextTickAt = nil }
                if let old = serverTimers.removeValue(forKey: timer) { engine.cancel(old) }
            case .cancelAllTimers:
                for token in serverTimers.values { engine.cancel(token) }
                serverTimers.removeAll()
                nextTickAt = nil
            case .note(let note): record(note)
            }
        }
    }

    /// Writes a server note to the run's log (interned) and counts it.
    private func record(_ note: ServerEndpointNote) {
        let index = connection.index
        switch note {
        case .pingSent:
            engine.counters.pingsSent += 1
            engine.record(.ping, side: .server, connection: index)
        case .pong(let rtt):
            engine.counters.pongsReceived += 1
            engine.record(.pong, side: .server, connection: index, rtt: rtt)
        case .eventReceived(let name):
            engine.counters.messagesReceived += 1
            engine.record(.messageReceived, side: .server, connection: index, detail: engine.eventName(name))
        case .eventSent(let name):
            engine.counters.messagesSent += 1
            engine.record(.messageSent, side: .server, connection: index, detail: engine.eventName(name))
        case .connected:
            engine.record(.connect, side: .server, connection: index, detail: engine.detailSocketIO)
        case .disconnected(let reason):
            engine.counters.serverDisconnects += 1
            engine.record(.disconnect, side: .server, connection: index, reason: engine.reason(reason))
        case .ackReceived, .ackFailed:
            engine.counters.messagesReceived += 1
            let fields = note.logFields
            engine.record(fields.kind, side: .server, connection: index, reason: fields.reason, detail: fields.detail)
        }
    }

    /// Batched ticks: emits every tick due by `now` at its own instant (as `armTick`'s timer would
    /// have, while the session stays connected), then hands the client those that have arrived.
    func catchUp(to now: Instant) {
        if var due = nextTickAt, due <= now, let interval = engine.configuration.workload.serverEmitInterval {
            // Nothing in the loop changes the server's state (closes come as scheduled events).
            // `state`, not `isConnected`: reading a computed property copied the whole session here.
            guard serverState == .open, endpoint.isConnected else {
                nextTickAt = nil
                return catchUpArrivals(to: now)
            }
            let baseSize = engine.tickBaseSize
            var sent = 0
            catchUpLimit = now
            while due <= now {
                sent += 1
                put(.sizedTick(payload: baseSize + Self.digits(endpoint.batchedTick())), .downstream, at: due)
                due = due + interval
            }
            catchUpLimit = nil
            nextTickAt = due
            engine.counters.messagesSent += sent
            engine.counters.packetsSent += sent
        }
        catchUpArrivals(to: now)
    }

    /// Hands the client the batched ticks that have arrived by `now`, each at its own instant.
    private func catchUpArrivals(to now: Instant) {
        // Ticks counted at once this catch-up arrived before every queued one (the queue was empty).
        var count = readyTicks
        var last = readyTicksLast
        readyTicks = 0
        var queued = 0
        for at in tickArrivals {
            if at > now { break }
            queued += 1
            last = at
        }
        count += queued
        guard count > 0 else { return }
        engine.counters.packetsDelivered += count
        if clientOpen { connection.receivedBatchedTicks(on: self, count: count, lastAt: last) }
        tickArrivals.removeFirst(queued)
    }

    /// Whether batched ticks are still on their way to the client.
    var hasTicksInFlight: Bool { !tickArrivals.isEmpty }

    /// The number of decimal digits of a positive sequence number (what `String(n).utf8.count` gives).
    static func digits(_ n: Int64) -> Int {
        var count = 1
        var power: Int64 = 10
        while n >= power, count < 19 {
            count += 1
            power &*= 10
        }
        return count
    }

    /// The endpoint ended the session (its timers are cancelled, its disconnect logged): the
    /// server's socket closes, a FIN downstream unless the connection is already gone.
    private func serverClosed() {
        guard serverState == .open else { return }
        serverState = .closed
        if serverSendsFIN { transmitClose(.downstream) }
        connection.transportMayBeFinished(self)
    }

}

/// The token of a timer whose callback needs it (set just after scheduling).
private final class TokenHolder {
    var token: TimerToken?
}

@available(*, unavailable)
extension SimulatedTransport: Sendable {}
