import Heartbeat
import LabCore
import Simulator

/// Shorthands for the simulator tests: exact instants in milliseconds and event filters.
enum Sim {
    static func ms(_ value: Int64) -> TimeSpan { .milliseconds(value) }

    /// The times of the events of `kind` (and `side`) on connection `conn`.
    static func times(_ events: [LabEvent], _ kind: EventKind, side: EventSide? = nil, conn: String = "c1") -> [TimeSpan] {
        events.filter { $0.kind == kind && $0.connection == conn && (side == nil || $0.side == side) }.map(\.time)
    }

    /// The events of `kind` (and `side`) on connection `conn`.
    static func events(_ events: [LabEvent], _ kind: EventKind, side: EventSide? = nil, conn: String = "c1") -> [LabEvent] {
        events.filter { $0.kind == kind && $0.connection == conn && (side == nil || $0.side == side) }
    }

    /// One connection, engine.io's 25 s / 20 s, a constant one-way latency on both links.
    static func configuration(latency: TimeSpan = .milliseconds(50), duration: TimeSpan,
                              phases: [SimulationPhase] = [], randomization: Double = 0.5,
                              seed: UInt64 = 7) -> SimulationConfiguration {
        SimulationConfiguration(
            seed: seed, connections: 1, duration: duration,
            server: .init(pingInterval: .seconds(25), pingTimeout: .seconds(20)),
            reconnection: ReconnectionOptions(randomizationFactor: randomization),
            baseline: .latency(latency), phases: phases)
    }
}
