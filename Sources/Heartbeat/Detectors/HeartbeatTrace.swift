import LabCore

/// A recorded or hand-made sequence of heartbeat arrivals with its ground truth: when (if ever) the
/// peer really died, and how long it was watched. Replaying detectors over one trace compares them
/// by Chen, Toueg and Aguilera's QoS metrics: detection time and mistakes (false suspicions).
public struct HeartbeatTrace: Hashable, Sendable {
    /// Heartbeat arrival instants, in non-decreasing order.
    public let arrivals: [Instant]
    /// When the peer died (no arrival after it); nil if it lived through the whole trace.
    public let crash: Instant?
    /// The end of observation: suspicions are cut here, and a detection after it does not count.
    public let end: Instant

    /// Creates a trace, checking that arrivals are ordered and none comes after the crash or the end.
    public init(arrivals: [Instant], crash: Instant? = nil, end: Instant) throws(HeartbeatTraceError) {
        for index in arrivals.indices.dropFirst() where arrivals[index] < arrivals[index - 1] {
            throw .unorderedArrival(index: index, arrival: arrivals[index], previous: arrivals[index - 1])
        }
        if let crash {
            if crash > end { throw .crashAfterEnd(crash: crash, end: end) }
            if let index = arrivals.firstIndex(where: { $0 > crash }) {
                throw .arrivalAfterCrash(index: index, arrival: arrivals[index], crash: crash)
            }
        }
        if let index = arrivals.firstIndex(where: { $0 > end }) {
            throw .arrivalAfterEnd(index: index, arrival: arrivals[index], end: end)
        }
        self.arrivals = arrivals
        self.crash = crash
        self.end = end
    }

    /// Replays `detector` (a copy; the argument is untouched) over the trace.
    ///
    /// Between two arrivals the detector's deadline is fixed, so a suspicion starts at
    /// `deadline(after:)` of the previous arrival if that is not after the next arrival, and ends at
    /// it. A heartbeat exactly at the deadline is late (the detectors' shared rule), which shows as a
    /// zero-length mistake. Suspicion while the peer is alive is a mistake; a heartbeat that leaves
    /// the peer suspected (a stale one, for Chen's detector) does not end it. The detection is the
    /// start of the suspicion that holds at the crash or begins after it.
    public func evaluate(_ detector: some FailureDetector) -> DetectorQuality {
        var detector = detector
        var mistakes: [DetectorQuality.Mistake] = []
        func suspect(from start: Instant, to end: Instant) {
            if let previous = mistakes.last, previous.end == start {
                mistakes[mistakes.count - 1].end = end  // trust never came back in between
            } else {
                mistakes.append(.init(start: start, end: end))
            }
        }
        let aliveUntil = crash ?? end
        for index in arrivals.indices {
            let arrival = arrivals[index]
            if index > 0 {
                let suspected = detector.deadline(after: arrivals[index - 1])
                if suspected <= arrival { suspect(from: suspected, to: arrival) }
            }
            detector.heartbeat(at: arrival)
        }
        var detection: Instant?
        if let last = arrivals.last {
            let suspected = detector.deadline(after: last)
            if suspected < aliveUntil { suspect(from: suspected, to: aliveUntil) }
            if let crash {
                let detected = max(suspected, crash)
                if detected <= end { detection = detected }
            }
        }
        return DetectorQuality(
            detector: detector.name, mistakes: mistakes, crash: crash, detection: detection)
    }

    /// Replays each detector over the trace, in order.
    public func compare(_ detectors: [any FailureDetector]) -> [DetectorQuality] {
        detectors.map { evaluate($0) }
    }

    /// Arrivals every `interval` from `start` up to and including `until`, skipping those strictly
    /// inside any of `gaps` (half-open `start..<end` ranges): a regular heartbeat with pauses.
    public static func periodicArrivals(
        from start: Instant, every interval: TimeSpan, through until: Instant, skipping gaps: [Range<Instant>] = []
    ) -> [Instant] {
        guard interval > .zero else { return [] }
        var result: [Instant] = []
        var t = start
        while t <= until {
            if !gaps.contains(where: { $0.lowerBound < t && t < $0.upperBound }) { result.append(t) }
            t = t + interval
        }
        return result
    }
}

/// Why a trace was rejected, with the offending index and instants.
public enum HeartbeatTraceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `arrivals[index]` comes before the arrival preceding it.
    case unorderedArrival(index: Int, arrival: Instant, previous: Instant)
    /// `arrivals[index]` comes after the crash.
    case arrivalAfterCrash(index: Int, arrival: Instant, crash: Instant)
    /// `arrivals[index]` comes after the end of the trace.
    case arrivalAfterEnd(index: Int, arrival: Instant, end: Instant)
    /// The crash is after the end of the trace.
    case crashAfterEnd(crash: Instant, end: Instant)

    /// A one-line message naming the arrival and the rule it broke.
    public var description: String {
        switch self {
        case let .unorderedArrival(index, arrival, previous):
            "arrivals[\(index)] = \(arrival) is before the previous arrival \(previous)"
        case let .arrivalAfterCrash(index, arrival, crash):
            "arrivals[\(index)] = \(arrival) is after the crash at \(crash)"
        case let .arrivalAfterEnd(index, arrival, end):
            "arrivals[\(index)] = \(arrival) is after the end of the trace at \(end)"
        case let .crashAfterEnd(crash, end):
            "crash at \(crash) is after the end of the trace at \(end)"
        }
    }
}

/// How one detector did on one trace: its mistakes while the peer lived and its detection of the
/// crash (Chen, Toueg and Aguilera's T_D, mistake count and T_M).
public struct DetectorQuality: Hashable, Sendable {
    /// A period during which the detector suspected a peer that was alive.
    public struct Mistake: Hashable, Sendable {
        /// When the false suspicion began.
        public var start: Instant
        /// When trust came back (the next heartbeat), or the crash or end of trace that cut it.
        public var end: Instant

        /// Creates a mistake spanning `start..<end`.
        public init(start: Instant, end: Instant) {
            self.start = start
            self.end = end
        }

        /// How long the mistake lasted.
        public var duration: TimeSpan { end - start }
    }

    /// The detector's `name`.
    public var detector: String
    /// False suspicions, in time order.
    public var mistakes: [Mistake]
    /// The crash of the trace, if any.
    public var crash: Instant?
    /// When the crash was detected (permanent suspicion began); nil if there was no crash or it was
    /// not detected by the end of the trace.
    public var detection: Instant?

    /// Creates a result.
    public init(detector: String, mistakes: [Mistake], crash: Instant?, detection: Instant?) {
        self.detector = detector
        self.mistakes = mistakes
        self.crash = crash
        self.detection = detection
    }

    /// The number of false suspicions.
    public var falseSuspicions: Int { mistakes.count }
    /// The time from the crash to its detection (T_D); nil without a detection.
    public var detectionTime: TimeSpan? {
        guard let crash, let detection else { return nil }
        return detection - crash
    }
    /// The total time spent wrongly suspecting a live peer.
    public var totalMistakeDuration: TimeSpan { mistakes.reduce(.zero) { $0 + $1.duration } }
}
