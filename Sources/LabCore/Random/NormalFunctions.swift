#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The standard normal cumulative distribution function Φ(x) = P(Z ≤ x), computed as
/// `erfc(-x/√2)/2` so the lower tail keeps full relative precision (Φ(-10) ≈ 7.6e-24).
///
/// Used to turn normal scores into probabilities (the Gaussian copula of `CorrelatedSampler`) and
/// by the normal, lognormal and pareto-normal laws.
public func standardNormalCDF(_ x: Double) -> Double {
    0.5 * erfc(-x * 0.707_106_781_186_547_524_4)
}

/// The standard normal quantile Φ⁻¹(p): Acklam's rational approximation refined by one Halley step
/// on `standardNormalCDF`, accurate to about 1e-15 relative over (0, 1).
///
/// Returns -∞ for p = 0, +∞ for p = 1 and NaN outside [0, 1]. The upper half is computed as
/// `-Φ⁻¹(1 - p)` (1 - p is exact there), so both tails are equally accurate.
public func standardNormalQuantile(_ p: Double) -> Double {
    guard p >= 0, p <= 1 else { return .nan }
    if p == 0 { return -.infinity }
    if p == 1 { return .infinity }
    if p > 0.5 { return -lowerStandardNormalQuantile(1 - p) }
    return lowerStandardNormalQuantile(p)
}

/// Φ⁻¹(p) for p in (0, 0.5].
private func lowerStandardNormalQuantile(_ p: Double) -> Double {
    // Acklam's coefficients (P. J. Acklam, "An algorithm for computing the inverse normal
    // cumulative distribution function", 2003); relative error of the raw approximation < 1.15e-9.
    let a0 = -3.969683028665376e+01, a1 = 2.209460984245205e+02, a2 = -2.759285104469687e+02
    let a3 = 1.383577518672690e+02, a4 = -3.066479806614716e+01, a5 = 2.506628277459239e+00
    let b0 = -5.447609879822406e+01, b1 = 1.615858368580409e+02, b2 = -1.556989798598866e+02
    let b3 = 6.680131188771972e+01, b4 = -1.328068155288572e+01
    let c0 = -7.784894002430293e-03, c1 = -3.223964580411365e-01, c2 = -2.400758277161838e+00
    let c3 = -2.549732539343734e+00, c4 = 4.374664141464968e+00, c5 = 2.938163982698783e+00
    let d0 = 7.784695709041462e-03, d1 = 3.224671290700398e-01, d2 = 2.445134137142996e+00
    let d3 = 3.754408661907416e+00
    let lowBreak = 0.02425

    var x: Double
    if p < lowBreak {
        let q = (-2 * log(p)).squareRoot()
        let numerator = ((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5
        let denominator = (((d0 * q + d1) * q + d2) * q + d3) * q + 1
        x = numerator / denominator
    } else {
        let q = p - 0.5
        let r = q * q
        let numerator = (((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q
        let denominator = ((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1
        x = numerator / denominator
    }

    // One Halley step on f(x) = Φ(x) - p; Φ here is evaluated in the lower tail, where erfc keeps
    // full relative precision, so the step brings the error down to rounding level.
    let error = standardNormalCDF(x) - p
    if error != 0, x.isFinite {
        let u = error * 2.506_628_274_631_000_502_4 * exp(0.5 * x * x)  // error / φ(x)
        x -= u / (1 + 0.5 * x * u)
    }
    return x
}
