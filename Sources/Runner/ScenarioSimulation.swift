import Heartbeat
import LabCore
import Metrics
import Scenario
import Simulator

/// Why a scenario cannot be run in the chosen mode.
public struct RunnerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The scenario's source file or name.
    public var scenario: String
    /// What is missing or wrong.
    public var message: String

    /// Creates an error about `scenario`.
    public init(scenario: String, message: String) {
        self.scenario = scenario
        self.message = message
    }

    public var description: String { "\(scenario): \(message)" }
}

/// Turns a scenario into the simulator's configuration: the same settings, baseline link and
/// timeline, so a simulated run answers the question the scenario file asks.
public enum ScenarioSimulation {
    /// What the simulator does not model yet, reported beside the results so nobody mistakes a
    /// simulated "pass" for more than it is. The application layer (health check, custom ping) is
    /// simulated; nothing the built-in components do is left out at present.
    public static func limitations(of scenario: Scenario) -> [String] {
        []
    }

    /// Simulates run `run` of `scenario` and measures it against its ground truth: `truth` (the
    /// scenario's, which the caller builds once) unless the scenario has random faults, whose
    /// episodes, and so whose truth, differ per run.
    ///
    /// The run holds at most `ScenarioBounds.mostEventsPerRun` events: past them it is stopped and
    /// the error says how far it got and how many connections it opened (a scenario whose
    /// reconnections churn). When `stop` says so the run ends where it is, and its metrics cover
    /// the virtual time that ran (`result.cut` says when).
    public static func simulate(_ scenario: Scenario, run: UInt64, seed: UInt64, source: String, truth: GroundTruth,
                                stop: (@Sendable () -> Bool)? = nil, eventBudget: Int = Int(ScenarioBounds.mostEventsPerRun))
        throws(RunnerError) -> (result: SimulationResult, metrics: RunMetrics) {
        let limits = SimulationLimits(eventBudget: eventBudget, stop: stop)
        let result = Simulation(try configuration(for: scenario, run: run, seed: seed, source: source)).run(limits: limits)
        var ran = scenario
        switch result.cut {
        case .overBudget(let at, let events, let opened)?:
            throw RunnerError(scenario: source, message: "run \(run + 1) was stopped at \(at) of \(scenario.duration): it had logged \(events) "
                              + "events, more than the \(eventBudget) a run may hold, after opening \(opened) connections for "
                              + "\(scenario.clients.count) clients; raise clients.reconnection.delay if they churn, or lower "
                              + "clients.count or duration")
        case .stopped(let at)?:
            ran = scenario.truncated(to: max(at, .milliseconds(1)))
        case nil:
            break
        }
        let runTruth = (scenario.faults.isEmpty && result.cut == nil ? truth : GroundTruth(scenario: ran, seed: seed, run: run))
            .addingInstanceOutages(ran.instanceOutages, blackholes: ran.instanceBlackholes, pauses: ran.instancePauses,
                                   events: result.log)
        // From the compact log directly: no array of millions of events.
        return (result, RunMetrics.compute(events: result.log, truth: runTruth, duration: ran.duration,
                                           options: MetricsOptions(scenario: scenario)))
    }

    /// The simulator configuration for run `run` of `scenario` (seed and run index decide every draw).
    public static func configuration(for scenario: Scenario, run: UInt64, seed: UInt64? = nil,
                                     source: String) throws(RunnerError) -> SimulationConfiguration {
        guard case .socketIO(let server) = scenario.server else {
            throw RunnerError(scenario: source, message: "server: an external component can only run live (--mode live)")
        }
        if case .socketIO(let client) = scenario.clients.component, client.transports.contains("polling") {
            throw RunnerError(scenario: source, message: "clients.transports: long-polling runs live only (--mode live); "
                              + "the simulator models the WebSocket transport")
        }
        guard case .socketIO(let client) = scenario.clients.component else {
            throw RunnerError(scenario: source, message: "clients: an external component can only run live (--mode live)")
        }
        let phases = scenario.timeline().map { occurrence in
            SimulationPhase(at: occurrence.range.lowerBound,
                            duration: occurrence.range.upperBound - occurrence.range.lowerBound,
                            conditions: scenario.phases[occurrence.phase].conditions,
                            note: scenario.phases[occurrence.phase].note)
        }
        var workload = SimulationWorkload(
            serverEmitInterval: scenario.workload.serverToClient?.rate.interval,
            serverEmitSize: Int(scenario.workload.serverToClient?.size.bytes ?? 64),
            clientEmitInterval: scenario.workload.clientToServer?.rate.interval)
        // Size-only ticks: the same link sizes, deliveries and log (SimulationSizedTickTests), without
        // building and parsing each tick's JSON, which was four fifths of a long run's time.
        workload.encodesServerEvents = false
        workload.broadcastInterval = scenario.workload.broadcast?.rate.interval
        workload.broadcastSize = Int(scenario.workload.broadcast?.size.bytes ?? 64)
        workload.broadcastReplay = scenario.workload.broadcastReplay
        workload.broadcastRooms = scenario.workload.broadcastRooms
        let application = SimulationApplicationLayer(healthCheck: client.application.healthCheck?.options,
                                                     customPing: client.application.customPing?.options)
        var configuration = SimulationConfiguration(
            seed: seed ?? scenario.seed, run: run, connections: scenario.clients.count, duration: scenario.duration,
            server: .init(pingInterval: server.pingInterval, pingTimeout: server.pingTimeout, detector: server.detector),
            clientHeartbeat: client.heartbeat,
            clientNamespace: .init(connectTimeout: client.connectTimeout),
            reconnection: client.reconnection.options,
            application: application,
            baseline: scenario.link, phases: phases, workload: workload)
        configuration.serverPauses = scenario.serverPauses
        configuration.recovery = server.connectionStateRecovery
        configuration.instances = scenario.serverInstances
        configuration.balance = scenario.balance
        configuration.instanceOutages = scenario.instanceOutages
        configuration.instanceBlackholes = scenario.instanceBlackholes
        configuration.instancePauses = scenario.instancePauses
        if let phase = server.serviceSweepPhase(seed: seed ?? scenario.seed, run: run) {
            configuration.server.serviceSweepOrigin = .zero + phase
        }
        configuration.serverRestarts = scenario.serverRestarts(seed: seed ?? scenario.seed, run: run)
        if !scenario.faults.isEmpty {
            let base = seed ?? scenario.seed
            configuration.episodes = (0..<scenario.clients.count).map { connection in
                scenario.faultEpisodes(connection: connection, seed: base, run: run).map {
                    SimulationPhase(at: $0.start, duration: $0.end - $0.start, conditions: $0.conditions, note: nil)
                }
            }
        }
        configuration.clientTimerThrottle = scenario.clientTimerThrottle
        return configuration
    }
}

extension SocketIOClientSettings {
    /// How the built-in client reads the server's heartbeat, for simulated and live runs alike:
    /// engine.io-client's rules, or python-engineio's client for `stack: python-socketio` (any
    /// packet re-arms the deadline, a pong echoes the ping's data, the close is "transport error"),
    /// with the scenario's detector.
    public var heartbeat: EngineIOClientHeartbeat.Configuration {
        var configuration: EngineIOClientHeartbeat.Configuration = stack == "python-socketio" ? .pythonEngineIO : .engineIOClient
        configuration.detector = detector
        return configuration
    }
}

extension HealthCheckSettings {
    /// The scenario's health check as the Heartbeat machine takes it, for simulated and live runs alike.
    public var options: HealthCheck.Options {
        HealthCheck.Options(staleAfter: staleAfter, heartbeatsCount: heartbeatsCount, checkInterval: checkInterval, events: events)
    }
}

extension CustomPingSettings {
    /// The scenario's custom ping as the Heartbeat machine takes it, for simulated and live runs alike.
    public var options: CustomPing.Options {
        CustomPing.Options(interval: interval, timeout: timeout, firstPingAfter: firstPingAfter,
                           pingEvent: pingEvent, pongEvent: pongEvent)
    }
}

extension ReconnectionSettings {
    /// The scenario's reconnection settings as the Heartbeat reconnection manager takes them, for
    /// simulated and live runs alike.
    public var options: ReconnectionOptions {
        ReconnectionOptions(reconnection: enabled, reconnectionAttempts: attempts, reconnectionDelay: delay,
                            reconnectionDelayMax: delayMax, randomizationFactor: randomization)
    }
}

extension SocketIOServerSettings {
    /// When the server's stack is python-socketio: the phase of python-engineio's service task,
    /// which notices an overdue pong only at its sweeps, every pingTimeout from a start drawn from
    /// the run's seed; nil for the other stacks. Simulated and live runs draw the same one.
    public func serviceSweepPhase(seed: UInt64, run: UInt64) -> TimeSpan? {
        guard stack == "python-socketio" else { return nil }
        var rng = SeededGenerator(seed: seed).derived(0x7377_6565_70, run)
        return .nanoseconds(Int64(rng.nextUnit() * Double(pingTimeout.nanoseconds)))
    }
}
