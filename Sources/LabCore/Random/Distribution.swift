#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A probability law for latencies, jitter, stall lengths and the like: a plain value with an
/// exact quantile (inverse CDF), CDF and mean, sampled by inversion from a `SeededGenerator`.
///
/// Sampling by inversion (one uniform per value) keeps every draw reproducible and lets
/// `CorrelatedSampler` correlate any law through its normal score. Units are the caller's
/// (a latency condition's distribution is over nanoseconds).
public enum Distribution: Sendable, Hashable {
    /// Always the same value.
    case constant(Double)
    /// Uniform on [lower, upper]; lower == upper is the constant law.
    case uniform(lower: Double, upper: Double)
    /// Gaussian with the given mean and standard deviation (0 is the constant law).
    case normal(mean: Double, standardDeviation: Double)
    /// exp(mu + sigma·Z): median e^mu, a common fit for network round-trip times.
    case lognormal(mu: Double, sigma: Double)
    /// Classical Pareto type I: P(X > x) = (scale/x)^shape for x >= scale; heavy-tailed.
    case pareto(scale: Double, shape: Double)
    /// Linux netem's "paretonormal" delay law, `delay mean jitter distribution paretonormal`.
    ///
    /// netem's `tabledist` returns `mean + jitter·T/8192` (8192 = NETEM_DIST_SCALE), where T is a
    /// uniformly chosen entry of the 4096-entry table written by iproute2's `netem/paretonormal.c`
    /// (from NIST Net). Entry k mixes a normal and a Pareto(scale 1, shape 3) quantile at the same
    /// probability q = k/4096: T/8192 = (normal + 3·pareto)/4, the Pareto part centred on its mean 1.5
    /// and scaled by 4/3. As a closed form in one uniform p that is the quantile
    ///
    ///     x(p) = mean + standardDeviation · [ 0.25·Φ⁻¹(p) + 0.75·min(4/3·((1-p)^(-1/3) - 1.5), 32767/8192) ]
    ///
    /// where the cap is the int16 limit to which the generator clips the Pareto part (it bites for
    /// p > 0.989). x(k/4096) matches the table shipped with iproute2 to 3e-4·jitter except in the
    /// outermost 2% of cells, where the generator's normal part, taken half a cell (1/32768) higher,
    /// is steep (at most 0.009·jitter there); the table's
    /// quantisation (4096 cells, 1/8192 resolution) is deliberately not reproduced. As in netem,
    /// `standardDeviation` is the jitter scale, not the exact standard deviation of the law. The left
    /// tail is a quarter-scale normal tail (the Pareto part is bounded below by -2/3), the right tail
    /// the capped Pareto plus a quarter-scale normal.
    case paretoNormal(mean: Double, standardDeviation: Double)
    /// The empirical law of measured samples (quantile by linear interpolation).
    case empirical(EmpiricalSamples)

    /// A lognormal law with the given median and 99th percentile: mu = ln(median),
    /// sigma = ln(p99/median)/Φ⁻¹(0.99). The natural way to state "RTT about 40 ms, 99% under 250 ms".
    public static func lognormal(median: Double, p99: Double) throws(DistributionError) -> Distribution {
        try requireFinite(median, "median")
        try requireFinite(p99, "p99")
        guard median > 0 else {
            throw DistributionError("median must be > 0, got \(formatParameter(median))")
        }
        guard p99 > median else {
            throw DistributionError(
                "p99 must be > median (\(formatParameter(median))), got \(formatParameter(p99))")
        }
        let sigma = log(p99 / median) / standardNormalQuantile(0.99)
        let distribution = Distribution.lognormal(mu: log(median), sigma: sigma)
        try distribution.validate()
        return distribution
    }

    /// Checks the parameters; the error names the parameter and the reason, e.g.
    /// "standardDeviation must be >= 0, got -1". Call it before sampling values from user input.
    public func validate() throws(DistributionError) {
        switch self {
        case .constant(let value):
            try requireFinite(value, "value")
        case .uniform(let lower, let upper):
            try requireFinite(lower, "lower")
            try requireFinite(upper, "upper")
            guard upper >= lower else {
                throw DistributionError(
                    "upper must be >= lower (\(formatParameter(lower))), got \(formatParameter(upper))")
            }
            guard (upper - lower).isFinite else {
                throw DistributionError("upper - lower must be a finite number, got \(upper - lower)")
            }
        case .normal(let mean, let standardDeviation), .paretoNormal(let mean, let standardDeviation):
            try requireFinite(mean, "mean")
            try requireFinite(standardDeviation, "standardDeviation")
            guard standardDeviation >= 0 else {
                throw DistributionError(
                    "standardDeviation must be >= 0, got \(formatParameter(standardDeviation))")
            }
        case .lognormal(let mu, let sigma):
            try requireFinite(mu, "mu")
            try requireFinite(sigma, "sigma")
            guard sigma > 0 else {
                throw DistributionError("sigma must be > 0, got \(formatParameter(sigma))")
            }
        case .pareto(let scale, let shape):
            try requireFinite(scale, "scale")
            try requireFinite(shape, "shape")
            guard scale > 0 else {
                throw DistributionError("scale must be > 0, got \(formatParameter(scale))")
            }
            guard shape > 0 else {
                throw DistributionError("shape must be > 0, got \(formatParameter(shape))")
            }
        case .empirical:
            break  // EmpiricalSamples validates on construction.
        }
    }

    /// The inverse CDF at p in (0, 1); p = 0 and p = 1 give the ends of the support (possibly
    /// infinite), p outside [0, 1] or NaN gives NaN.
    public func quantile(_ p: Double) -> Double {
        guard p >= 0, p <= 1 else { return .nan }
        switch self {
        case .constant(let value):
            return value
        case .uniform(let lower, let upper):
            return lower + p * (upper - lower)
        case .normal(let mean, let standardDeviation):
            if standardDeviation == 0 { return mean }
            return mean + standardDeviation * standardNormalQuantile(p)
        case .lognormal(let mu, let sigma):
            return exp(mu + sigma * standardNormalQuantile(p))
        case .pareto(let scale, let shape):
            return scale * pow(1 - p, -1 / shape)
        case .paretoNormal(let mean, let standardDeviation):
            if standardDeviation == 0 { return mean }
            let unit = ParetoNormalTable.unitQuantile(normalScore: standardNormalQuantile(p), upperTail: 1 - p)
            return mean + standardDeviation * unit
        case .empirical(let samples):
            return samples.quantile(p)
        }
    }

    /// The cumulative distribution function P(X <= x) (right-continuous; 0 or 1 outside the support).
    public func cdf(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        switch self {
        case .constant(let value):
            return x < value ? 0 : 1
        case .uniform(let lower, let upper):
            if x < lower { return 0 }
            if x >= upper { return 1 }
            return (x - lower) / (upper - lower)
        case .normal(let mean, let standardDeviation):
            if standardDeviation == 0 { return x < mean ? 0 : 1 }
            return standardNormalCDF((x - mean) / standardDeviation)
        case .lognormal(let mu, let sigma):
            if x <= 0 { return 0 }
            return standardNormalCDF((log(x) - mu) / sigma)
        case .pareto(let scale, let shape):
            if x <= scale { return 0 }
            return 1 - pow(scale / x, shape)
        case .paretoNormal(let mean, let standardDeviation):
            if standardDeviation == 0 { return x < mean ? 0 : 1 }
            return ParetoNormalTable.unitCDF((x - mean) / standardDeviation)
        case .empirical(let samples):
            return samples.cdf(x)
        }
    }

    /// One draw by inversion, `quantile(rng.nextOpenUnit())`: exactly one 64-bit draw per value.
    public func sample(using rng: inout SeededGenerator) -> Double {
        quantile(rng.nextOpenUnit())
    }

    /// The expected value, or nil when it is infinite or undefined (Pareto with shape <= 1, or a
    /// lognormal whose mean overflows).
    public var mean: Double? {
        let value: Double
        switch self {
        case .constant(let constant):
            value = constant
        case .uniform(let lower, let upper):
            value = lower + (upper - lower) / 2
        case .normal(let mean, _):
            value = mean
        case .lognormal(let mu, let sigma):
            value = exp(mu + sigma * sigma / 2)
        case .pareto(let scale, let shape):
            guard shape > 1 else { return nil }
            value = shape * scale / (shape - 1)
        case .paretoNormal(let mean, let standardDeviation):
            value = mean + standardDeviation * ParetoNormalTable.unitMean
        case .empirical(let samples):
            value = samples.mean
        }
        return value.isFinite ? value : nil
    }

    /// The quantile at probability Φ(z), computed from the normal score z directly where that is
    /// more accurate in the tails (normal, lognormal, Pareto, pareto-normal); used by
    /// `CorrelatedSampler`. Mathematically equal to `quantile(standardNormalCDF(z))`.
    func quantile(normalScore z: Double) -> Double {
        switch self {
        case .normal(let mean, let standardDeviation):
            if standardDeviation == 0 { return mean }
            return mean + standardDeviation * z
        case .lognormal(let mu, let sigma):
            return exp(mu + sigma * z)
        case .pareto(let scale, let shape):
            return scale * pow(standardNormalCDF(-z), -1 / shape)
        case .paretoNormal(let mean, let standardDeviation):
            if standardDeviation == 0 { return mean }
            let unit = ParetoNormalTable.unitQuantile(normalScore: z, upperTail: standardNormalCDF(-z))
            return mean + standardDeviation * unit
        case .constant, .uniform, .empirical:
            return quantile(standardNormalCDF(z))
        }
    }
}

/// The standardised netem pareto-normal law (mean 0 scale 1 in netem's units): see
/// `Distribution.paretoNormal` for the formula and its source.
enum ParetoNormalTable {
    /// Weight of the normal quantile in the mix (netem: (normal + 3·pareto)/4).
    static let normalWeight = 0.25
    /// Weight of the Pareto part.
    static let paretoWeight = 0.75
    /// The Pareto part is 4/3·(Pareto(1, 3) quantile - 1.5), i.e. centred on the Pareto(1, 3) mean.
    static let paretoGain = 4.0 / 3.0
    /// The Pareto(1, 3) mean subtracted by the table generator.
    static let paretoCenter = 1.5
    /// The table generator clips the scaled Pareto part to the int16 maximum 32767 (in 1/8192 units).
    static let paretoCap = 32767.0 / 8192.0

    /// The scaled, clipped Pareto part at upper-tail probability q = 1 - p: 4/3·(q^(-1/3) - 1.5) ∧ cap.
    @inline(__always)
    static func paretoPart(upperTail q: Double) -> Double {
        min(paretoGain * (1 / cbrt(q) - paretoCenter), paretoCap)
    }

    /// 0.25·z + 0.75·paretoPart(q) for z = Φ⁻¹(p), q = 1 - p (both passed in so each can be exact).
    @inline(__always)
    static func unitQuantile(normalScore z: Double, upperTail q: Double) -> Double {
        normalWeight * z + paretoWeight * paretoPart(upperTail: q)
    }

    /// The CDF of the standardised law, by bisection on the normal score z (the quantile is strictly
    /// increasing in z), then Φ(z).
    static func unitCDF(_ t: Double) -> Double {
        if t == .infinity { return 1 }
        if t == -.infinity { return 0 }
        // The Pareto part lies in [-2/3·0.75, 0.75·cap], so 0.25·z ∈ [t - 0.75·cap, t + 0.5].
        var low = 4 * (t - paretoWeight * paretoCap)
        var high = 4 * (t + 0.5)
        for _ in 0..<200 {
            let mid = low + (high - low) / 2
            if mid <= low || mid >= high { break }
            if unitQuantile(normalScore: mid, upperTail: standardNormalCDF(-mid)) <= t {
                low = mid
            } else {
                high = mid
            }
        }
        return standardNormalCDF(low + (high - low) / 2)
    }

    /// E[T/8192] in closed form: the Pareto part's mean with the cap, 4/3·(1.5·(q* - q*^(2/3)))
    /// + cap·q*, where q* = (1.5 + 0.75·cap)^(-3) is the upper-tail mass that is capped (≈ -0.0247).
    static let unitMean: Double = {
        let cappedTail = pow(paretoCenter + paretoCap / paretoGain, -3)
        let uncappedIntegral = paretoGain * (paretoCenter * (cappedTail - pow(cappedTail, 2.0 / 3.0)))
        return paretoWeight * (uncappedIntegral + paretoCap * cappedTail)
    }()
}

extension Distribution {
    /// The law of `factor` × X for X drawn from this one (factor > 0): every quantile multiplied by
    /// `factor`, as a time-scaled run needs its durations' laws.
    public func scaled(by factor: Double) -> Distribution {
        guard factor > 0, factor != 1 else { return self }
        switch self {
        case .constant(let x): return .constant(x * factor)
        case .uniform(let lower, let upper): return .uniform(lower: lower * factor, upper: upper * factor)
        case .normal(let mean, let sd): return .normal(mean: mean * factor, standardDeviation: sd * factor)
        case .lognormal(let mu, let sigma): return .lognormal(mu: mu + log(factor), sigma: sigma)
        case .pareto(let scale, let shape): return .pareto(scale: scale * factor, shape: shape)
        case .paretoNormal(let mean, let sd): return .paretoNormal(mean: mean * factor, standardDeviation: sd * factor)
        case .empirical(let samples):
            // Finite samples times a finite positive factor stay valid.
            return (try? EmpiricalSamples(samples.sorted.map { $0 * factor })).map(Distribution.empirical) ?? self
        }
    }
}
