import LabCore
import Scenario

/// A stretch of the timeline during which a link was in one state, as the ground truth that
/// disconnects are judged against (docs/metrics.md). Periods may overlap; the worst state wins.
public struct LinkPeriod: Sendable, Hashable {
    /// What the link did during the period.
    public enum Kind: Int, Sendable, Hashable, Comparable, CaseIterable {
        /// Data flows (possibly slowly or lossily): a disconnect now is a mistake.
        case usable = 0
        /// Data is held and will resume (a roaming pause): survivable while shorter than the
        /// tolerated stall, dead once it has lasted that long.
        case stall = 1
        /// Nothing gets through (a blackhole, an outage, a reset): a disconnect now is a detection.
        case dead = 2

        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Start of the period, from the start of the run (inclusive).
    public var start: TimeSpan
    /// End of the period (exclusive).
    public var end: TimeSpan
    /// The link's state during it.
    public var kind: Kind
    /// The direction it applies to; nil for both.
    public var direction: LinkDirection?
    /// The connection it applies to; nil for every connection.
    public var connection: String?

    /// Creates a period `[start, end)` of `kind`.
    public init(start: TimeSpan, end: TimeSpan, kind: Kind, direction: LinkDirection? = nil, connection: String? = nil) {
        self.start = start
        self.end = end
        self.kind = kind
        self.direction = direction
        self.connection = connection
    }
}

/// The state of a link at one instant, with the tolerated-stall rule already applied.
public enum LinkState: Sendable, Hashable {
    /// Data flows.
    case usable
    /// Nothing has got through since `since`, for less than the tolerated stall: still alive.
    case stalled(since: TimeSpan)
    /// The link is dead: a blackhole or outage, or silence that has lasted at least the tolerated
    /// stall. `since` is when the silence began, the origin of detection times.
    case dead(since: TimeSpan)

    /// Whether a disconnect now is a detection.
    public var isDead: Bool { if case .dead = self { true } else { false } }
}

/// A stretch of silence on one connection's link that became dead: a detector should have closed
/// the connection between `deadFrom` and `end`.
public struct DeadPeriod: Sendable, Hashable {
    /// When the silence began (the blackhole's or the stall's start); detection times count from here.
    public var start: TimeSpan
    /// When a disconnect starts to count as a detection: `start` for a blackhole or outage,
    /// `start + toleratedStall` for a stall.
    public var deadFrom: TimeSpan
    /// When data flowed again, or the end of the run (exclusive).
    public var end: TimeSpan
    /// Whether the period was cut by the end of the run rather than by the link recovering.
    public var endsWithRun: Bool

    /// Creates a dead period.
    public init(start: TimeSpan, deadFrom: TimeSpan, end: TimeSpan, endsWithRun: Bool) {
        self.start = start
        self.deadFrom = deadFrom
        self.end = end
        self.endsWithRun = endsWithRun
    }

    /// How long the link was silent in all.
    public var length: TimeSpan { end - start }
}

/// What the network really did, per connection and instant: the reference that classifies every
/// disconnect as false or a detection (DESIGN.md, "Ground truth comes from the timeline").
///
/// Rule: on one connection, the two directions are merged (the worst state wins) and consecutive
/// non-usable time forms one *silence*. An instant of a silence is dead when a dead period covers
/// it or an earlier instant of the same silence, or when the silence has lasted at least
/// `toleratedStall` by then; otherwise it is stalled. A disconnect at a dead instant is a
/// detection, its detection time measured from the silence's start; any other disconnect is false.
public struct GroundTruth: Sendable, Hashable {
    /// The periods the truth was built from.
    public let periods: [LinkPeriod]
    /// Silence shorter than this is survivable; at least this long is dead.
    public let toleratedStall: TimeSpan
    /// The run's length: periods are cut there.
    public let duration: TimeSpan

    /// Silences that apply to every connection, and to connections with periods of their own.
    private let sharedSilences: [Silence]
    private let connectionSilences: [String: [Silence]]
    private let sharedDirectional: [LinkDirection: [Silence]]
    private let connectionDirectional: [String: [LinkDirection: [Silence]]]

    /// One maximal stretch of non-usable time.
    struct Silence: Sendable, Hashable {
        var start: TimeSpan
        var end: TimeSpan
        /// Where the silence turns dead; `end` or later when it never does.
        var deadFrom: TimeSpan
    }

    /// Builds the truth from periods; periods outside `[0, duration)` are cut to it.
    public init(periods: [LinkPeriod], toleratedStall: TimeSpan, duration: TimeSpan) {
        self.periods = periods
        self.toleratedStall = toleratedStall
        self.duration = duration
        let shared = periods.filter { $0.connection == nil }
        sharedSilences = Self.silences(shared, direction: nil, toleratedStall: toleratedStall, duration: duration)
        var sharedDir: [LinkDirection: [Silence]] = [:]
        for d in LinkDirection.allCases {
            sharedDir[d] = Self.silences(shared, direction: d, toleratedStall: toleratedStall, duration: duration)
        }
        sharedDirectional = sharedDir
        var perConnection: [String: [Silence]] = [:]
        var perConnectionDir: [String: [LinkDirection: [Silence]]] = [:]
        for name in Set(periods.compactMap(\.connection)) {
            let own = periods.filter { $0.connection == nil || $0.connection == name }
            perConnection[name] = Self.silences(own, direction: nil, toleratedStall: toleratedStall, duration: duration)
            var dir: [LinkDirection: [Silence]] = [:]
            for d in LinkDirection.allCases {
                dir[d] = Self.silences(own, direction: d, toleratedStall: toleratedStall, duration: duration)
            }
            perConnectionDir[name] = dir
        }
        connectionSilences = perConnection
        connectionDirectional = perConnectionDir
    }

    /// The link's state on `connection` at `t`: both directions merged when `direction` is nil
    /// (what a heartbeat round trip needs), else that direction alone.
    public func state(at t: TimeSpan, connection: String, direction: LinkDirection? = nil) -> LinkState {
        let list = silences(connection: connection, direction: direction)
        guard let s = Self.silence(containing: t, in: list) else { return .usable }
        return t >= s.deadFrom ? .dead(since: s.start) : .stalled(since: s.start)
    }

    /// The dead periods of `connection` (directions merged), in time order.
    public func deadPeriods(connection: String) -> [DeadPeriod] {
        silences(connection: connection, direction: nil).compactMap { s in
            s.deadFrom < s.end ? DeadPeriod(start: s.start, deadFrom: s.deadFrom, end: s.end, endsWithRun: s.end >= duration) : nil
        }
    }

    /// Judges a disconnect of `connection` at `t`: a detection (with its detection time) when the
    /// link was dead then, else false.
    public func classify(disconnectAt t: TimeSpan, connection: String) -> DisconnectClassification {
        if case .dead(let since) = state(at: t, connection: connection) {
            return .detection(detectionTime: t - since, deadSince: since)
        }
        return .falseDisconnect
    }

    /// The total time within `[0, duration)` that `connection`'s link was dead (directions merged).
    public func deadTime(connection: String) -> TimeSpan {
        deadPeriods(connection: connection).reduce(.zero) { $0 + ($1.end - $1.deadFrom) }
    }

    /// Whether `t` is a dead instant on `connection`.
    public func isDead(at t: TimeSpan, connection: String) -> Bool {
        state(at: t, connection: connection).isDead
    }

    private func silences(connection: String, direction: LinkDirection?) -> [Silence] {
        if let direction {
            return connectionDirectional[connection]?[direction] ?? sharedDirectional[direction] ?? []
        }
        return connectionSilences[connection] ?? sharedSilences
    }

    private static func silence(containing t: TimeSpan, in list: [Silence]) -> Silence? {
        var low = 0
        var high = list.count
        while low < high {
            let mid = (low + high) / 2
            if list[mid].end <= t { low = mid + 1 } else { high = mid }
        }
        guard low < list.count, list[low].start <= t else { return nil }
        return list[low]
    }

    /// Merges the periods that apply to `direction` (nil: all) into silences.
    private static func silences(_ periods: [LinkPeriod], direction: LinkDirection?, toleratedStall: TimeSpan,
                                 duration: TimeSpan) -> [Silence] {
        let relevant = periods.compactMap { p -> LinkPeriod? in
            guard p.kind != .usable, direction == nil || p.direction == nil || p.direction == direction else { return nil }
            var cut = p
            cut.start = max(p.start, .zero)
            cut.end = min(p.end, duration)
            return cut.start < cut.end ? cut : nil
        }
        // Elementary segments between every boundary, each with its worst kind.
        var bounds = Set<TimeSpan>()
        for p in relevant {
            bounds.insert(p.start)
            bounds.insert(p.end)
        }
        let points = bounds.sorted()
        var result: [Silence] = []
        var current: Silence?
        for (a, b) in zip(points, points.dropFirst()) {
            var worst: LinkPeriod.Kind = .usable
            for p in relevant where p.start <= a && b <= p.end { worst = max(worst, p.kind) }
            if worst == .usable {
                if let c = current { result.append(c) }
                current = nil
                continue
            }
            if var c = current, c.end == a {
                c.end = b
                if worst == .dead { c.deadFrom = min(c.deadFrom, a) }
                current = c
            } else {
                if let c = current { result.append(c) }
                current = Silence(start: a, end: b, deadFrom: worst == .dead ? a : a + toleratedStall)
            }
        }
        if let c = current { result.append(c) }
        return result
    }
}

/// How a disconnect is judged against the ground truth.
public enum DisconnectClassification: Sendable, Hashable {
    /// The link was usable, or stalled for less than the tolerated stall: the connection should
    /// have survived.
    case falseDisconnect
    /// The link was dead; `detectionTime` is the time from `deadSince`, when the silence began.
    case detection(detectionTime: TimeSpan, deadSince: TimeSpan)

    /// Whether it is a false disconnect.
    public var isFalse: Bool { self == .falseDisconnect }

    /// The detection time, for a detection.
    public var detectionTime: TimeSpan? {
        if case .detection(let time, _) = self { time } else { nil }
    }
}

extension GroundTruth {
    /// The ground truth of a scenario's timeline, the same for every connection: blackholes and
    /// resets (from the reset's moment to the phase's end) are dead, stalls (for their duration),
    /// zero-rate bandwidth limits and server pauses are stalls, everything else (latency, loss, idle-timeout
    /// middleboxes...) leaves the link usable. Baseline conditions count for the whole run.
    public init(scenario: Scenario) {
        self.init(periods: Self.periods(of: scenario), toleratedStall: scenario.toleratedStall, duration: scenario.duration)
    }

    /// The truth of run `run` of seed `seed`: the scenario's timeline, the server's restarts (dead
    /// for everyone while it is down) and, per connection ("c1", "c2", …), the episodes it drew from
    /// the scenario's random fault processes.
    public init(scenario: Scenario, seed: UInt64, run: UInt64) {
        var periods = Self.periods(of: scenario)
        // While the server is down (a restart) every connection is dead; one already open is reset
        // at once, so its disconnect is a detection, not a mistake.
        for range in scenario.serverRestarts(seed: seed, run: run) {
            periods.append(LinkPeriod(start: range.lowerBound, end: range.upperBound, kind: .dead))
        }
        if !scenario.faults.isEmpty {
            for connection in 0..<scenario.clients.count {
                for episode in scenario.faultEpisodes(connection: connection, seed: seed, run: run) {
                    periods.append(LinkPeriod(start: episode.start, end: episode.end, kind: episode.kind == .stall ? .stall : .dead,
                                              direction: episode.direction, connection: "c\(connection + 1)"))
                }
            }
        }
        self.init(periods: periods, toleratedStall: scenario.toleratedStall, duration: scenario.duration)
    }

    /// This truth with the scenario's instance outages (`server: { down: [k] }`) added: a connection
    /// whose server session was on instance k when it went down was reset by the instance's death,
    /// so for it the link is dead from then for the reset's flight (`resetWindow`, or until its next
    /// session if sooner): its disconnect is a detection, found at once. After that the other
    /// instances are there: the time the client takes to come back is time away, and the events it
    /// misses then are missed, as after any detection. Which connection was where comes from the log: the servers' connects name their
    /// instance (`InstanceDetail`).
    ///
    /// A blackholed instance (`server: { blackhole: [k] }`) is dead, both ways, for every connection
    /// whose session was on it, from the blackhole's start (or the session's, if later) to its end or
    /// the connection's next session on another instance.
    public func addingInstanceOutages<Events: Collection>(_ outages: [(instance: Int, range: Range<TimeSpan>)],
                                                          blackholes: [(instance: Int, range: Range<TimeSpan>)] = [],
                                                          pauses: [(instance: Int, range: Range<TimeSpan>)] = [], events: Events,
                                                          resetWindow: TimeSpan = .milliseconds(250)) -> GroundTruth
        where Events.Element == LabEvent {
        guard !outages.isEmpty || !blackholes.isEmpty || !pauses.isEmpty else { return self }
        let sessions = InstanceSession.byConnection(events)
        var added = periods
        for outage in outages {
            let at = outage.range.lowerBound
            for (connection, list) in sessions where list.contains(where: { $0.instance == outage.instance + 1 && $0.range.contains(at) }) {
                let next = list.map(\.range.lowerBound).filter { $0 > at }.min()
                let end = min(outage.range.upperBound, next ?? at + resetWindow, at + resetWindow)
                added.append(LinkPeriod(start: at, end: max(end, at + .milliseconds(1)), kind: .dead, connection: connection))
            }
        }
        // A paused instance is alive but silent to its connections: a stall of both directions,
        // survivable while shorter than the tolerated stall (as `server: pause` is for every one).
        for (ranges, kind) in [(blackholes, LinkPeriod.Kind.dead), (pauses, .stall)] {
            for window in ranges {
                for (connection, list) in sessions {
                    for (i, session) in list.enumerated() where session.instance == window.instance + 1 {
                        let from = max(session.range.lowerBound, window.range.lowerBound)
                        // Until the connection's next session (on another instance), or the window's end.
                        let next = i + 1 < list.count ? list[i + 1].range.lowerBound : window.range.upperBound
                        let to = min(window.range.upperBound, next)
                        if from < to { added.append(LinkPeriod(start: from, end: to, kind: kind, connection: connection)) }
                    }
                }
            }
        }
        return GroundTruth(periods: added, toleratedStall: toleratedStall, duration: duration)
    }

    /// The periods a scenario's baseline link and timeline imply (see `init(scenario:)`).
    public static func periods(of scenario: Scenario) -> [LinkPeriod] {
        var result: [LinkPeriod] = []
        func add(_ conditions: LinkConditions, _ range: Range<TimeSpan>) {
            for direction in LinkDirection.allCases {
                for condition in conditions[direction] {
                    if let p = period(condition, range, direction) { result.append(p) }
                }
            }
        }
        add(scenario.link, .zero..<scenario.duration)
        for (range, index) in scenario.timeline() {
            add(scenario.phases[index].conditions, range)
        }
        // A paused server is alive but answers nothing: to a heartbeat it is a stall of both
        // directions, survivable while shorter than the tolerated stall.
        for range in scenario.serverPauses {
            result.append(LinkPeriod(start: range.lowerBound, end: range.upperBound, kind: .stall))
        }
        return result
    }

    private static func period(_ condition: Condition, _ range: Range<TimeSpan>, _ direction: LinkDirection) -> LinkPeriod? {
        let start = range.lowerBound
        let end = range.upperBound
        switch condition {
        case .blackhole:
            return LinkPeriod(start: start, end: end, kind: .dead, direction: direction)
        case .stall(let stall):
            let stop = stall.duration.map { min(start + $0, end) } ?? end
            return start < stop ? LinkPeriod(start: start, end: stop, kind: .stall, direction: direction) : nil
        case .bandwidth(let b) where b.rate.bytesPerSecond == 0:
            return LinkPeriod(start: start, end: end, kind: .stall, direction: direction)
        case .reset(let reset):
            let from = start + reset.after
            return from < end ? LinkPeriod(start: from, end: end, kind: .dead, direction: direction) : nil
        default:
            return nil
        }
    }
}
