import Foundation
import LabCore

/// Random fault processes (`faults:` in a scenario): each connection draws its own episodes from
/// the seed, so real users' independent stalls and dead peers can be simulated, and ground truth
/// comes from the drawn episodes exactly as it does from phases (docs/scenarios.md).
public struct FaultProcesses: Sendable, Hashable {
    /// Stall episodes: a Poisson process of `rate`, each lasting a draw of `duration`.
    public struct Stalls: Sendable, Hashable {
        /// Episodes per connection and unit of time.
        public var rate: EventRate
        /// Each episode's length (nanoseconds, as every LabCore duration distribution).
        public var duration: Distribution
        /// The direction stalled; nil for both.
        public var direction: LinkDirection?

        /// Creates a stall process.
        public init(rate: EventRate, duration: Distribution, direction: LinkDirection? = nil) {
            self.rate = rate
            self.duration = duration
            self.direction = direction
        }
    }

    /// Dead peers: at random instants (a Poisson process of `rate`) the connection goes dead both
    /// ways, a crash or a blackhole; it recovers after a draw of `recoverAfter`, or never.
    public struct DeadPeers: Sendable, Hashable {
        /// Deaths per connection and unit of time.
        public var rate: EventRate
        /// How long a death lasts (nanoseconds); nil: to the end of the run.
        public var recoverAfter: Distribution?

        /// Creates a dead-peer process.
        public init(rate: EventRate, recoverAfter: Distribution? = nil) {
            self.rate = rate
            self.recoverAfter = recoverAfter
        }
    }

    /// The stall process, if any.
    public var stalls: Stalls?
    /// The dead-peer process, if any.
    public var deadPeers: DeadPeers?

    /// No random faults.
    public init(stalls: Stalls? = nil, deadPeers: DeadPeers? = nil) {
        self.stalls = stalls
        self.deadPeers = deadPeers
    }

    /// Whether there is no process at all.
    public var isEmpty: Bool { stalls == nil && deadPeers == nil }
}

/// One drawn episode of a random fault process on one connection.
public struct FaultEpisode: Sendable, Hashable {
    /// What the link does.
    public enum Kind: String, Sendable, Hashable {
        /// Data is held, then delivered.
        case stall
        /// Nothing gets through (a crash or blackhole).
        case dead
    }

    /// Start, from the beginning of the run.
    public var start: TimeSpan
    /// End (exclusive), at most the run's end.
    public var end: TimeSpan
    /// What happens.
    public var kind: Kind
    /// The direction; nil for both.
    public var direction: LinkDirection?

    /// The conditions the episode imposes while it lasts.
    public var conditions: LinkConditions {
        let condition: Condition = kind == .stall ? .stall(StallCondition()) : .blackhole(BlackholeCondition())
        switch direction {
        case nil: return .both([condition])
        case .upstream?: return LinkConditions(upstream: [condition])
        case .downstream?: return LinkConditions(downstream: [condition])
        }
    }
}

extension Scenario {
    /// The episodes connection `connection` (0-based) draws in run `run` of seed `seed`: stalls and
    /// deaths in time order, each kind non-overlapping, cut at the run's end. The same seed, run and
    /// connection give the same episodes, in the simulator, the live runner and the ground truth.
    public func faultEpisodes(connection: Int, seed: UInt64, run: UInt64) -> [FaultEpisode] {
        var episodes: [FaultEpisode] = []
        let base = SeededGenerator(seed: seed).derived(0x6661_756c_7473, run, UInt64(connection))
        let end = duration.nanoseconds
        func exponential(_ rate: EventRate, _ rng: inout SeededGenerator) -> Int64? {
            guard rate.perSecond > 0 else { return nil }
            let seconds = -log(rng.nextOpenUnit()) / rate.perSecond
            return seconds * 1e9 < Double(end) ? Int64(seconds * 1e9) : nil
        }
        if let stalls = faults.stalls {
            var rng = base.derived(1)
            var t: Int64 = 0
            while let gap = exponential(stalls.rate, &rng), t + gap < end {
                let start = t + gap
                let length = max(1, Int64(stalls.duration.sample(using: &rng).rounded()))
                let stop = min(end, start + length)
                episodes.append(FaultEpisode(start: .nanoseconds(start), end: .nanoseconds(stop), kind: .stall, direction: stalls.direction))
                t = stop
            }
        }
        if let dead = faults.deadPeers {
            var rng = base.derived(2)
            var t: Int64 = 0
            while let gap = exponential(dead.rate, &rng), t + gap < end {
                let start = t + gap
                guard let recover = dead.recoverAfter else {
                    episodes.append(FaultEpisode(start: .nanoseconds(start), end: .nanoseconds(end), kind: .dead))
                    break
                }
                let stop = min(end, start + max(1, Int64(recover.sample(using: &rng).rounded())))
                episodes.append(FaultEpisode(start: .nanoseconds(start), end: .nanoseconds(stop), kind: .dead))
                t = stop
            }
        }
        return episodes.sorted { $0.start < $1.start }
    }
}
