/// The samples of an empirical law (e.g. measured RTTs), kept sorted; the law's quantile is linear
/// interpolation between order statistics (Hyndman & Fan type 7, R's default).
///
/// Construction validates once, so an `EmpiricalSamples` value is always non-empty and finite.
public struct EmpiricalSamples: Sendable, Hashable {
    /// The samples in ascending order.
    public let sorted: [Double]

    /// Sorts `samples`; throws if there are none or any is NaN or infinite.
    public init(_ samples: [Double]) throws(DistributionError) {
        guard !samples.isEmpty else {
            throw DistributionError("samples must not be empty")
        }
        if let index = samples.firstIndex(where: { !$0.isFinite }) {
            throw DistributionError(
                "samples must be finite numbers, got \(formatParameter(samples[index])) at index \(index)")
        }
        sorted = samples.sorted()
    }

    /// Quantile by linear interpolation: with n samples, p maps to position h = p·(n-1) between
    /// order statistics ⌊h⌋ and ⌊h⌋+1.
    func quantile(_ p: Double) -> Double {
        guard p >= 0, p <= 1 else { return .nan }
        let last = sorted.count - 1
        let position = p * Double(last)
        let index = Int(position)
        if index >= last { return sorted[last] }
        let fraction = position - Double(index)
        return sorted[index] + fraction * (sorted[index + 1] - sorted[index])
    }

    /// The inverse of `quantile`: piecewise linear between order statistics (ordinal k has
    /// probability k/(n-1)), with a jump at tied values; right-continuous.
    func cdf(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        let count = sorted.count
        // Number of samples <= x (upper bound by binary search).
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] <= x { low = mid + 1 } else { high = mid }
        }
        let atOrBelow = low
        if atOrBelow == 0 { return 0 }
        if atOrBelow == count { return 1 }
        let k = atOrBelow - 1  // last index with sorted[k] <= x < sorted[k + 1]
        let fraction = (x - sorted[k]) / (sorted[k + 1] - sorted[k])
        return (Double(k) + fraction) / Double(count - 1)
    }

    /// The mean of the interpolated law, ∫₀¹ quantile(p) dp: the trapezoid average
    /// (x₀/2 + x₁ + … + x₍ₙ₋₂₎ + x₍ₙ₋₁₎/2)/(n-1), not the plain sample average (the end samples
    /// carry half weight because they are only reached at p = 0 and p = 1).
    var mean: Double {
        let count = sorted.count
        if count == 1 { return sorted[0] }
        let interior = sorted.dropFirst().dropLast().reduce(0, +)
        return (interior + (sorted[0] + sorted[count - 1]) / 2) / Double(count - 1)
    }
}
