#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import LabCore

/// The φ accrual failure detector (Hayashibara et al. 2004) as Akka implements it
/// (akka-remote PhiAccrualFailureDetector.scala): φ = -log10(1 - F(t)), where t is the time since
/// the last heartbeat and F the normal CDF fitted to recent inter-arrival times, approximated by
/// the logistic 1 / (1 + e^(-y(1.5976 + 0.070566 y²))) with y = (t - mean - pause) / sd.
///
/// As in Akka: the history starts with two bootstrap intervals, estimate ∓ estimate/4; it keeps the
/// last `maxSampleSize` intervals; sd is the population deviation floored at `minStdDeviation`; the
/// mean is shifted by `acceptableHeartbeatPause`; a heartbeat arriving after the peer was suspected
/// updates the timestamp but its interval is not recorded; with no heartbeat yet φ is 0. Unlike
/// Akka (milliseconds), intervals are kept to the nanosecond, with exact integer sums.
public struct PhiAccrualDetector: FailureDetector, Hashable {
    /// φ at or above which the peer is suspected (Akka default 8).
    public let threshold: Double
    /// How many recent intervals are kept (Akka default 1000).
    public let maxSampleSize: Int
    /// The floor under the standard deviation (Akka default 100 ms).
    public let minStdDeviation: TimeSpan
    /// Added to the mean: a silence this much longer than usual is still normal (Akka default 3 s).
    public let acceptableHeartbeatPause: TimeSpan
    /// The interval the bootstrap history is centred on (Akka's heartbeat-interval, default 1 s).
    public let firstHeartbeatEstimate: TimeSpan

    /// The arrival instant of the last heartbeat; nil before the first one.
    public private(set) var lastHeartbeat: Instant?
    private var ring: [Int64] = []
    private var oldest = 0
    private var sum: Int128 = 0
    private var sumOfSquares: Int128 = 0
    /// Elapsed nanoseconds since `lastHeartbeat` at which φ first reaches the threshold; nil if never.
    private var suspectAfter: Int64?

    /// Creates a detector; every argument defaults to Akka's reference.conf value. Requires
    /// threshold > 0, maxSampleSize > 0, minStdDeviation > 0, acceptableHeartbeatPause ≥ 0 and
    /// firstHeartbeatEstimate > 0, as Akka does.
    public init(
        threshold: Double = 8,
        maxSampleSize: Int = 1000,
        minStdDeviation: TimeSpan = .milliseconds(100),
        acceptableHeartbeatPause: TimeSpan = .seconds(3),
        firstHeartbeatEstimate: TimeSpan = .seconds(1)
    ) throws(DetectorConfigurationError) {
        func check(_ ok: Bool, _ name: String, _ value: String, _ rule: String) throws(DetectorConfigurationError) {
            if !ok {
                throw DetectorConfigurationError(
                    detector: "PhiAccrualDetector", parameter: name, value: value, requirement: rule)
            }
        }
        try check(threshold > 0 && threshold.isFinite, "threshold", "\(threshold)", "must be a finite number > 0")
        try check(maxSampleSize > 0, "maxSampleSize", "\(maxSampleSize)", "must be > 0")
        try check(minStdDeviation > .zero, "minStdDeviation", "\(minStdDeviation)", "must be > 0")
        try check(acceptableHeartbeatPause >= .zero, "acceptableHeartbeatPause", "\(acceptableHeartbeatPause)", "must be >= 0")
        try check(firstHeartbeatEstimate > .zero, "firstHeartbeatEstimate", "\(firstHeartbeatEstimate)", "must be > 0")
        self.threshold = threshold
        self.maxSampleSize = maxSampleSize
        self.minStdDeviation = minStdDeviation
        self.acceptableHeartbeatPause = acceptableHeartbeatPause
        self.firstHeartbeatEstimate = firstHeartbeatEstimate
    }

    /// "phi" with its threshold and pause, e.g. "phi 8.0 pause 3s".
    public var name: String { "phi \(threshold) pause \(acceptableHeartbeatPause)" }

    /// The number of intervals in the history (bootstrap ones included).
    public var sampleCount: Int { ring.count }

    /// Mean of the recorded intervals, in nanoseconds (before the pause is added); nil before the
    /// first heartbeat.
    public var intervalMeanNanoseconds: Double? {
        ring.isEmpty ? nil : Double(sum) / Double(ring.count)
    }

    /// Population standard deviation of the recorded intervals, in nanoseconds, before the floor;
    /// nil before the first heartbeat.
    public var intervalStandardDeviationNanoseconds: Double? {
        guard !ring.isEmpty else { return nil }
        let n = Int128(ring.count)
        let numerator = n * sumOfSquares - sum * sum  // n²·variance, exact
        return (Double(numerator) / Double(n * n)).squareRoot()
    }

    /// Records the interval since the previous heartbeat (unless the peer was suspected by then) and
    /// precomputes when φ will reach the threshold.
    public mutating func heartbeat(at now: Instant) {
        guard let last = lastHeartbeat else {
            let estimate = firstHeartbeatEstimate.nanoseconds
            let spread = estimate / 4
            append(estimate - spread)
            append(estimate + spread)
            lastHeartbeat = now
            suspectAfter = firstSuspectedElapsed()
            return
        }
        if now < last { return }
        let interval = (now - last).nanoseconds
        if isAvailable(at: now) {
            append(interval)
        }
        lastHeartbeat = now
        suspectAfter = firstSuspectedElapsed()
    }

    /// The suspicion level φ at `now`: 0 before the first heartbeat, then growing with the silence;
    /// +∞ once the approximated tail underflows.
    public func phi(at now: Instant) -> Double {
        guard let last = lastHeartbeat else { return 0 }
        return phi(elapsed: (now - last).nanoseconds)
    }

    /// The first instant at which φ reaches the threshold, exact to the nanosecond, or `now` if passed.
    public func deadline(after now: Instant) -> Instant {
        guard let last = lastHeartbeat, let suspectAfter else { return .distantFuture }
        return max(now, last + TimeSpan(nanoseconds: suspectAfter))
    }

    /// φ over the threshold.
    public func suspicion(at now: Instant) -> Double {
        phi(at: now) / threshold
    }

    // MARK: - Internals

    private mutating func append(_ interval: Int64) {
        let value = Int128(interval)
        if ring.count < maxSampleSize {
            ring.append(interval)
        } else {
            let dropped = Int128(ring[oldest])
            sum -= dropped
            sumOfSquares -= dropped * dropped
            ring[oldest] = interval
            oldest = (oldest + 1) % maxSampleSize
        }
        sum += value
        sumOfSquares += value * value
    }

    /// The distribution φ uses: mean shifted by the pause, and the floored deviation, in ns.
    private var fitted: (mean: Double, sd: Double) {
        let mean = (intervalMeanNanoseconds ?? 0) + Double(acceptableHeartbeatPause.nanoseconds)
        let sd = max(intervalStandardDeviationNanoseconds ?? 0, Double(minStdDeviation.nanoseconds))
        return (mean, sd)
    }

    /// Akka's φ for `elapsed` nanoseconds of silence; the two branches avoid cancellation.
    private func phi(elapsed: Int64) -> Double {
        let (mean, sd) = fitted
        let t = Double(elapsed)
        let y = (t - mean) / sd
        let e = exp(-y * (1.5976 + 0.070566 * y * y))
        if t > mean {
            return -log10(e / (1 + e))
        } else {
            return -log10(1 - 1 / (1 + e))
        }
    }

    /// The smallest elapsed time (ns) with φ ≥ threshold: the closed-form root of the logistic
    /// approximation as a first guess, then an exact search on `phi(elapsed:)` so that
    /// `deadline(after:)` and φ agree to the nanosecond. Nil if φ never reaches the threshold.
    private func firstSuspectedElapsed() -> Int64? {
        if phi(elapsed: 0) >= threshold { return 0 }
        let (mean, sd) = fitted
        let guess = mean + Self.standardScore(threshold: threshold) * sd
        var probe: Int64 = guess.isFinite ? Int64(max(1, min(guess.rounded(), 4e18))) : 1
        var below: Int64 = 0  // φ(below) < threshold
        var atOrAbove: Int64  // φ(atOrAbove) ≥ threshold
        if phi(elapsed: probe) >= threshold {
            atOrAbove = probe
            var step: Int64 = 1
            while true {
                let candidate = atOrAbove - step
                if candidate <= 0 { break }
                if phi(elapsed: candidate) >= threshold {
                    atOrAbove = candidate
                    step = step.multipliedReportingOverflow(by: 2).partialValue
                } else {
                    below = candidate
                    break
                }
            }
        } else {
            below = probe
            var step: Int64 = 1
            while true {
                let (next, overflow) = below.addingReportingOverflow(step)
                if overflow { return nil }
                probe = next
                if phi(elapsed: probe) >= threshold { break }
                below = probe
                if step < Int64.max / 2 { step *= 2 }
            }
            atOrAbove = probe
        }
        while atOrAbove - below > 1 {
            let middle = below + (atOrAbove - below) / 2
            if phi(elapsed: middle) >= threshold { atOrAbove = middle } else { below = middle }
        }
        return atOrAbove
    }

    /// The score y at which the logistic approximation gives φ = threshold: the real root of
    /// 0.070566·y³ + 1.5976·y = ln(10^threshold - 1), by Cardano's formula.
    static func standardScore(threshold: Double) -> Double {
        let a = 1.5976, b = 0.070566
        // ln(10^θ - 1) without overflowing for large θ.
        let l = threshold * log(10.0) + log1p(-pow(10.0, -threshold))
        let p = a / b, q = -l / b
        let root = (q * q / 4 + p * p * p / 27).squareRoot()
        return cbrt(-q / 2 + root) + cbrt(-q / 2 - root)
    }
}
