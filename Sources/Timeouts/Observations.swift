/// Probes sent and lost in one series, where the source shows losses (Flent's nulls).
public struct ProbeCount: Sendable, Hashable {
    /// Probes sent.
    public var sent: Int
    /// Probes never answered.
    public var lost: Int

    /// Creates a count.
    public init(sent: Int, lost: Int) {
        self.sent = sent
        self.lost = lost
    }
}

/// What one or more sources show that the timeout engine can learn from: heartbeat arrival traces,
/// RTT samples, probe losses and disconnects with the connection time they happened in. Each
/// source fills what it has; `merge` adds another's.
public struct Observations: Sendable, Hashable {
    /// Heartbeat arrival traces, one per monitored series.
    public var traces: [ArrivalTrace] = []
    /// RTT samples in seconds, by series.
    public var rtts: [String: [Double]] = [:]
    /// Probes sent and lost, by series, where visible.
    public var probes: [String: ProbeCount] = [:]
    /// Disconnects by "side: reason" (event logs).
    public var disconnects: [String: Int] = [:]
    /// Connection time the disconnects were counted over, hours (event logs; 0 when none).
    public var connectionHours: Double = 0
    /// Connections seen (event logs).
    public var connections = 0

    /// Empty observations.
    public init() {}

    /// Adds `other`'s observations to these.
    public mutating func merge(_ other: Observations) {
        traces += other.traces
        rtts.merge(other.rtts) { $0 + $1 }
        probes.merge(other.probes) { ProbeCount(sent: $0.sent + $1.sent, lost: $0.lost + $1.lost) }
        disconnects.merge(other.disconnects, uniquingKeysWith: +)
        connectionHours += other.connectionHours
        connections += other.connections
    }
}
