import Heartbeat
import LabCore

/// The discrete-event core shared by every simulated connection of a run: the virtual clock
/// (LabCore's `VirtualScheduler`), the timeline of conditions, the event log and the counters.
/// Single-threaded and bound to its run.
final class SimulationEngine {
    let configuration: SimulationConfiguration
    let scheduler = VirtualScheduler()
    let timeline: ConditionTimeline
    @exclusivity(unchecked) var log: SimulationEventLog
    @exclusivity(unchecked) var counters = SimulationCounters()
    var connections: [SimulatedConnection] = []

    // Interned strings of the hot paths.
    let detailEngineIO: Int32
    let detailSocketIO: Int32
    let detailTick: Int32
    let detailEcho: Int32
    let detailAck: Int32
    private var reasonIndex: [CloseReason: Int32] = [:]
    /// The Engine.IO payload size of a tick, less its sequence number's digits.
    let tickBaseSize: Int
    /// Whether ticks go in catch-up batches (`SimulationConfiguration.batchesTicks`): then every
    /// scheduled callback first brings its connection up to now (`SimulatedConnection.catchUp`).
    let batchesTicks: Bool
    /// What every simulated server endpoint runs (the live server's composition, this run's settings):
    /// the first instance's.
    var serverEndpoint: SocketIOServerEndpoint.Configuration { serverEndpoints[0] }
    /// Each server instance's configuration (its own recovery store), by 0-based index.
    let serverEndpoints: [SocketIOServerEndpoint.Configuration]
    /// Spreads accepted connections over the instances, as the live proxy's balancer does.
    private var balancer: UpstreamBalancer

    init(configuration: SimulationConfiguration) {
        self.configuration = configuration
        var timeline = ConditionTimeline(baseline: configuration.baseline, phases: configuration.phases,
                                         seed: configuration.seed, duration: configuration.duration,
                                         episodes: configuration.episodes)
        timeline.instanceBlackholes = configuration.instanceBlackholes
        self.timeline = timeline
        // Heartbeat events per connection: about three per ping interval (ping, client ping, pong).
        let interval = max(configuration.server.pingInterval.nanoseconds, 1)
        let perConnection = configuration.recording == .none ? 0
            : Int(min(configuration.duration.nanoseconds / interval, 1 << 20)) * 3 + 8
        var log = SimulationEventLog(connections: configuration.connections,
                                     reserve: min(perConnection * configuration.connections, 1 << 26))
        detailEngineIO = log.intern("engine.io")
        detailSocketIO = log.intern("socket.io /")
        detailTick = log.intern("tick")
        detailEcho = log.intern("echo")
        detailAck = log.intern("ack")
        for reason in CloseReason.allCases { reasonIndex[reason] = log.intern(reason.rawValue) }
        self.log = log
        let size = configuration.workload.serverEmitSize
        let sample = SocketIOMessage(.event("tick", [.object(["seq": .integer(1),
                                                              "pad": .string(String(repeating: "x", count: max(0, size - 32)))])]))
        tickBaseSize = 1 + sample.packet.encoded.utf8.count - 1
        // With recovery every tick carries its offset, so ticks go one by one (not batched).
        let encodesTicks = configuration.workload.encodesServerEvents
        batchesTicks = configuration.batchesTicks && configuration.workload.serverEmitInterval != nil
            && !encodesTicks && configuration.recording != .all && configuration.recovery == nil
            && configuration.application.healthCheck == nil && configuration.serverPauses.isEmpty
        var endpoint = SocketIOServerEndpoint.Configuration(
            heartbeat: configuration.server, namespace: configuration.serverNamespace,
            emitInterval: configuration.workload.serverEmitInterval, emitSize: size,
            pingEvent: configuration.application.pingEvent, pongEvent: configuration.application.pongEvent,
            encodesTicks: encodesTicks)
        endpoint.broadcastInterval = configuration.workload.broadcastInterval
        endpoint.broadcastSize = configuration.workload.broadcastSize
        endpoint.broadcastReplay = configuration.workload.broadcastReplay
        endpoint.broadcastRooms = configuration.workload.broadcastRooms != nil
        let instances = max(1, configuration.instances)
        serverEndpoints = (0..<instances).map { index in
            var instance = endpoint
            if instances > 1 { instance.instance = index + 1 }
            if let options = configuration.recovery {
                let stream = configuration.workload.broadcastInterval.map {
                    SocketIORecoveryStore.Broadcast(interval: $0, origin: .zero, size: configuration.workload.broadcastSize,
                                                    rooms: configuration.workload.broadcastRooms.map { n in (1...max(n, 1)).map { "r\($0)" } })
                }
                // Private session ids from the run's own stream of draws; each instance its own store
                // (no shared adapter).
                instance.recovery = SocketIORecoveryStore(
                    options: options, broadcast: stream, origin: .zero,
                    seed: configuration.seed &+ 0x5ec0_7e41 &+ configuration.run &* 0x9e37_79b9_7f4a_7c15 &+ UInt64(index) &* 0x2545_f491)
            }
            return instance
        }
        balancer = UpstreamBalancer(count: instances, policy: configuration.balance)
        serverPauses = configuration.serverPauses.map { (Instant.zero + $0.lowerBound)..<(Instant.zero + $0.upperBound) }
        instancePauses = configuration.instancePauses.map { ($0.instance, (Instant.zero + $0.range.lowerBound)..<(Instant.zero + $0.range.upperBound)) }
    }

    // MARK: Server pauses

    /// The server's pauses, as instants.
    let serverPauses: [Range<Instant>]
    /// Each instance's own pauses (0-based instance), as instants.
    let instancePauses: [(instance: Int, range: Range<Instant>)]
    /// Server work that came during a pause: reads first, then timers, each in the order they came,
    /// with the instance that owes it.
    private var pausedReads: [(instance: Int?, body: () -> Void)] = []
    private var pausedTimers: [(token: UInt64, instance: Int?, body: () -> Void)] = []

    /// Whether the run has any server pause (when not, the server's work never goes through the queue).
    var hasServerPauses: Bool { !serverPauses.isEmpty || !instancePauses.isEmpty }

    /// Whether the server (every instance) is paused now.
    var serverIsPaused: Bool {
        let now = scheduler.now
        return serverPauses.contains { $0.contains(now) }
    }

    /// Whether instance `instance` (0-based; nil: a connection no instance took) is paused now.
    func serverIsPaused(instance: Int?) -> Bool {
        if serverIsPaused { return true }
        guard let instance, !instancePauses.isEmpty else { return false }
        let now = scheduler.now
        return instancePauses.contains { $0.instance == instance && $0.range.contains(now) }
    }

    /// Keeps a read of the server's (a packet, a FIN, a closed connection) for the pause's end.
    func deferServerRead(_ body: @escaping () -> Void, instance: Int? = nil) {
        pausedReads.append((instance, body))
    }

    /// Keeps a server timer that fell due during a pause for the pause's end, unless cancelled first.
    func deferServerTimer(_ token: TimerToken, _ body: @escaping () -> Void, instance: Int? = nil) {
        pausedTimers.append((token.id, instance, body))
    }

    /// Cancels a timer, also when it already fell due during a pause and waits for its end.
    func cancel(_ token: TimerToken) {
        scheduler.cancel(token)
        if hasServerPauses { pausedTimers.removeAll { $0.token == token.id } }
    }

    /// A pause ended: the server reads what arrived, then runs the timers that came due.
    private func resumeServer() {
        // What the instances still paused owe waits for their own pause's end.
        func due(_ instance: Int?) -> Bool { !serverIsPaused(instance: instance) }
        while let i = pausedReads.firstIndex(where: { due($0.instance) }) {
            let read = pausedReads.remove(at: i)
            read.body()
        }
        while let i = pausedTimers.firstIndex(where: { due($0.instance) }) {
            let timer = pausedTimers.remove(at: i)
            timer.body()
        }
    }

    /// When a client timer due at `deadline` runs, under the configuration's throttling.
    func clientDeadline(_ deadline: Instant) -> Instant {
        let throttle = configuration.clientTimerThrottle
        guard !throttle.isEmpty else { return deadline }
        return Instant.zero + throttle.deadline(deadline - Instant.zero)
    }

    /// Schedules `body` for `connection` at `deadline`. With batched ticks the connection first
    /// catches up (emits and delivers the ticks due by then), so every callback sees the state it
    /// would have seen with one timer per tick.
    @discardableResult
    func schedule(at deadline: Instant, for connection: SimulatedConnection,
                  _ body: @escaping () -> Void) -> TimerToken {
        scheduler.schedule(at: deadline, owner: batchesTicks ? Int32(connection.index) : -1, body)
    }

    var now: Instant { scheduler.now }

    /// The log's index of a close reason's text.
    func reason(_ reason: CloseReason) -> Int32 { reasonIndex[reason]! }

    /// The log's index of any text.
    func string(_ text: String) -> Int32 { log.intern(text) }

    /// The interned name of an application event, without a table lookup for the hot ones.
    func eventName(_ name: String) -> Int32 {
        switch name {
        case "tick": detailTick
        case "echo": detailEcho
        default: log.intern(name)
        }
    }

    /// Records an event given as its log fields (a stack's note), interning its strings.
    func record(_ kind: EventKind, side: EventSide, connection: Int, reason: String?, detail: String?) {
        record(kind, side: side, connection: connection, reason: reason.map(string) ?? SimulationEventLog.noString,
               detail: detail.map(string) ?? SimulationEventLog.noString)
    }

    /// Records an event at the current instant, unless the recording choice leaves it out.
    func record(_ kind: EventKind, side: EventSide, connection: Int, reason: Int32 = SimulationEventLog.noString,
                detail: Int32 = SimulationEventLog.noString, rtt: TimeSpan? = nil, attempt: Int? = nil) {
        switch configuration.recording {
        case .all: break
        case .withoutMessages where kind == .messageSent || kind == .messageReceived: return
        case .withoutMessages: break
        case .none: return
        }
        log.append(.init(time: scheduler.now.nanoseconds, rtt: rtt?.nanoseconds ?? SimulationEventLog.noValue,
                         connection: Int32(connection), attempt: Int32(attempt ?? -1), reason: reason, detail: detail,
                         side: side, kind: kind))
    }

    /// Runs the whole simulation: connections open at their start instants, the timeline's changes
    /// apply to every open transport, and the clock advances to the end of the run, unless `limits`
    /// cut it short (a stop request, or more events than its budget): then the log ends at the
    /// instant of the cut, which is returned.
    @discardableResult
    func run(limits: SimulationLimits = SimulationLimits()) -> SimulationCut? {
        let end = Instant.zero + configuration.duration
        if batchesTicks {
            scheduler.willRun = { [unowned self] owner in connections[Int(owner)].catchUp() }
        }
        for index in 0..<configuration.connections {
            let connection = SimulatedConnection(engine: self, index: index)
            connections.append(connection)
            let start = Instant.zero + configuration.connectSpacing * Int64(index)
            guard start <= end else { continue }
            schedule(at: start, for: connection) { [unowned connection] in connection.start() }
        }
        for change in timeline.changes {
            scheduler.schedule(at: change) { [unowned self] in self.applyTimeline() }
        }
        // Each connection's own random episodes change only its own transports.
        for (index, episodes) in configuration.episodes.enumerated() where index < connections.count {
            for episode in episodes {
                let label = "random \(episode.conditions.kindsLabel)" + (episode.note.map { " (\($0))" } ?? "")
                let start = Instant.zero + episode.at
                if start <= end {
                    scheduler.schedule(at: start) { [unowned self] in self.applyEpisode(index, note: "\(label) starts") }
                }
                if let stop = episode.end, Instant.zero + stop <= end {
                    scheduler.schedule(at: Instant.zero + stop) { [unowned self] in self.applyEpisode(index, note: "\(label) ends") }
                }
            }
        }
        for (instance, range) in configuration.instanceBlackholes where instance < serverEndpoints.count {
            for (at, what) in [(range.lowerBound, "starts"), (range.upperBound, "ends")] where Instant.zero + at <= end {
                scheduler.schedule(at: Instant.zero + at) { [unowned self] in instanceLinksChanged(instance, note: "instance \(instance + 1): blackhole \(what)") }
            }
        }
        for outage in configuration.instanceOutages where Instant.zero + outage.range.lowerBound <= end
            && outage.instance < serverEndpoints.count {
            scheduler.schedule(at: Instant.zero + outage.range.lowerBound) { [unowned self] in instanceGoesDown(outage.instance) }
            if Instant.zero + outage.range.upperBound <= end {
                scheduler.schedule(at: Instant.zero + outage.range.upperBound) { [unowned self] in instanceComesBack(outage.instance) }
            }
        }
        for restart in configuration.serverRestarts where Instant.zero + restart.lowerBound <= end {
            scheduler.schedule(at: Instant.zero + restart.lowerBound) { [unowned self] in serverGoesDown() }
            if Instant.zero + restart.upperBound <= end {
                scheduler.schedule(at: Instant.zero + restart.upperBound) { [unowned self] in serverComesBack() }
            }
        }
        // The phases' notes mark the pauses in the log (applyTimeline); their ends release the work.
        for pause in serverPauses {
            scheduler.schedule(at: pause.upperBound) { [unowned self] in resumeServer() }
        }
        for pause in instancePauses where pause.range.lowerBound <= end {
            let label = "instance \(pause.instance + 1): pause"
            scheduler.schedule(at: pause.range.lowerBound) { [unowned self] in
                record(.fault, side: .proxy, connection: -1, detail: string(label + " starts"))
            }
            scheduler.schedule(at: pause.range.upperBound) { [unowned self] in
                record(.fault, side: .proxy, connection: -1, detail: string(label + " ends"))
                resumeServer()
            }
        }
        var cut: SimulationCut?
        if limits.isEmpty {
            scheduler.advance(to: end)
        } else {
            // Stepped, to look at the limits every few thousand callbacks: a stop request ends the
            // run within milliseconds, and a run that churns is stopped before it fills memory.
            var steps = 0
            while let next = scheduler.nextDeadline, next <= end {
                scheduler.step()
                steps &+= 1
                guard steps & 4095 == 0 else { continue }
                let at = scheduler.now - Instant.zero
                if let budget = limits.eventBudget, log.count > budget {
                    cut = .overBudget(at: at, events: log.count, connectionsOpened: connections.count + counters.reconnectAttempts)
                    break
                }
                if let stop = limits.stop, stop() {
                    cut = .stopped(at: at)
                    break
                }
            }
            if cut == nil { scheduler.advance(to: end) }
        }
        if batchesTicks {
            for connection in connections { connection.catchUp() }
        }
        return cut
    }

    /// One connection's random episode started or ended now: log it on that connection and give its
    /// open transports their new conditions.
    func applyEpisode(_ index: Int, note: String) {
        let connection = connections[index]
        if batchesTicks { connection.catchUp() }
        record(.fault, side: .proxy, connection: index, detail: string(note))
        let up = timeline.entries(.upstream, at: now)
        let down = timeline.entries(.downstream, at: now)
        for transport in connection.transports {
            transport.setConditions(upstream: up, downstream: down)
        }
    }

    /// Whether the server is down now (a restart in progress).
    private(set) var serverIsDown = false

    /// A restart begins: the server process dies, every open connection is reset.
    private func serverGoesDown() {
        if batchesTicks {
            for connection in connections { connection.catchUp() }
        }
        serverIsDown = true
        record(.fault, side: .proxy, connection: -1, detail: string("server restart: down"))
        for connection in connections {
            for transport in connection.transports { transport.serverCrashed() }
        }
        // The restarted process starts with an empty recovery store, as socket.io's in-memory adapter.
        for instance in serverEndpoints { instance.recovery?.clear(at: scheduler.now) }
    }

    // MARK: Server instances

    /// The instance (0-based) for a connection the server side accepts now; nil when all are down.
    /// The simulated clients share one address, so `source` puts them all on one instance, and
    /// `sid` (WebSocket: one connection a session) balances in turn, as live.
    func chooseInstance() -> Int? {
        balancer.choose(clientHost: "127.0.0.1")
    }

    /// A connection accepted by `instance` closed on the server's side.
    func instanceClosed(_ instance: Int) {
        balancer.closed(instance)
    }

    /// Instance `instance` (0-based) goes down: its connections are reset, the balancer sends no new
    /// ones to it, and its recovery store is gone with its process.
    private func instanceGoesDown(_ instance: Int) {
        if batchesTicks {
            for connection in connections { connection.catchUp() }
        }
        record(.fault, side: .proxy, connection: -1, detail: string("instance \(instance + 1): down"))
        balancer.setEnabled(false, upstream: instance)
        for connection in connections {
            for transport in connection.transports where transport.instance == instance { transport.serverCrashed() }
        }
        serverEndpoints[instance].recovery?.clear(at: scheduler.now)
    }

    /// The links to instance `instance` changed (a blackhole started or ended): its connections get
    /// their new conditions.
    private func instanceLinksChanged(_ instance: Int, note: String) {
        if batchesTicks {
            for connection in connections { connection.catchUp() }
        }
        record(.fault, side: .proxy, connection: -1, detail: string(note))
        let now = scheduler.now
        let up = timeline.entries(.upstream, at: now)
        let down = timeline.entries(.downstream, at: now)
        for connection in connections {
            for transport in connection.transports where transport.instance == instance {
                transport.setConditions(upstream: up, downstream: down)
            }
        }
    }

    /// Instance `instance` is back, empty.
    private func instanceComesBack(_ instance: Int) {
        balancer.setEnabled(true, upstream: instance)
        record(.fault, side: .proxy, connection: -1, detail: string("instance \(instance + 1): up"))
    }

    /// The restarted server listens again.
    private func serverComesBack() {
        serverIsDown = false
        record(.fault, side: .proxy, connection: -1, detail: string("server restart: up"))
    }

    /// The timeline changed now: log it and give every open transport its new conditions.
    func applyTimeline() {
        if batchesTicks {
            for connection in connections { connection.catchUp() }
        }
        for note in timeline.notes(at: now) {
            record(.fault, side: .proxy, connection: -1, detail: string(note))
        }
        let up = timeline.entries(.upstream, at: now)
        let down = timeline.entries(.downstream, at: now)
        for connection in connections {
            for transport in connection.transports {
                transport.setConditions(upstream: up, downstream: down)
            }
        }
    }
}

@available(*, unavailable)
extension SimulationEngine: Sendable {}
