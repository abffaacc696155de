import LabCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Statistics helpers for the randomness tests (namespaced to stay out of other tests' way).
enum RandomTestSupport {
    /// Every distribution family, with parameters typical of RTTs in seconds.
    static let allDistributions: [Distribution] = [
        .constant(0.25),
        .uniform(lower: 0.010, upper: 0.050),
        .normal(mean: 0.100, standardDeviation: 0.020),
        .lognormal(mu: log(0.040), sigma: 0.6),
        .pareto(scale: 0.020, shape: 2.5),
        .paretoNormal(mean: 0.100, standardDeviation: 0.030),
        .empirical(try! EmpiricalSamples([0.031, 0.029, 0.040, 0.040, 0.040, 0.035, 0.120, 0.033, 0.047, 0.029, 0.300])),
    ]

    /// One-sample Kolmogorov–Smirnov statistic D = sup |F_n(x) - F(x)|, evaluated at every distinct
    /// sample value from both sides, so laws with atoms (constant, tied empirical samples) work too.
    static func ksStatistic(_ samples: [Double], cdf: (Double) -> Double) -> Double {
        let sorted = samples.sorted()
        let n = Double(sorted.count)
        var d = 0.0
        var i = 0
        while i < sorted.count {
            let x = sorted[i]
            var j = i
            while j < sorted.count, sorted[j] == x { j += 1 }
            d = max(d, abs(Double(j) / n - cdf(x)), abs(Double(i) / n - cdf(x.nextDown)))
            i = j
        }
        return d
    }

    /// The 1% critical value of the one-sample KS statistic for large n.
    static func ksCritical1Percent(_ n: Int) -> Double {
        1.63 / Double(n).squareRoot()
    }

    /// Sample mean.
    static func mean(_ values: [Double]) -> Double {
        values.reduce(0, +) / Double(values.count)
    }

    /// Sample variance (n - 1 denominator).
    static func variance(_ values: [Double]) -> Double {
        let m = mean(values)
        return values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)
    }

    /// Lag-1 sample autocorrelation.
    static func lag1Correlation(_ values: [Double]) -> Double {
        let m = mean(values)
        var numerator = 0.0
        var denominator = 0.0
        for i in values.indices {
            let d = values[i] - m
            denominator += d * d
            if i > 0 { numerator += d * (values[i - 1] - m) }
        }
        return numerator / denominator
    }

    /// |a - b| <= tolerance · max(|a|, |b|).
    static func relativelyClose(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool {
        abs(a - b) <= tolerance * max(abs(a), abs(b))
    }
}
