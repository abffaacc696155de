import Heartbeat
import LabCore

/// A simulated run in virtual time: N Socket.IO clients and their server sessions, running the
/// Heartbeat machines as the live components do, over links whose every decision comes from
/// LabCore's `LinkSchedule` (DESIGN.md, principles 1–4). Same configuration, same seed: the same
/// event log, byte for byte.
public struct Simulation: Sendable {
    /// What to run.
    public var configuration: SimulationConfiguration

    /// A simulation of `configuration`.
    public init(_ configuration: SimulationConfiguration) {
        self.configuration = configuration
    }

    /// Runs it to the end, or until `limits` cut it short, and returns the log and the counters.
    public func run(limits: SimulationLimits = SimulationLimits()) -> SimulationResult {
        let engine = SimulationEngine(configuration: configuration)
        let cut = engine.run(limits: limits)
        return SimulationResult(log: engine.log, counters: engine.counters, cut: cut)
    }

    /// The performance check of issue 4: `connections` clients with 25 s / 20 s heartbeats, a
    /// server workload of 2 events per second of 512 bytes, a constant 20 ms one-way latency, for
    /// `duration`; message events are counted, not logged; ticks are size-only unless
    /// `encodedEvents`. Time `Simulation(...).run()` on it.
    public static func benchmarkConfiguration(connections: Int = 1_000, duration: TimeSpan = .seconds(3_600),
                                              seed: UInt64 = 1, encodedEvents: Bool = false) -> SimulationConfiguration {
        var workload = SimulationWorkload.serverEvents(perSecond: 2, size: 512)
        workload.encodesServerEvents = encodedEvents
        return SimulationConfiguration(
            seed: seed, connections: connections, duration: duration,
            connectSpacing: .milliseconds(1),
            server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)),
            baseline: .latency(.milliseconds(20)),
            workload: workload,
            recording: .withoutMessages)
    }
}

/// What a simulated run produced.
public struct SimulationResult: Sendable {
    /// The event log.
    public var log: SimulationEventLog
    /// Totals, messages included whatever was logged.
    public var counters: SimulationCounters
    /// Why the run ended before its duration, if it did; the log covers the time until then.
    public var cut: SimulationCut?

    /// The log as JSON lines (the content of events.jsonl).
    public var jsonLines: String { log.jsonLines }
    /// The log's events.
    public var events: [LabEvent] { log.events }
}

/// What may end a simulated run before its duration: a stop request (SIGINT or SIGTERM) and a
/// budget of logged events, so that a scenario whose reconnections churn cannot fill memory.
public struct SimulationLimits: Sendable {
    /// The most events the log may hold; nil for no bound.
    public var eventBudget: Int?
    /// Asked every few thousand callbacks; true ends the run where it is.
    public var stop: (@Sendable () -> Bool)?

    /// Limits; none by default.
    public init(eventBudget: Int? = nil, stop: (@Sendable () -> Bool)? = nil) {
        self.eventBudget = eventBudget
        self.stop = stop
    }

    /// Whether nothing can cut the run short.
    var isEmpty: Bool { eventBudget == nil && stop == nil }
}

/// Why a simulated run ended early, and when (virtual time from its start).
public enum SimulationCut: Sendable, Hashable {
    /// A stop was requested.
    case stopped(at: TimeSpan)
    /// The log passed its event budget; with the connections opened so far (first connects and
    /// reconnection attempts), which is what usually drives it.
    case overBudget(at: TimeSpan, events: Int, connectionsOpened: Int)
}
