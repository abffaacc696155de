import LabCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Standard normal functions")
struct NormalFunctionTests {
    // Reference values computed once with mpmath at 50 digits (ncdf, and its root in log scale for
    // the quantile at the exact double p), rounded to 17 significant digits.
    @Test("quantile matches reference values to 1e-13 relative", arguments: [
        (1e-300, -37.047096299361199),
        (1e-10, -6.3613409024040562),
        (0.001, -3.0902323061678135),
        (0.02425, -1.9729610513118848),
        (0.1, -1.2815515655446004),
        (0.3, -0.52440051270804082),
        (0.7, 0.52440051270804066),
        (0.975, 1.9599639845400539),
        (0.99, 2.3263478740408408),
        (0.999999, 4.7534243088170878),
    ])
    func quantileReference(p: Double, expected: Double) {
        #expect(RandomTestSupport.relativelyClose(standardNormalQuantile(p), expected, 1e-13))
    }

    @Test("scaled(by:) multiplies every quantile by the factor, for every family")
    func scaledMultipliesQuantiles() throws {
        let laws: [Distribution] = [
            .constant(2), .uniform(lower: 1, upper: 3), .normal(mean: 5, standardDeviation: 1), .lognormal(mu: 0.3, sigma: 0.8),
            .pareto(scale: 2, shape: 1.5), .paretoNormal(mean: 4, standardDeviation: 2), .empirical(try EmpiricalSamples([1, 2, 4, 8])),
        ]
        for law in laws {
            let scaled = law.scaled(by: 0.25)
            for p in [0.01, 0.25, 0.5, 0.9, 0.99] {
                let want = law.quantile(p) * 0.25
                #expect(abs(scaled.quantile(p) - want) <= 1e-9 * max(1, abs(want)), "\(law) at \(p): \(scaled.quantile(p)) vs \(want)")
            }
            #expect(law.scaled(by: 1) == law)
        }
    }

    @Test("quantile edge cases")
    func quantileEdges() {
        #expect(standardNormalQuantile(0.5) == 0)
        #expect(standardNormalQuantile(0) == -.infinity)
        #expect(standardNormalQuantile(1) == .infinity)
        #expect(standardNormalQuantile(-0.1).isNaN)
        #expect(standardNormalQuantile(1.1).isNaN)
        #expect(standardNormalQuantile(.nan).isNaN)
    }

    @Test("cdf matches reference values and round-trips the quantile")
    func cdfReference() {
        let reference: [(Double, Double)] = [
            (-10, 7.6198530241605261e-24), (-3, 0.0013498980316300945), (-1, 0.15865525393145705),
            (0, 0.5), (0.5, 0.6914624612740131), (2, 0.97724986805182079),
        ]
        for (x, expected) in reference {
            #expect(RandomTestSupport.relativelyClose(standardNormalCDF(x), expected, 1e-14))
        }
        var worst = 0.0
        var p = 1e-12
        while p < 0.5 {
            worst = max(worst, abs(standardNormalCDF(standardNormalQuantile(p)) - p) / p)
            p *= 1.37
        }
        #expect(worst < 1e-13)
    }
}

@Suite("Distribution")
struct DistributionTests {
    @Test("KS: 20,000 samples match the law's own cdf at the 1% level", arguments: RandomTestSupport.allDistributions)
    func kolmogorovSmirnov(distribution: Distribution) throws {
        try distribution.validate()
        var rng = SeededGenerator(seed: 20_240_601)
        let n = 20_000
        let samples = (0..<n).map { _ in distribution.sample(using: &rng) }
        let d = RandomTestSupport.ksStatistic(samples, cdf: distribution.cdf)
        #expect(d < RandomTestSupport.ksCritical1Percent(n), "D = \(d)")
    }

    @Test("KS negative control: normal samples against a lognormal cdf are rejected")
    func ksRejectsWrongLaw() {
        let truth = Distribution.normal(mean: 0.040, standardDeviation: 0.010)
        let wrong = Distribution.lognormal(mu: log(0.040), sigma: 0.25)
        var rng = SeededGenerator(seed: 1)
        let samples = (0..<20_000).map { _ in truth.sample(using: &rng) }
        let d = RandomTestSupport.ksStatistic(samples, cdf: wrong.cdf)
        #expect(d > RandomTestSupport.ksCritical1Percent(samples.count), "D = \(d)")
    }

    @Test("KS negative control: uniform samples against a shifted uniform are rejected")
    func ksRejectsShiftedUniform() {
        let truth = Distribution.uniform(lower: 0, upper: 1)
        let shifted = Distribution.uniform(lower: 0.05, upper: 1.05)
        var rng = SeededGenerator(seed: 2)
        let samples = (0..<20_000).map { _ in truth.sample(using: &rng) }
        let d = RandomTestSupport.ksStatistic(samples, cdf: shifted.cdf)
        #expect(d > RandomTestSupport.ksCritical1Percent(samples.count), "D = \(d)")
    }

    @Test("sample means agree with mean", arguments: RandomTestSupport.allDistributions)
    func sampleMean(distribution: Distribution) throws {
        let mean = try #require(distribution.mean)
        var rng = SeededGenerator(seed: 77)
        let samples = (0..<40_000).map { _ in distribution.sample(using: &rng) }
        let standardError = (RandomTestSupport.variance(samples) / Double(samples.count)).squareRoot()
        #expect(abs(RandomTestSupport.mean(samples) - mean) <= 5 * standardError + 1e-12)
    }

    @Test("mean values")
    func meanValues() throws {
        #expect(Distribution.constant(3).mean == 3)
        #expect(Distribution.uniform(lower: 1, upper: 3).mean == 2)
        #expect(Distribution.normal(mean: 5, standardDeviation: 2).mean == 5)
        let lognormal = try #require(Distribution.lognormal(mu: 0, sigma: 1).mean)
        #expect(RandomTestSupport.relativelyClose(lognormal, exp(0.5), 1e-15))
        #expect(Distribution.pareto(scale: 2, shape: 3).mean == 3)
        #expect(Distribution.pareto(scale: 2, shape: 1).mean == nil)
        #expect(Distribution.lognormal(mu: 0, sigma: 40).mean == nil)
        // Pareto-normal: the capped Pareto part has a slightly negative mean (netem's table: -0.0253).
        let unit = try #require(Distribution.paretoNormal(mean: 0, standardDeviation: 1).mean)
        #expect(abs(unit - -0.0247) < 0.0005)
        // The interpolated law's mean is the trapezoid average of the order statistics.
        #expect(Distribution.empirical(try EmpiricalSamples([1, 2, 6])).mean == 2.75)
        #expect(Distribution.empirical(try EmpiricalSamples([4])).mean == 4)
    }

    @Test("lognormal(median:p99:) reproduces its median and p99")
    func lognormalFromPercentiles() throws {
        for (median, p99) in [(0.040, 0.250), (1.0, 1.001), (120.0, 9000.0)] {
            let law = try Distribution.lognormal(median: median, p99: p99)
            #expect(RandomTestSupport.relativelyClose(law.quantile(0.5), median, 1e-9))
            #expect(RandomTestSupport.relativelyClose(law.quantile(0.99), p99, 1e-9))
            #expect(abs(law.cdf(median) - 0.5) < 1e-12)
            #expect(abs(law.cdf(p99) - 0.99) < 1e-12)
        }
    }

    @Test("quantile(cdf(x)) and cdf(quantile(p)) round-trip", arguments: RandomTestSupport.allDistributions)
    func roundTrip(distribution: Distribution) {
        if case .constant = distribution { return }
        for p in [0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999] {
            let x = distribution.quantile(p)
            #expect(RandomTestSupport.relativelyClose(distribution.quantile(distribution.cdf(x)), x, 1e-9), "p = \(p)")
            if case .empirical = distribution { continue }  // atoms at tied samples
            #expect(abs(distribution.cdf(x) - p) < 1e-12 * max(1, p / (1 - p)) + 1e-13, "p = \(p)")
        }
    }

    @Test("quantile ends and bad probabilities")
    func quantileEnds() throws {
        #expect(Distribution.uniform(lower: 1, upper: 2).quantile(0) == 1)
        #expect(Distribution.uniform(lower: 1, upper: 2).quantile(1) == 2)
        #expect(Distribution.normal(mean: 0, standardDeviation: 1).quantile(1) == .infinity)
        #expect(Distribution.normal(mean: 3, standardDeviation: 0).quantile(0.9) == 3)
        #expect(Distribution.pareto(scale: 2, shape: 1).quantile(0) == 2)
        #expect(Distribution.lognormal(mu: 0, sigma: 1).quantile(0) == 0)
        #expect(Distribution.normal(mean: 0, standardDeviation: 1).quantile(1.5).isNaN)
        #expect(Distribution.constant(1).quantile(.nan).isNaN)
        let empirical = Distribution.empirical(try EmpiricalSamples([5, 1, 3]))
        #expect(empirical.quantile(0) == 1)
        #expect(empirical.quantile(0.25) == 2)
        #expect(empirical.quantile(1) == 5)
        #expect(empirical.cdf(4) == 0.75)
        let single = Distribution.empirical(try EmpiricalSamples([7]))
        #expect(single.quantile(0.3) == 7)
        #expect(single.cdf(6.9) == 0 && single.cdf(7) == 1)
    }

    @Test("paretoNormal reproduces netem's paretonormal table")
    func paretoNormalMatchesNetemTable() {
        // Entries k of the 4096-entry table iproute2 generates (netem/paretonormal.c), as installed
        // in /usr/lib/x86_64-linux-gnu/tc/paretonormal.dist; units of 1/8192 (NETEM_DIST_SCALE).
        // netem picks entry k with probability 1/4096, i.e. entry k is the quantile at p = k/4096.
        let table: [Int: Double] = [
            64: -8462, 256: -7059, 1024: -4652, 2048: -1966,
            3072: 2097, 3584: 6451, 3900: 13689, 4000: 20408,
        ]
        let unit = Distribution.paretoNormal(mean: 0, standardDeviation: 1)
        for (k, entry) in table {
            #expect(abs(unit.quantile(Double(k) / 4096) - entry / 8192) < 4e-4, "k = \(k)")
        }
        // Scaled like netem's tabledist: delay = mean + jitter * entry / 8192.
        let law = Distribution.paretoNormal(mean: 0.1, standardDeviation: 0.02)
        #expect(abs(law.quantile(2048.0 / 4096) - (0.1 + 0.02 * -1966 / 8192)) < 4e-4 * 0.02)
        // The Pareto part is capped at 32767/8192 as in the table, so the right tail is short.
        #expect(abs(unit.quantile(0.9999) - (0.25 * standardNormalQuantile(0.9999) + 0.75 * 32767 / 8192)) < 1e-12)
    }

    @Test("sampling is deterministic per seed")
    func deterministic() {
        let law = Distribution.paretoNormal(mean: 0.1, standardDeviation: 0.02)
        var a = SeededGenerator(seed: 9, stream: [1, 2])
        var b = SeededGenerator(seed: 9, stream: [1, 2])
        #expect((0..<100).map { _ in law.sample(using: &a) } == (0..<100).map { _ in law.sample(using: &b) })
    }

    @Test("validate accepts good parameters", arguments: RandomTestSupport.allDistributions)
    func validateAccepts(distribution: Distribution) throws {
        try distribution.validate()
    }

    @Test("validate names the parameter and the reason")
    func validateMessage() {
        #expect(throws: DistributionError("standardDeviation must be >= 0, got -1")) {
            try Distribution.normal(mean: 0, standardDeviation: -1).validate()
        }
        #expect(DistributionError("x").description == "x")
    }

    @Test("validate rejects bad parameters", arguments: [
        (Distribution.normal(mean: 0, standardDeviation: -1), "standardDeviation"),
        (.normal(mean: .nan, standardDeviation: 1), "mean"),
        (.normal(mean: 0, standardDeviation: .infinity), "standardDeviation"),
        (.paretoNormal(mean: 0.1, standardDeviation: -0.5), "standardDeviation"),
        (.paretoNormal(mean: -.infinity, standardDeviation: 0.5), "mean"),
        (.lognormal(mu: 0, sigma: 0), "sigma"),
        (.lognormal(mu: 0, sigma: -1), "sigma"),
        (.lognormal(mu: .nan, sigma: 1), "mu"),
        (.lognormal(mu: 0, sigma: .nan), "sigma"),
        (.uniform(lower: 2, upper: 1), "upper"),
        (.uniform(lower: .nan, upper: 1), "lower"),
        (.uniform(lower: 0, upper: .infinity), "upper"),
        (.uniform(lower: -1e308, upper: 1e308), "upper - lower"),
        (.pareto(scale: 1, shape: 0), "shape"),
        (.pareto(scale: 1, shape: -2), "shape"),
        (.pareto(scale: 0, shape: 2), "scale"),
        (.pareto(scale: 1, shape: .nan), "shape"),
        (.constant(.nan), "value"),
        (.constant(.infinity), "value"),
    ])
    func validateRejects(distribution: Distribution, parameter: String) {
        let error = #expect(throws: DistributionError.self) { try distribution.validate() }
        #expect(error?.message.hasPrefix(parameter + " must") == true, "\(error?.message ?? "no error")")
    }

    @Test("empirical samples reject empty and non-finite input")
    func empiricalRejects() {
        let empty = #expect(throws: DistributionError.self) { try EmpiricalSamples([]) }
        #expect(empty?.message.contains("samples") == true)
        let nan = #expect(throws: DistributionError.self) { try EmpiricalSamples([1, .nan, 3]) }
        #expect(nan?.message == "samples must be finite numbers, got nan at index 1")
        #expect(throws: DistributionError.self) { try EmpiricalSamples([1, .infinity]) }
        #expect((try? EmpiricalSamples([3, 1, 2]))?.sorted == [1, 2, 3])
    }

    @Test("lognormal(median:p99:) rejects bad percentiles")
    func lognormalFromPercentilesRejects() {
        let cases: [(Double, Double, String)] = [
            (0.05, 0.05, "p99"), (0.05, 0.01, "p99"), (0, 1, "median"), (-1, 1, "median"),
            (.nan, 1, "median"), (1, .infinity, "p99"), (1e-300, 1e300, "sigma"),
        ]
        for (median, p99, parameter) in cases {
            let error = #expect(throws: DistributionError.self) { try Distribution.lognormal(median: median, p99: p99) }
            #expect(error?.message.hasPrefix(parameter) == true, "\(error?.message ?? "no error")")
        }
        let message = #expect(throws: DistributionError.self) { try Distribution.lognormal(median: 0.05, p99: 0.01) }
        #expect(message?.message == "p99 must be > median (0.05), got 0.01")
    }
}
