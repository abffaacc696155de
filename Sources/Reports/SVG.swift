import Foundation
import LabCore
import Metrics

/// Numbers for the report's inline SVG: coordinates, axis ticks and pixel ranges.
enum SVG {
    /// A coordinate with at most one decimal.
    static func n(_ value: Double) -> String { MetricText.decimal(value, places: 1) }

    /// Tick times every 1, 2 or 5 × 10^k seconds (or a minute/hour multiple), about one per 90 pixels.
    static func timeTicks(duration: TimeSpan, pixels: Double) -> [TimeSpan] {
        let total = duration.seconds
        guard total > 0 else { return [.zero] }
        let target = max(2, Int(pixels / 90))
        let steps: [Double] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
                               60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
        let step = steps.first { total / $0 <= Double(target) } ?? (total / Double(target)).rounded(.up)
        var result: [TimeSpan] = []
        var k = 0.0
        while k * step <= total + 1e-9, result.count < 200 {
            result.append(.seconds(k * step))
            k += 1
        }
        return result
    }

    /// The largest 1, 2 or 5 × 10^k not above `v` (0 for non-positive values): an axis's start.
    static func niceFloor(_ v: Double) -> Double {
        guard v > 0 else { return 0 }
        let p = pow(10, floor(log10(v)))
        for m in [5.0, 2, 1] where m * p <= v { return m * p }
        return p
    }

    /// The smallest 1, 2, 5 or 10 × 10^k not below `v` (1 for non-positive values): an axis's end.
    static func niceCeil(_ v: Double) -> Double {
        guard v > 0 else { return 1 }
        let p = pow(10, floor(log10(v)))
        for m in [1.0, 2, 5, 10] where m * p >= v { return m * p }
        return 10 * p
    }

    /// Value-axis ticks: 1-2-5 steps on a log axis, about six even steps on a linear one.
    static func valueTicks(min lo: Double, max hi: Double, log: Bool) -> [Double] {
        var result: [Double] = []
        if log {
            var p = pow(10, floor(log10(lo)))
            while p <= hi * 1.0001, result.count < 40 {
                for m in [1.0, 2, 5] where m * p >= lo * 0.9999 && m * p <= hi * 1.0001 { result.append(m * p) }
                p *= 10
            }
            return result
        }
        let raw = (hi - lo) / 6
        let step = niceCeil(raw)
        var v = lo
        while v <= hi + step * 1e-6, result.count < 40 {
            result.append(v)
            v += step
        }
        return result
    }

    /// Pixel ranges sorted and merged when closer than `gap`.
    static func mergePixels(_ ranges: [(Double, Double)], gap: Double) -> [(Double, Double)] {
        let sorted = ranges.filter { $0.1 >= $0.0 }.sorted { $0.0 < $1.0 }
        var result: [(Double, Double)] = []
        for r in sorted {
            if let last = result.last, r.0 - last.1 < gap {
                result[result.count - 1].1 = max(last.1, r.1)
            } else {
                result.append(r)
            }
        }
        return result
    }
}
