import Foundation
import LabCore

/// A generalized Pareto distribution of excesses over a threshold: P(Y > y) = (1 + ξy/σ)^(−1/ξ),
/// the law that the tail of almost any distribution approaches (Pickands–Balkema–de Haan), so a
/// fit of the largest samples estimates quantiles beyond the largest one seen.
public struct GeneralizedPareto: Sendable, Hashable {
    /// The shape ξ: 0 an exponential tail, > 0 a heavy (power-law) tail, < 0 a bounded one.
    public var shape: Double
    /// The scale σ > 0, in the samples' unit.
    public var scale: Double

    /// The excess exceeded with probability `probability` (in (0, 1]).
    public func excess(exceededWith probability: Double) -> Double {
        if abs(shape) < 1e-9 { return scale * -log(probability) }
        return scale / shape * (pow(probability, -shape) - 1)
    }

    /// The maximum-likelihood fit to `excesses` (all ≥ 0, at least 3 of them, not all equal), by
    /// the profile likelihood in θ = ξ/σ (Grimshaw 1993): for each θ, ξ = mean(log(1 + θy)) and
    /// the log-likelihood is −n·log(ξ/θ) − n − n·ξ; θ is searched on a grid, then refined by golden
    /// section. Nil when the data cannot be fitted.
    public static func fit(_ excesses: [Double]) -> GeneralizedPareto? {
        let n = Double(excesses.count)
        guard excesses.count >= 3, let largest = excesses.max(), largest > 0 else { return nil }
        let mean = excesses.reduce(0, +) / n
        guard mean > 0 else { return nil }
        func xi(_ theta: Double) -> Double { excesses.reduce(0) { $0 + log1p(theta * $1) } / n }
        func profile(_ theta: Double) -> Double {
            if abs(theta) < 1e-12 / largest { return -n * log(mean) - n }
            let x = xi(theta)
            let s = x / theta
            // ξ < −1 makes the likelihood unbounded at the largest sample: not a fit.
            guard s > 0, s.isFinite, x >= -1 else { return -.infinity }
            return -n * log(s) - n - n * x
        }
        // Grid: negative θ up to just above −1/max, zero, positive θ over eight decades of 1/mean.
        var grid: [Double] = []
        for k in stride(from: 1.0, through: 15, by: 1) { grid.append(-(1 - exp(-k / 1.5)) / largest) }
        grid.append(0)
        for k in stride(from: -4.0, through: 4, by: 0.25) { grid.append(pow(10, k) / mean) }
        grid.sort()
        var bestIndex = 0
        var bestValue = -Double.infinity
        for (i, theta) in grid.enumerated() {
            let value = profile(theta)
            if value > bestValue { bestValue = value; bestIndex = i }
        }
        // Golden section between the best grid point's neighbours, one evaluation per step.
        var low = grid[max(0, bestIndex - 1)]
        var high = grid[min(grid.count - 1, bestIndex + 1)]
        let ratio = (sqrt(5.0) - 1) / 2
        var a = high - ratio * (high - low)
        var b = low + ratio * (high - low)
        var fa = profile(a)
        var fb = profile(b)
        for _ in 0..<40 {
            if fa >= fb {
                high = b; b = a; fb = fa
                a = high - ratio * (high - low); fa = profile(a)
            } else {
                low = a; a = b; fa = fb
                b = low + ratio * (high - low); fb = profile(b)
            }
        }
        let theta = (low + high) / 2
        if abs(theta) < 1e-12 / largest || profile(theta) <= profile(0) {
            return GeneralizedPareto(shape: 0, scale: mean)
        }
        let shape = xi(theta)
        let scale = shape / theta
        guard scale > 0, scale.isFinite, shape.isFinite else { return GeneralizedPareto(shape: 0, scale: mean) }
        return GeneralizedPareto(shape: shape, scale: scale)
    }
}

/// A point estimate with a two-sided interval, and whether the interval is tight enough to act on.
public struct Estimate: Sendable, Hashable {
    /// The estimate.
    public var value: Double
    /// The interval's lower end.
    public var lower: Double
    /// The interval's upper end.
    public var upper: Double
    /// How it was computed ("empirical", "tail fit", "poisson", ...).
    public var method: String
    /// Nil when the figure can be acted on; otherwise why not (too few samples, an interval wider
    /// than the estimate's own size).
    public var caveat: String?

    /// Creates an estimate.
    public init(value: Double, lower: Double, upper: Double, method: String, caveat: String? = nil) {
        self.value = value
        self.lower = lower
        self.upper = upper
        self.method = method
        self.caveat = caveat
    }

    /// Whether the interval contains `x`.
    public func contains(_ x: Double) -> Bool { lower <= x && x <= upper }

    /// Marks the estimate as not actionable when its interval is wider than `maxRelativeWidth`
    /// times the value (upper − lower over value).
    mutating func judge(maxRelativeWidth: Double) {
        guard caveat == nil else { return }
        if !(value > 0) || !((upper - lower) / value <= maxRelativeWidth) {
            caveat = "interval too wide to act on"
        }
    }
}

/// A fitted distribution of positive samples (RTTs, heartbeat gaps, stall durations): a lognormal
/// body, a generalized Pareto tail over the empirical 90th percentile, and quantiles with intervals (95 % by
/// default): order-statistic intervals where the samples reach, bootstrap intervals of the tail
/// fit beyond them.
public struct FittedDistribution: Sendable, Hashable {
    /// How many samples.
    public var count: Int
    /// The lognormal body: μ and σ of the samples' logarithms.
    public var lognormalMu: Double
    /// σ of the samples' logarithms.
    public var lognormalSigma: Double
    /// The tail threshold (the empirical 90th percentile); nil without a tail fit.
    public var threshold: Double?
    /// The fraction of samples above the threshold.
    public var exceedanceFraction: Double
    /// The tail fit; nil when there are too few samples above the threshold (fewer than 20).
    public var tail: GeneralizedPareto?
    /// The quantiles reported, in ascending level.
    public var quantiles: [QuantileEstimate]

    /// The levels reported by default.
    public static let levels = [0.5, 0.9, 0.99, 0.999, 0.9999]
    /// The fewest samples above the threshold for a tail fit.
    public static let minimumExceedances = 20

    /// Fits `samples` (non-positive and non-finite values are ignored); nil when fewer than 10 remain.
    /// The bootstrap (`resamples` resamples) draws from `seed`, so the same samples and seed give the
    /// same intervals.
    /// Intervals are two-sided at `confidence` (0.95: 95 %).
    public static func fit(_ samples: [Double], seed: UInt64, resamples: Int? = nil,
                           levels: [Double] = levels, confidence: Double = 0.95) -> FittedDistribution? {
        let sorted = samples.filter { $0 > 0 && $0.isFinite }.sorted()
        guard sorted.count >= 10 else { return nil }
        let n = sorted.count
        let logs = sorted.map(log)
        let mu = logs.reduce(0, +) / Double(n)
        let sigma = sqrt(logs.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(max(1, n - 1)))
        let tailFit = TailModel(sorted: sorted)
        var generator = SeededGenerator(seed: seed)
        // Bootstrap replicates of the tail model, for the quantiles beyond the samples' reach.
        var replicates: [TailModel] = []
        // 200 bootstrap resamples, fewer (never under 100) for very large samples, whose intervals
        // are narrow anyway: the cost is linear in the sample's size.
        let resamples = resamples ?? max(100, min(200, 4_000_000 / n))
        if tailFit.tail != nil {
            // A resample of the sorted samples is sorted already when built from its counts.
            var counts = [Int32](repeating: 0, count: n)
            var resample: [Double] = []
            resample.reserveCapacity(n)
            for _ in 0..<resamples {
                for i in 0..<n { counts[i] = 0 }
                for _ in 0..<n { counts[Int(generator.nextUnit() * Double(n)) % n] += 1 }
                resample.removeAll(keepingCapacity: true)
                for i in 0..<n where counts[i] > 0 {
                    for _ in 0..<counts[i] { resample.append(sorted[i]) }
                }
                replicates.append(TailModel(sorted: resample))
            }
        }
        let quantiles = levels.map {
            QuantileEstimate(level: $0, estimate: quantile($0, sorted: sorted, model: tailFit, replicates: replicates, confidence: confidence))
        }
        return FittedDistribution(
            count: n, lognormalMu: mu, lognormalSigma: sigma, threshold: tailFit.tail == nil ? nil : tailFit.threshold,
            exceedanceFraction: tailFit.fraction, tail: tailFit.tail, quantiles: quantiles)
    }

    /// The estimate at `level` (0 < level < 1).
    static func quantile(_ level: Double, sorted: [Double], model: TailModel, replicates: [TailModel],
                         confidence: Double) -> Estimate {
        let n = Double(sorted.count)
        // Order-statistic interval [x₍ₗ₎, x₍ᵤ₎]: the number of samples below the true quantile is
        // Binomial(n, q), so the ranks are its α/2 and 1 − α/2 points (exact for small n).
        if let (lowerRank, upperRank) = orderStatisticRanks(n: sorted.count, level: level, confidence: confidence) {
            let point = sorted[min(sorted.count - 1, max(0, Int((n * level).rounded(.up)) - 1))]
            let lower = lowerRank >= 1 ? sorted[lowerRank - 1] : 0
            var estimate = Estimate(value: point, lower: lower, upper: sorted[upperRank - 1], method: "empirical")
            estimate.judge(maxRelativeWidth: 1)
            return estimate
        }
        guard let point = model.quantile(level) else {
            return Estimate(value: sorted[sorted.count - 1], lower: sorted[sorted.count - 1], upper: .infinity,
                            method: "largest sample",
                            caveat: "too few samples: \(sorted.count), of which fewer than \(minimumExceedances) in the tail")
        }
        let values = replicates.compactMap { $0.quantile(level) }.filter(\.isFinite).sorted()
        guard values.count >= max(20, replicates.count / 2) else {
            return Estimate(value: point, lower: point, upper: .infinity, method: "tail fit",
                            caveat: "the tail fit is unstable on these samples")
        }
        let tailProbability = (1 - confidence) / 2
        let lower = values[Int(tailProbability * Double(values.count - 1))]
        let upper = values[Int(((1 - tailProbability) * Double(values.count - 1)).rounded(.up))]
        var estimate = Estimate(value: point, lower: min(lower, point), upper: max(upper, point), method: "tail fit")
        estimate.judge(maxRelativeWidth: 1)
        return estimate
    }
}

/// The 1-based ranks l and u with P(l ≤ X < u) ≥ `confidence` for X ~ Binomial(n, level), the
/// count of samples below the true quantile: [x₍ₗ₎, x₍ᵤ₎] then covers it. l = 0 means unbounded
/// below; nil when u would exceed n (the samples do not reach that far up).
func orderStatisticRanks(n: Int, level: Double, confidence: Double) -> (Int, Int)? {
    let alpha = (1 - confidence) / 2
    if n > 5000 {
        let z = standardNormalQuantile(1 - alpha)
        let mean = Double(n) * level
        let spread = z * sqrt(mean * (1 - level))
        let lower = max(0, Int((mean - spread).rounded(.down)))
        let upper = Int((mean + spread).rounded(.up)) + 1
        return upper <= n ? (lower, upper) : nil
    }
    // pmf in log space, then the cumulative distribution.
    let logQ = log(level), logP = log1p(-level)
    var cumulative = [Double](repeating: 0, count: n + 1)
    var total = 0.0
    let lgammaN = logGamma(Double(n) + 1)
    for k in 0...n {
        let logPmf = lgammaN - logGamma(Double(k) + 1) - logGamma(Double(n - k) + 1) + Double(k) * logQ + Double(n - k) * logP
        total += exp(logPmf)
        cumulative[k] = total
    }
    // l: the largest with P(X < l) = P(X ≤ l − 1) ≤ α; u: the smallest with P(X ≥ u) ≤ α.
    var lower = 0
    while lower + 1 <= n, cumulative[lower] <= alpha { lower += 1 }
    var upper = n + 1
    while upper - 1 >= 1, 1 - cumulative[upper - 2] <= alpha { upper -= 1 }
    return upper <= n ? (lower, upper) : nil
}

/// One quantile of a fitted distribution.
public struct QuantileEstimate: Sendable, Hashable {
    /// The level, e.g. 0.999.
    public var level: Double
    /// The estimate at it.
    public var estimate: Estimate
}

/// The threshold, exceedance fraction and GPD fit of one sorted sample.
struct TailModel: Sendable, Hashable {
    var threshold: Double
    var fraction: Double
    var tail: GeneralizedPareto?

    init(sorted: [Double]) {
        let n = sorted.count
        let index = min(n - 1, Int((0.9 * Double(n)).rounded(.down)))
        let u = sorted[index]
        threshold = u
        let excesses = sorted[(index + 1)...].map { $0 - u }.filter { $0 > 0 }
        fraction = Double(excesses.count) / Double(n)
        tail = excesses.count >= FittedDistribution.minimumExceedances ? GeneralizedPareto.fit(excesses) : nil
    }

    /// The tail model's quantile at `level`, for levels beyond the threshold's.
    func quantile(_ level: Double) -> Double? {
        guard let tail, fraction > 0, 1 - level < fraction else { return nil }
        return threshold + tail.excess(exceededWith: (1 - level) / fraction)
    }
}

/// A rate of events over an exposure, with its exact (Garwood) Poisson interval.
public enum PoissonRate {
    /// `events` over `exposure` (e.g. connection-hours): the rate and its interval at `confidence`.
    public static func estimate(events: Int, exposure: Double, unit: String, confidence: Double = 0.95) -> Estimate {
        guard exposure > 0 else {
            return Estimate(value: 0, lower: 0, upper: .infinity, method: "poisson", caveat: "no exposure to judge")
        }
        let k = Double(events)
        let tail = (1 - confidence) / 2
        let lower = events == 0 ? 0 : chiSquareQuantile(tail, degrees: 2 * k) / 2
        let upper = chiSquareQuantile(1 - tail, degrees: 2 * k + 2) / 2
        var estimate = Estimate(value: k / exposure, lower: lower / exposure, upper: upper / exposure, method: "poisson per \(unit)")
        if events < 5 { estimate.caveat = "only \(events) episode\(events == 1 ? "" : "s"): the rate is bounded, not known" }
        return estimate
    }

    /// The chi-square quantile for even degrees of freedom 2m (all a Poisson interval needs),
    /// exactly: P(χ²₂ₘ ≤ x) = 1 − Σⱼ<ₘ e^(−x/2)(x/2)ʲ/j!, inverted by bisection.
    static func chiSquareQuantile(_ p: Double, degrees: Double) -> Double {
        let m = max(1, Int((degrees / 2).rounded()))
        func cdf(_ x: Double) -> Double {
            let half = x / 2
            var term = exp(-half)
            var sum = term
            if m > 1 {
                for j in 1..<m {
                    term *= half / Double(j)
                    sum += term
                }
            }
            return 1 - sum
        }
        var low = 0.0
        var high = max(10.0, 4 * Double(2 * m))
        while cdf(high) < p { high *= 2 }
        for _ in 0..<100 {
            let mid = (low + high) / 2
            if cdf(mid) < p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }
}

/// log Γ(x) for x > 0 (the C library's reentrant lgamma).
func logGamma(_ x: Double) -> Double {
    var sign: Int32 = 0
    return lgamma_r(x, &sign)
}
