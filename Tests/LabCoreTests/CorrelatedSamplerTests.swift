import LabCore
import Testing

@Suite("CorrelatedSampler")
struct CorrelatedSamplerTests {
    @Test("marginal law still passes KS at correlation 0.8", arguments: [
        Distribution.paretoNormal(mean: 0.1, standardDeviation: 0.03),
        .pareto(scale: 0.02, shape: 2.5),
        .uniform(lower: 0.01, upper: 0.05),
    ])
    func marginalIsExact(distribution: Distribution) throws {
        var sampler = try CorrelatedSampler(distribution: distribution, correlation: 0.8)
        var rng = SeededGenerator(seed: 31, stream: [4])
        // KS assumes independent samples: keep every 20th draw (lag-20 correlation 0.8^20 ≈ 0.012).
        let thinning = 20
        let n = 20_000
        var samples: [Double] = []
        samples.reserveCapacity(n)
        for i in 0..<(n * thinning) {
            let value = sampler.next(using: &rng)
            if i % thinning == 0 { samples.append(value) }
        }
        let d = RandomTestSupport.ksStatistic(samples, cdf: distribution.cdf)
        #expect(d < RandomTestSupport.ksCritical1Percent(n), "D = \(d)")
    }

    @Test("lag-1 correlation of the normal scores is about rho", arguments: [0.3, 0.8, 0.95])
    func lag1Correlation(rho: Double) throws {
        let law = Distribution.lognormal(mu: -3, sigma: 0.5)
        var sampler = try CorrelatedSampler(distribution: law, correlation: rho)
        var rng = SeededGenerator(seed: 5)
        let scores = (0..<20_000).map { _ in standardNormalQuantile(law.cdf(sampler.next(using: &rng))) }
        #expect(abs(RandomTestSupport.lag1Correlation(scores) - rho) < 0.03)
        #expect(abs(RandomTestSupport.mean(scores)) < 0.15)
    }

    @Test("correlation 0 gives exactly the independent draws")
    func zeroCorrelationIsIndependent() throws {
        let law = Distribution.paretoNormal(mean: 0.1, standardDeviation: 0.03)
        var sampler = try CorrelatedSampler(distribution: law, correlation: 0)
        var a = SeededGenerator(seed: 8)
        var b = SeededGenerator(seed: 8)
        let correlated = (0..<1000).map { _ in sampler.next(using: &a) }
        let independent = (0..<1000).map { _ in law.sample(using: &b) }
        #expect(correlated == independent)
        #expect(abs(RandomTestSupport.lag1Correlation(correlated)) < 0.1)
    }

    @Test("the first draw is the law's quantile of the same uniform", arguments: RandomTestSupport.allDistributions)
    func firstDrawHasExactMarginal(distribution: Distribution) throws {
        // z₀ = Φ⁻¹(u) and value = quantile(Φ(z₀)) = quantile(u): the normal-score path agrees with
        // plain inversion up to rounding, in both tails too.
        for seed in UInt64(0)..<200 {
            var sampler = try CorrelatedSampler(distribution: distribution, correlation: 0.6)
            var rng = SeededGenerator(seed: seed)
            var plain = rng
            let correlated = sampler.next(using: &rng)
            let independent = distribution.sample(using: &plain)
            #expect(RandomTestSupport.relativelyClose(correlated, independent, 1e-10), "seed \(seed)")
        }
    }

    @Test("one 64-bit draw per value and deterministic")
    func drawCount() throws {
        let fresh = try CorrelatedSampler(distribution: .normal(mean: 0, standardDeviation: 1), correlation: 0.5)
        var sampler = fresh
        var rng = SeededGenerator(seed: 10)
        var counter = rng
        let first = (0..<100).map { _ in sampler.next(using: &rng) }
        for _ in 0..<100 { _ = counter.next() }
        #expect(rng == counter)

        var replay = fresh
        var replayRng = SeededGenerator(seed: 10)
        #expect((0..<100).map { _ in replay.next(using: &replayRng) } == first)
    }

    @Test("rejects correlations outside [0, 1) and invalid laws")
    func rejects() {
        for rho in [1.0, -0.1, 1.5, .nan, .infinity] {
            let error = #expect(throws: DistributionError.self) {
                try CorrelatedSampler(distribution: .constant(1), correlation: rho)
            }
            #expect(error?.message.hasPrefix("correlation must be in [0, 1)") == true)
        }
        let error = #expect(throws: DistributionError.self) {
            try CorrelatedSampler(distribution: .lognormal(mu: 0, sigma: 0), correlation: 0.5)
        }
        #expect(error?.message.hasPrefix("sigma") == true)
    }
}
