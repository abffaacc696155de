/// Conditions per direction: upstream is client to server, downstream server to client, each
/// applied in order by `LinkSchedule`. A scenario's `both:` adds the same conditions to each
/// direction; the simulator and the runner take their baselines and phases in this shape.
public struct LinkConditions: Sendable, Hashable {
    /// Client-to-server conditions, in pipeline order.
    public var upstream: [Condition]
    /// Server-to-client conditions, in pipeline order.
    public var downstream: [Condition]

    /// Creates a set of per-direction conditions.
    public init(upstream: [Condition] = [], downstream: [Condition] = []) {
        self.upstream = upstream
        self.downstream = downstream
    }

    /// The conditions on `direction`.
    public subscript(direction: LinkDirection) -> [Condition] {
        get { direction == .upstream ? upstream : downstream }
        set { if direction == .upstream { upstream = newValue } else { downstream = newValue } }
    }

    /// Whether there is no condition in either direction.
    public var isEmpty: Bool { upstream.isEmpty && downstream.isEmpty }

    /// The same conditions on both links (a scenario's `both:`).
    public static func both(_ conditions: [Condition]) -> LinkConditions {
        LinkConditions(upstream: conditions, downstream: conditions)
    }

    /// No conditions: an ideal link.
    public static let none = LinkConditions()

    /// The same constant one-way latency (and optional jitter) on both links.
    public static func latency(_ oneWay: TimeSpan, jitter: TimeSpan = .zero) -> LinkConditions {
        .both([.latency(LatencyCondition(latency: oneWay, jitter: jitter))])
    }

    /// The kinds of its conditions, both directions, sorted and joined ("blackhole+stall"): how
    /// the event log names a phase or a random episode, live and simulated.
    public var kindsLabel: String {
        Set((upstream + downstream).map(\.kind)).sorted().joined(separator: "+")
    }
}
