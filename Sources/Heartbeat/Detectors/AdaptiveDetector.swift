import LabCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Flatline's adaptive detector: after each heartbeat it sets the timeout that minimises the
/// expected cost of the next silence, detection time plus a price per mistake, under the gaps it
/// has seen.
///
/// A crash during the next gap is detected `timeout` after the last heartbeat at worst, so the
/// detection time a timeout costs grows with it; a live peer whose next gap reaches the timeout
/// is a mistake (the deadline is exclusive). With S(τ) = P(next gap ≥ τ), the detector picks
/// timeout = argmin τ + price·S(τ), price being the knob (in seconds of detection time one
/// mistake is worth). S is the empirical survival of the last `windowSize` gaps, with an
/// exponential tail fitted to the largest ones beyond what they show (so a price too high for
/// the window's resolution still gives a finite, data-driven timeout). Unlike φ accrual it
/// assumes no shape; unlike Chen and Bertier, its margin follows the tail the price asks for,
/// not a mean or a deviation. Online: each timeout uses only the gaps before it.
public struct AdaptiveDetector: FailureDetector, Hashable {
    /// How many recent gaps the survival function uses.
    public let windowSize: Int
    /// Seconds of detection time one mistake is worth: the knob.
    public let mistakePrice: Double
    /// The timeout before enough gaps are known: a multiple of the first gap, or this.
    public let initialTimeout: TimeSpan

    /// The arrival instant of the last heartbeat; nil before the first one.
    public private(set) var lastHeartbeat: Instant?
    /// The gaps in arrival order (a ring) and the same sorted, in seconds.
    private var ring: [Double] = []
    private var oldest = 0
    private var sorted: [Double] = []
    /// The timeout chosen after the last heartbeat, seconds.
    private var timeout: Double
    /// The largest gaps ever seen (at most `tailSize`, ascending) and how many gaps were seen: the
    /// long memory of the tail, so a rare long silence outside the window still prices the timeout.
    private var record: [Double] = []
    private var seen = 0

    /// Gaps needed before the cost is minimised (the initial timeout holds until then).
    static let minimumGaps = 8
    /// How many of the largest gaps the tail is fitted to.
    static let tailSize = 16
    /// The narrowest tail scale, as a fraction of the median gap.
    static let tailFloor = 0.1
    /// The shape of the power-law prior past the largest gap ever seen: what an event longer than
    /// any yet is believed to look like (once in `seen` gaps, S ∝ t^−a).
    static let priorShape = 4.0

    /// Creates a detector; requires windowSize ≥ 16, mistakePrice ≥ 0 and a positive initial timeout.
    public init(windowSize: Int = 1000, mistakePrice: Double, initialTimeout: TimeSpan = .seconds(3)) throws(DetectorConfigurationError) {
        func check(_ ok: Bool, _ name: String, _ value: String, _ rule: String) throws(DetectorConfigurationError) {
            if !ok { throw DetectorConfigurationError(detector: "AdaptiveDetector", parameter: name, value: value, requirement: rule) }
        }
        try check(windowSize >= Self.tailSize, "windowSize", "\(windowSize)", "must be >= \(Self.tailSize)")
        try check(mistakePrice >= 0 && mistakePrice.isFinite, "mistakePrice", "\(mistakePrice)", "must be >= 0")
        try check(initialTimeout > .zero, "initialTimeout", "\(initialTimeout)", "must be > 0")
        self.windowSize = windowSize
        self.mistakePrice = mistakePrice
        self.initialTimeout = initialTimeout
        self.timeout = initialTimeout.seconds
    }

    /// "adaptive" with its window and price, e.g. "adaptive n=1000 price 30s".
    public var name: String { "adaptive n=\(windowSize) price \(mistakePrice)s" }

    /// Adds the gap since the last heartbeat to the window and chooses the next timeout.
    public mutating func heartbeat(at now: Instant) {
        if let last = lastHeartbeat {
            if now < last { return }
            add((now - last).seconds)
        }
        lastHeartbeat = now
        timeout = chooseTimeout()
    }

    private mutating func add(_ gap: Double) {
        seen += 1
        if record.count < Self.tailSize || gap > record[0] {
            record.insert(gap, at: Self.insertionPoint(of: gap, in: record))
            if record.count > Self.tailSize { record.removeFirst() }
        }
        if ring.count < windowSize {
            ring.append(gap)
        } else {
            let old = ring[oldest]
            ring[oldest] = gap
            oldest = (oldest + 1) % windowSize
            sorted.remove(at: Self.index(of: old, in: sorted))
        }
        sorted.insert(gap, at: Self.insertionPoint(of: gap, in: sorted))
    }

    /// The timeout minimising τ + price·S(τ) over the candidates: just past each of the largest
    /// gaps (the empirical survival steps there) and the best point of the fitted tail.
    private func chooseTimeout() -> Double {
        let n = sorted.count
        guard n >= Self.minimumGaps else {
            return max(initialTimeout.seconds, 3 * (sorted.last ?? 0))
        }
        let k = min(Self.tailSize, n / 2)
        let threshold = sorted[n - 1 - k]
        // The exponential tail over the threshold: the mean excess of the k largest gaps.
        var excess = 0.0
        for gap in sorted[(n - k)...] { excess += gap - threshold }
        // Sixteen gaps cannot show a tail lighter than a tenth of the median gap: that is its floor.
        let floor = Self.tailFloor * sorted[n / 2]
        let beta = max(excess / Double(k), floor, 1e-9)
        // Beyond the window's tail, the record of the largest gaps ever seen counts too, at its
        // own frequency (its gaps over all those seen): the survival is the larger of the two.
        let recordBeta = max((record.last ?? 0) - (record.first ?? 0), beta)
        func survival(_ t: Double) -> Double {
            let window = t <= threshold ? Double(n - Self.insertionPoint(of: t, in: sorted)) / Double(n)
                : Double(k) / Double(n) * exp(-(t - threshold) / beta)
            let longRun = t <= record.last ?? 0
                ? Double(record.count - Self.insertionPoint(of: t, in: record)) / Double(seen)
                : Double(1) / Double(seen) * max(exp(-(t - (record.last ?? 0)) / recordBeta), pow((record.last ?? 0) / t, Self.priorShape))
            return max(window, longRun)
        }
        // The bulk: just past each gap from the median up (the cost only drops at a step).
        let epsilon = 1e-9
        var best = threshold + epsilon
        var bestCost = best + mistakePrice * survival(best)
        for i in (n / 2)..<(n - k) where sorted[i + 1] != sorted[i] {
            let t = sorted[i] + epsilon
            let cost = t + mistakePrice * Double(n - 1 - i) / Double(n)
            if cost < bestCost { (best, bestCost) = (t, cost) }
        }
        // The tail: the stationary point of t + price·(k/n)·e^(−(t−u)/β), where it lies past u,
        // and just past each recorded gap and the record's own stationary point.
        var candidates: [Double] = []
        let lead = mistakePrice * Double(k) / (Double(n) * beta)
        if lead > 1 { candidates.append(threshold + beta * log(lead)) }
        for gap in record { candidates.append(gap + epsilon) }
        // Past the largest gap ever seen: an exponential tail as wide as the record's spread.
        if let top = record.last {
            let recordLead = mistakePrice / (Double(seen) * recordBeta)
            if recordLead > 1 { candidates.append(top + recordBeta * log(recordLead)) }
            // The power-law prior's stationary point: t = (a·price·top^a / seen)^(1/(a+1)).
            let a = Self.priorShape
            let t = pow(a * mistakePrice * pow(top, a) / Double(seen), 1 / (a + 1))
            if t > top { candidates.append(t) }
        }
        for t in candidates {
            let cost = t + mistakePrice * survival(t)
            if cost < bestCost { (best, bestCost) = (t, cost) }
        }
        return best
    }

    static func insertionPoint(of value: Double, in sorted: [Double], upper: Bool = false) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value || (upper && sorted[mid] == value) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    static func index(of value: Double, in sorted: [Double]) -> Int {
        let i = insertionPoint(of: value, in: sorted)
        return i < sorted.count ? i : sorted.count - 1
    }

    /// The last heartbeat plus the chosen timeout.
    public func deadline(after now: Instant) -> Instant {
        guard let last = lastHeartbeat else { return .distantFuture }
        return max(now, last + .seconds(timeout))
    }

    /// Time since the last heartbeat over the timeout.
    public func suspicion(at now: Instant) -> Double {
        guard let last = lastHeartbeat else { return 0 }
        return DetectorMath.timeoutFraction(last: last, deadline: last + .seconds(timeout), now: now)
    }
}
