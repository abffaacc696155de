import Heartbeat
import LabCore

/// Chen, Toueg and Aguilera's quality of service of one detector on one trace (2002): how fast it
/// detects a crash and how often, and for how long, it wrongly suspects a live peer.
///
/// Crashes are simulated at many evenly spread instants after the warm-up: a crash at c keeps the
/// arrivals up to c and drops those after, so the detection time is the detector's suspicion
/// instant after its last heartbeat before c, minus c (zero when it already suspected the peer at
/// c). Mistakes are the detector's false suspicions on the whole trace after the warm-up, as
/// `HeartbeatTrace.evaluate` counts them. The detector is online: at each arrival it knows only
/// the arrivals before.
public struct DetectorQoS: Sendable, Hashable {
    /// Mean detection time T_D, seconds.
    public var detectionMean: Double
    /// The 99th percentile of the detection times, seconds.
    public var detectionP99: Double
    /// The largest detection time, seconds.
    public var detectionMax: Double
    /// False suspicions per hour of observation (λ_M).
    public var mistakesPerHour: Double
    /// The number of false suspicions.
    public var mistakes: Int
    /// The mean duration of a false suspicion, seconds (T_M); nil when there was none to measure.
    public var mistakeDuration: Double?
    /// The fraction of the observed time in which the live peer was trusted (P_A).
    public var queryAccuracy: Double
    /// The observed time after the warm-up, seconds.
    public var observed: Double

    /// Scores `detector` (a fresh one) on `trace`: the first `warmUp` arrivals are fed but not
    /// scored, and `crashes` crash instants are spread evenly over the rest. Nil when the trace has
    /// too few arrivals after the warm-up (fewer than 10) to judge anything.
    public static func score(
        _ detector: some FailureDetector, on trace: ArrivalTrace, warmUp: Int = 30, crashes: Int = 400
    ) -> DetectorQoS? {
        let arrivals = trace.arrivals
        guard arrivals.count >= warmUp + 10, crashes > 0 else { return nil }
        var detector = detector
        // deadlines[i]: the suspicion instant after arrival i with nothing more arriving.
        var deadlines: [Instant] = []
        deadlines.reserveCapacity(arrivals.count)
        for arrival in arrivals {
            detector.heartbeat(at: arrival)
            deadlines.append(detector.deadline(after: arrival))
        }
        let scoreStart = arrivals[warmUp]
        let end = arrivals[arrivals.count - 1]
        // Mistakes: between arrivals i and i+1, suspected from deadlines[i] if that is not after the
        // next arrival; a heartbeat that leaves the peer suspected does not end the mistake.
        var mistakes = 0
        var suspectedTime: Int64 = 0
        var durations: [Int64] = []
        var open: (start: Instant, end: Instant)?
        for i in warmUp..<(arrivals.count - 1) {
            let next = arrivals[i + 1]
            let suspected = deadlines[i]
            guard suspected <= next else { continue }
            if var current = open, current.end == suspected || current.end >= suspected {
                current.end = next
                open = current
            } else {
                if let done = open { durations.append((done.end - done.start).nanoseconds) }
                open = (suspected, next)
            }
        }
        if let done = open { durations.append((done.end - done.start).nanoseconds) }
        mistakes = durations.count
        suspectedTime = durations.reduce(0, +)
        let observed = (end - scoreStart).seconds
        // Detection times at evenly spread crash instants in [scoreStart, end).
        var times: [Double] = []
        times.reserveCapacity(crashes)
        let spanNs = (end - scoreStart).nanoseconds
        var last = warmUp
        for k in 0..<crashes {
            let offset = Int64((Double(k) + 0.5) / Double(crashes) * Double(spanNs))
            let crash = scoreStart + .nanoseconds(offset)
            while last + 1 < arrivals.count, arrivals[last + 1] <= crash { last += 1 }
            let detected = max(deadlines[last], crash)
            times.append(detected == .distantFuture ? .infinity : (detected - crash).seconds)
        }
        times.sort()
        let mean = times.reduce(0, +) / Double(times.count)
        let p99 = times[min(times.count - 1, Int((0.99 * Double(times.count)).rounded(.up)) - 1)]
        return DetectorQoS(
            detectionMean: mean, detectionP99: p99, detectionMax: times[times.count - 1],
            mistakesPerHour: observed > 0 ? Double(mistakes) / observed * 3600 : 0,
            mistakes: mistakes,
            mistakeDuration: mistakes > 0 ? Double(suspectedTime) / Double(mistakes) / 1e9 : nil,
            queryAccuracy: observed > 0 ? max(0, 1 - Double(suspectedTime) / 1e9 / observed) : 1,
            observed: observed)
    }
}
