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

    /// Server restarts: at random instants (a Poisson process of `rate`, for the whole server, not
    /// per connection) the server process dies and comes back after a draw of `downFor`. Every
    /// open connection is reset when it dies, and connects are refused until it is back.
    public struct ServerRestarts: Sendable, Hashable {
        /// Restarts per unit of time.
        public var rate: EventRate
        /// How long the server is down each time (nanoseconds).
        public var downFor: Distribution

        /// Creates a server-restart process.
        public init(rate: EventRate, downFor: Distribution) {
            self.rate = rate
            self.downFor = downFor
        }
    }

    /// The stall process, if any.
    public var stalls: Stalls?
    /// The dead-peer process, if any.
    public var deadPeers: DeadPeers?

    /// The server-restart process, if any.
    public var serverRestarts: ServerRestarts?

    /// No random faults.
    public init(stalls: Stalls? = nil, deadPeers: DeadPeers? = nil, serverRestarts: ServerRestarts? = nil) {
        self.stalls = stalls
        self.deadPeers = deadPeers
        self.serverRestarts = serverRestarts
    }

    /// Whether there is no process at all.
    public var isEmpty: Bool { stalls == nil && deadPeers == nil && serverRestarts == nil }
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
    /// When the server is down in run `run` of seed `seed`, from its restart process: time ranges in
    /// order, non-overlapping, cut at the run's end. The simulator, and the ground truth (dead for
    /// every connection while it is down), draw the same ones.
    public func serverRestarts(seed: UInt64, run: UInt64) -> [Range<TimeSpan>] {
        guard let restarts = faults.serverRestarts else { return [] }
        var rng = SeededGenerator(seed: seed).derived(0x7265_7374_6172_7473, run)
        return Self.poissonEpisodes(rate: restarts.rate, length: restarts.downFor, end: duration, using: &rng)
    }

    /// Episodes of a Poisson process of `rate` up to `end`, each lasting a draw of `length` (nil: to
    /// the end, so there is at most one), the next drawn from the end of the last, so none overlap.
    static func poissonEpisodes(rate: EventRate, length: Distribution?, end: TimeSpan,
                                using rng: inout SeededGenerator) -> [Range<TimeSpan>] {
        guard rate.perSecond > 0 else { return [] }
        let end = end.nanoseconds
        var ranges: [Range<TimeSpan>] = []
        var t: Int64 = 0
        while t < end {
            let seconds = -log(rng.nextOpenUnit()) / rate.perSecond
            guard seconds * 1e9 < Double(end - t) else { break }
            let start = t + Int64(seconds * 1e9)
            guard let length else {
                ranges.append(TimeSpan.nanoseconds(start)..<TimeSpan.nanoseconds(end))
                break
            }
            let stop = min(end, start + max(1, Int64(length.sample(using: &rng).rounded())))
            ranges.append(TimeSpan.nanoseconds(start)..<TimeSpan.nanoseconds(stop))
            t = stop
        }
        return ranges
    }

    /// The episodes connection `connection` (0-based) draws in run `run` of seed `seed`: stalls and
    /// deaths in time order, each kind non-overlapping, cut at the run's end. The same seed, run and
    /// connection give the same episodes, in the simulator, the live runner and the ground truth.
    public func faultEpisodes(connection: Int, seed: UInt64, run: UInt64) -> [FaultEpisode] {
        var episodes: [FaultEpisode] = []
        let base = SeededGenerator(seed: seed).derived(0x6661_756c_7473, run, UInt64(connection))
        if let stalls = faults.stalls {
            var rng = base.derived(1)
            for range in Self.poissonEpisodes(rate: stalls.rate, length: stalls.duration, end: duration, using: &rng) {
                episodes.append(FaultEpisode(start: range.lowerBound, end: range.upperBound, kind: .stall, direction: stalls.direction))
            }
        }
        if let dead = faults.deadPeers {
            var rng = base.derived(2)
            for range in Self.poissonEpisodes(rate: dead.rate, length: dead.recoverAfter, end: duration, using: &rng) {
                episodes.append(FaultEpisode(start: range.lowerBound, end: range.upperBound, kind: .dead))
            }
        }
        return episodes.sorted { $0.start < $1.start }
    }
}
