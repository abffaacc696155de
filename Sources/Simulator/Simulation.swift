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

    /// Runs it to the end and returns the log and the counters.
    public func run() -> SimulationResult {
        let engine = SimulationEngine(configuration: configuration)
        engine.run()
        return SimulationResult(log: engine.log, counters: engine.counters)
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

    /// The log as JSON lines (the content of events.jsonl).
    public var jsonLines: String { log.jsonLines }
    /// The log's events.
    public var events: [LabEvent] { log.events }
}
