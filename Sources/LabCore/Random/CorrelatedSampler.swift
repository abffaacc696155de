/// Draws from a distribution with correlation between successive draws while keeping the marginal
/// law exact: a Gaussian copula whose normal score follows a stationary AR(1),
/// z_t = ρ·z_{t-1} + √(1-ρ²)·e_t, and value_t = quantile(Φ(z_t)).
///
/// This is Flatline's counterpart of netem's delay correlation, without netem's distortion of the
/// marginal law. The first draw takes z_0 = e_0, so every draw (not just late ones) has the exact
/// marginal; the lag-k correlation of the normal scores is ρ^k. Each draw consumes exactly one
/// 64-bit value, and with ρ = 0 the draws are bit-for-bit `distribution.sample(using:)`.
public struct CorrelatedSampler: Sendable, Hashable {
    /// The marginal law of every draw.
    public let distribution: Distribution
    /// The lag-1 correlation ρ of the normal scores, in [0, 1).
    public let correlation: Double
    /// The previous normal score, nil before the first draw.
    private var lastScore: Double?

    /// Validates `distribution` and requires `correlation` in [0, 1); the error names the parameter.
    public init(distribution: Distribution, correlation: Double) throws(DistributionError) {
        try distribution.validate()
        guard correlation >= 0, correlation < 1 else {
            throw DistributionError("correlation must be in [0, 1), got \(formatParameter(correlation))")
        }
        self.distribution = distribution
        self.correlation = correlation
        self.lastScore = nil
    }

    /// The next value of the correlated sequence, drawing its innovation from `rng`.
    public mutating func next(using rng: inout SeededGenerator) -> Double {
        if correlation == 0 {
            return distribution.sample(using: &rng)
        }
        let innovation = rng.nextNormal()
        let score: Double
        if let previous = lastScore {
            score = correlation * previous + (1 - correlation * correlation).squareRoot() * innovation
        } else {
            score = innovation
        }
        lastScore = score
        return distribution.quantile(normalScore: score)
    }
}
