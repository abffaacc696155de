import DequeModule
import Heartbeat
import LabCore

/// One simulated WebSocket transport of a connection (one TCP connection through the fault
/// links): its `ConnectionSchedule`, the packets its links hold, and the server's end, which runs
/// `EngineIOServerHeartbeat` and `SocketIOServerSession` as the live `EngineIOServerSession` does,
/// with the built-in server app: "tick" events, "echo" emitted back and acked, and the custom
/// ping's event answered with its pong event.
///
/// Every packet is written to the `ConnectionPump` when sent, with its encoded size; the pump says
/// when the far end receives it (a scheduler event here), or holds it (released in order when
/// conditions change), or drops it. FINs go the same way. Connection actions (reset, idle-timeout
/// middlebox, blackhole deadline) close both ends.
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
    /// The links' queue and the connection's due actions, as the live proxy's (LabCore's `ConnectionPump`).
    @exclusivity(unchecked) private var pump: ConnectionPump<WirePacket>
    /// The connection's links (for the client's connect delay).
    var links: ConnectionSchedule { pump.schedule }
    private var actionToken: TimerToken?

    /// Whether the client still has this transport open.
    @exclusivity(unchecked) var clientOpen = true
    @exclusivity(unchecked) var serverState = ServerState.awaitingRequest
    /// Counts the connection off its instance, once, when the server's end of it closes.
    private func releaseInstance() {
        guard let instance, !instanceReleased else { return }
        instanceReleased = true
        engine.instanceClosed(instance)
    }
    private var instanceReleased = false

    /// The server instance (0-based) the balancer gave this connection when it opened, as the
    /// proxy does at its accept; nil when every instance was down (the connect is refused).
    private(set) var instance: Int?

    // The server's end: the same endpoint the live server's sessions run.
    @exclusivity(unchecked) var endpoint: SocketIOServerEndpoint
    private var serverTimers: [SocketIOServerEndpoint.Timer: TimerToken] = [:]
    /// The server heartbeat's two timers (next ping, pong deadline), kept out of the dictionary.
    @exclusivity(unchecked) private var pingTokens: [TimerToken?] = [nil, nil]
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
        pump = ConnectionPump(openedAt: engine.now, random: random)
        endpoint = SocketIOServerEndpoint(sid: "", configuration: engine.serverEndpoint)
        instance = engine.chooseInstance()
        setConditions(upstream: engine.timeline.entries(.upstream, at: engine.now),
                      downstream: engine.timeline.entries(.downstream, at: engine.now))
    }

    var isFinished: Bool { !clientOpen && serverState == .closed }

    // MARK: Links

    /// New conditions on both links: held packets are re-admitted in order, and the next
    /// connection action is re-planned.
    func setConditions(upstream: [ConditionTimeline.Entry], downstream: [ConditionTimeline.Entry]) {
        let timeline = engine.timeline
        let openedAt = pump.openedAt
        let index = connection.index
        let now = engine.now
        var up = upstream + timeline.episodeEntries(.upstream, connection: index, at: now)
        var down = downstream + timeline.episodeEntries(.downstream, connection: index, at: now)
        if let instance, !timeline.instanceBlackholes.isEmpty {
            up += timeline.instanceEntries(.upstream, instance: instance, at: now)
            down += timeline.instanceEntries(.downstream, instance: instance, at: now)
        }
        pump.setConditions(upstream: timeline.active(up, connection: index, openedAt: openedAt),
                           downstream: timeline.active(down, connection: index, openedAt: openedAt),
                           at: engine.now) { carryOut($0) }
    }

    /// Sends `packet` from the side that writes on `direction`, now (or at `at`, an instant not
    /// after now, when a batch catches up).
    func transmit(_ packet: WirePacket, _ direction: LinkDirection, at: Instant? = nil) {
        engine.counters.packetsSent += 1
        put(packet, direction, at: at ?? engine.now)
    }

    /// `transmit` without the count, for loops that count their packets once.
    private func put(_ packet: WirePacket, _ direction: LinkDirection, at: Instant) {
        // The pump's fate as a value: the packet is not copied into an action (the per-tick path).
        switch pump.writeMessage(packet, bytes: packet.wireSize(direction), on: direction, at: at) {
        case .deliver(let at, let thenClose):
            deliver(packet, direction, at: at)
            if thenClose { closeConnection(at: at) }
        case .cutShort(let at):
            closeConnection(at: at)
        case .dropped:
            engine.counters.packetsDropped += 1
        case .held, .ignored:
            break
        }
    }

    /// Sends a FIN on `direction` (the writing side closed its socket).
    func transmitClose(_ direction: LinkDirection) {
        pump.writeFIN(on: direction, at: engine.now) { carryOut($0) }
    }

    /// Carries out what the pump decided: arrivals become scheduler events (batched ticks join
    /// their queue), the action timer becomes one. Never calls back into the pump except for the
    /// actions `actionDue` collects first (closing the connection).
    private func carryOut(_ action: ConnectionPump<WirePacket>.Action) {
        switch action {
        case .deliver(let packet, let direction, let at):
            deliver(packet, direction, at: at)
        case .deliverFIN(let direction, let at):
            engine.schedule(at: at, for: connection) { [self] in finArrived(direction) }
        case .drop:
            engine.counters.packetsDropped += 1
        case .closeAfterData(_, let at):
            closeConnection(at: at)
        case .close:
            connectionClosed(reset: false)
        case .reset:
            connectionClosed(reset: true)
        case .armActionTimer(let at):
            // One timer for the connection's next action; an idle timeout that traffic postponed is
            // re-planned when the timer fires, not on every packet.
            if let token = actionToken { engine.scheduler.cancel(token) }
            actionToken = nil
            guard !isFinished else { return }
            actionToken = engine.schedule(at: at, for: connection) { [self] in actionDue() }
        case .cancelActionTimer:
            if let token = actionToken { engine.scheduler.cancel(token) }
            actionToken = nil
        }
    }

    /// `packet` reaches the far end of `direction` at `at`: a scheduler event, or, for a batched
    /// tick, a place in the ticks' queue.
    @inline(__always)
    private func deliver(_ packet: WirePacket, _ direction: LinkDirection, at: Instant) {
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

    /// A data limit closes the connection at `at`, after the packets delivered before it.
    private func closeConnection(at: Instant) {
        engine.schedule(at: at, for: connection) { [self] in connectionClosed(reset: false) }
    }

    /// The action timer fired: the pump decides, and its actions are carried out once it has
    /// (closing the connection writes the client's FIN into the pump).
    private func actionDue() {
        actionToken = nil
        guard !isFinished else { return }
        var actions: [ConnectionPump<WirePacket>.Action] = []
        pump.actionTimerFired(at: engine.now) { actions.append($0) }
        for action in actions { carryOut(action) }
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
        pump.close()
        if let token = actionToken { engine.scheduler.cancel(token) }
        actionToken = nil
    }

    /// The server's socket learnt the connection is gone (a FIN read, or the proxy closed it): a
    /// pending handshake is dropped, an open session closes ("transport close"), answering with its
    /// own FIN when `sendFIN`.
    private func serverLostConnection(sendFIN: Bool) {
        switch serverState {
        case .awaitingRequest:
            serverState = .closed
            releaseInstance()
        case .open:
            // The connection gone from the middle: the server's close sends no FIN into it.
            serverSendsFIN = sendFIN
            perform(endpoint.close(.transportClose, notifyPeer: false, at: engine.now))
            serverSendsFIN = true
        case .closed: break
        }
    }

    // MARK: Server restarts

    /// The server process died (a restart): its session vanishes without a word or a note, its
    /// timers with it, and its kernel resets the connection, which the client learns at once.
    func serverCrashed() {
        guard serverState != .closed else { return }
        perform([.cancelAllTimers])
        releaseInstance()
        serverState = .closed
        resetUnderClient()
    }

    /// A reset both ends already know of on the server's side: the client learns it now, and the
    /// link carries nothing more.
    private func resetUnderClient() {
        if clientOpen { connection.transportClosedUnder(self) }
        pump.close()
        if let token = actionToken { engine.scheduler.cancel(token) }
        actionToken = nil
        connection.transportMayBeFinished(self)
    }

    // MARK: Server pauses

    /// Runs a read of the server's now, or at the end of the server's pause.
    private func onServer(_ read: @escaping () -> Void) {
        if engine.hasServerPauses, engine.serverIsPaused(instance: instance) {
            engine.deferServerRead(read, instance: instance)
        } else {
            read()
        }
    }

    /// Arms a server timer; one that falls due while the server is paused runs at the pause's end,
    /// after the reads (unless cancelled by then).
    private func serverTimer(at deadline: Instant, _ fire: @escaping () -> Void) -> TimerToken {
        guard engine.hasServerPauses else { return engine.schedule(at: deadline, for: connection, fire) }
        let holder = TokenHolder()
        let token = engine.schedule(at: deadline, for: connection) { [engine, instance] in
            if engine.serverIsPaused(instance: instance), let token = holder.token {
                engine.deferServerTimer(token, fire, instance: instance)
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
        case (.upgradeRequest, .awaitingRequest) where engine.serverIsDown:
            // No process listens while the server restarts: the connection is refused.
            serverState = .closed
            releaseInstance()
            resetUnderClient()
        case (.upgradeRequest, .awaitingRequest):
            guard instance != nil else {
                // Every instance was down when it opened: nothing listened behind the balancer.
                serverState = .closed
                releaseInstance()
                resetUnderClient()
                return
            }
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
        endpoint = SocketIOServerEndpoint(sid: connection.nextSocketID(), configuration: engine.serverEndpoints[instance ?? 0])
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
            case .sendUnencodedTick(let sequence, let offset):
                guard serverState == .open else { continue }
                // The offset is the tick's last argument: `,"123"`.
                let extra = offset.map { Int64(Self.digits($0)) + 3 } ?? 0
                transmit(.sizedTick(payload: engine.tickBaseSize + Self.digits(sequence) + Int(extra), offset: offset ?? 0), .downstream)
            case .closeTransport: serverClosed()
            case .arm(.tick, let at) where engine.batchesTicks:
                nextTickAt = at
            case .arm(.heartbeat(let t), let at):
                // Re-armed on every ping: two slots, not the dictionary (the per-ping path).
                let token = serverTimer(at: at) { [self] in
                    pingTokens[t == .ping ? 0 : 1] = nil
                    perform(endpoint.timerFired(.heartbeat(t), at: engine.now))
                }
                replace(&pingTokens[t == .ping ? 0 : 1], with: token)
            case .arm(let timer, let at):
                let token = serverTimer(at: at) { [self] in
                    serverTimers[timer] = nil
                    perform(endpoint.timerFired(timer, at: engine.now))
                }
                if let old = serverTimers.updateValue(token, forKey: timer) { engine.cancel(old) }
            case .cancel(.heartbeat(let t)):
                replace(&pingTokens[t == .ping ? 0 : 1], with: nil)
            case .cancel(let timer):
                if timer == .tick { nextTickAt = nil }
                if let old = serverTimers.removeValue(forKey: timer) { engine.cancel(old) }
            case .cancelAllTimers:
                for token in serverTimers.values { engine.cancel(token) }
                serverTimers.removeAll()
                replace(&pingTokens[0], with: nil)
                replace(&pingTokens[1], with: nil)
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
        case .connected(_, let recovered, let instance):
            if recovered || instance != nil {
                engine.record(.connect, side: .server, connection: index, reason: nil, detail: note.logFields.detail)
            } else {
                engine.record(.connect, side: .server, connection: index, detail: engine.detailSocketIO)
            }
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
        releaseInstance()
        if serverSendsFIN { transmitClose(.downstream) }
        connection.transportMayBeFinished(self)
    }

}

extension SimulatedTransport {
    /// Puts `token` in `slot`, cancelling the timer that was there.
    fileprivate func replace(_ slot: inout TimerToken?, with token: TimerToken?) {
        if let old = slot { engine.cancel(old) }
        slot = token
    }
}

/// The token of a timer whose callback needs it (set just after scheduling).
private final class TokenHolder {
    var token: TimerToken?
}

@available(*, unavailable)
extension SimulatedTransport: Sendable {}
