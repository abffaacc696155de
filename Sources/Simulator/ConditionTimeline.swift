import LabCore

/// The simulation's timeline turned into what the link schedules need: the instants at which the
/// conditions change, and the named, active conditions of each link at any instant. Names are
/// stable ("baseline.0.latency", "phase2.0.stall"), so a condition that stays across a change keeps
/// its state and random stream in `LinkSchedule`.
struct ConditionTimeline: Sendable {
    /// A condition with its name and the instant its phase started (run time).
    struct Entry: Sendable {
        var name: String
        var condition: Condition
        var since: Instant
        /// The phase index, or nil for the baseline.
        var phase: Int?
    }

    let baseline: LinkConditions
    let phases: [SimulationPhase]
    /// Per connection, its own random episodes (`SimulationConfiguration.episodes`).
    let episodes: [[SimulationPhase]]
    let seed: UInt64
    /// The instances' blackholes (`SimulationConfiguration.instanceBlackholes`).
    var instanceBlackholes: [(instance: Int, range: Range<TimeSpan>)] = []
    /// Sorted, distinct instants within the run at which some phase starts or ends.
    let changes: [Instant]

    init(baseline: LinkConditions, phases: [SimulationPhase], seed: UInt64, duration: TimeSpan,
         episodes: [[SimulationPhase]] = []) {
        self.baseline = baseline
        self.phases = phases
        self.episodes = episodes
        self.seed = seed
        var instants: Set<Int64> = []
        for phase in phases {
            if phase.at > .zero, phase.at <= duration { instants.insert(phase.at.nanoseconds) }
            if let end = phase.end, end <= duration { instants.insert(end.nanoseconds) }
        }
        changes = instants.sorted().map { Instant(nanoseconds: $0) }
    }

    /// The conditions of `direction` in force at `now` (phases whose span contains it).
    func entries(_ direction: LinkDirection, at now: Instant) -> [Entry] {
        var out: [Entry] = []
        let base = direction == .upstream ? baseline.upstream : baseline.downstream
        for (i, c) in base.enumerated() {
            out.append(Entry(name: "baseline.\(direction.rawValue).\(i).\(c.kind)", condition: c, since: .zero, phase: nil))
        }
        for (p, phase) in phases.enumerated() where Self.covers(phase, now) {
            Self.append(phase, named: "phase\(p)", direction, phase: p, to: &out)
        }
        return out
    }

    /// Whether `phase` is in force at `now`: started, not yet ended.
    static func covers(_ phase: SimulationPhase, _ now: Instant) -> Bool {
        guard Instant.zero + phase.at <= now else { return false }
        if let end = phase.end, Instant.zero + end <= now { return false }
        return true
    }

    /// Appends `phase`'s conditions of `direction` as entries named "<prefix>.<direction>.<i>.<kind>".
    static func append(_ phase: SimulationPhase, named prefix: String, _ direction: LinkDirection, phase index: Int?,
                       to out: inout [Entry]) {
        let list = direction == .upstream ? phase.conditions.upstream : phase.conditions.downstream
        for (i, c) in list.enumerated() {
            out.append(Entry(name: "\(prefix).\(direction.rawValue).\(i).\(c.kind)", condition: c,
                             since: Instant.zero + phase.at, phase: index))
        }
    }

    /// The blackholes of one server instance (0-based) in force at `now`, as entries of `direction`
    /// for a connection on it.
    func instanceEntries(_ direction: LinkDirection, instance: Int, at now: Instant) -> [Entry] {
        var out: [Entry] = []
        for (k, blackhole) in instanceBlackholes.enumerated() where blackhole.instance == instance
            && Instant.zero + blackhole.range.lowerBound <= now && now < Instant.zero + blackhole.range.upperBound {
            out.append(Entry(name: "instance\(instance).blackhole\(k).\(direction.rawValue)", condition: .blackhole(BlackholeCondition()),
                             since: Instant.zero + blackhole.range.lowerBound, phase: nil))
        }
        return out
    }

    /// `connection`'s own random episodes in force at `now`, as entries of `direction`.
    func episodeEntries(_ direction: LinkDirection, connection: Int, at now: Instant) -> [Entry] {
        guard connection < episodes.count else { return [] }
        var out: [Entry] = []
        for (k, episode) in episodes[connection].enumerated() where Self.covers(episode, now) {
            Self.append(episode, named: "episode\(k)", direction, phase: nil, to: &out)
        }
        return out
    }

    /// The entries as one connection's active conditions: `since` no earlier than its opening,
    /// and a phase applying only if the connection drew it (its probability).
    func active(_ entries: [Entry], connection: Int, openedAt: Instant) -> [ActiveCondition] {
        entries.map { entry in
            var applies = true
            if let p = entry.phase, phases[p].probability < 1 {
                applies = ToxicityDraw.value(seed: seed, connection: UInt64(connection), name: "phase\(p)")
                    < phases[p].probability
            }
            return ActiveCondition(name: entry.name, condition: entry.condition, since: max(entry.since, openedAt),
                                   applies: applies)
        }
    }

    /// A description of the phases that start and end at `now`, for the event log.
    func notes(at now: Instant) -> [String] {
        var out: [String] = []
        for (p, phase) in phases.enumerated() {
            let kinds = phase.conditions.kindsLabel
            let parts = [kinds.isEmpty ? nil : kinds, phase.note].compactMap { $0 }
            let label = "phase \(p + 1)" + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
            if Instant.zero + phase.at == now { out.append("\(label) starts") }
            if let end = phase.end, Instant.zero + end == now { out.append("\(label) ends") }
        }
        return out
    }
}
