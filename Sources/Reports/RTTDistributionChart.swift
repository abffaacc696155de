import Foundation
import LabCore
import Metrics

/// The report's heartbeat RTT distribution: the cumulative distribution of every pong's round trip
/// in the shown run as a step curve through at most ~600 sampled ranks, on a logarithmic axis when
/// the RTTs span more than a factor of 30, with p50, p90 and p99 marked.
struct RTTDistributionChart {
    /// The shown run's events (pongs with an RTT are drawn).
    var events: [LabEvent]
    /// Which run (from 0) the events are.
    var shownRun: Int

    /// The `<section id="rtt">`: the chart and a line of quantiles.
    func section() -> String {
        var h = "<section id=\"rtt\">\n<h2>Heartbeat RTT distribution</h2>\n"
        let rtts = events.compactMap { $0.kind == .pong ? $0.rtt : nil }.map(\.milliseconds).filter(\.isFinite).sorted()
        guard let lo = rtts.first, let hi = rtts.last else {
            return h + "<p class=\"muted\">No pong carried an RTT in this run.</p>\n</section>\n"
        }
        let count = rtts.count
        func pct(_ p: Double) -> Double { rtts[min(max(Int((p * Double(count) / 100).rounded(.up)), 1), count) - 1] }
        let positiveLow = rtts.first { $0 > 0 } ?? hi
        let logScale = positiveLow > 0 && hi / positiveLow > 30
        h += "<p class=\"muted\">Cumulative distribution of \(count) pong round-trip times (all connections, run \(shownRun + 1))"
        h += logScale ? "; the time axis is logarithmic.</p>\n" : ".</p>\n"

        let width = 760.0
        let height = 300.0
        let left = 56.0
        let right = 20.0
        let top = 14.0
        let bottom = 40.0
        let plotW = width - left - right
        let plotH = height - top - bottom
        let xMin = logScale ? SVG.niceFloor(positiveLow) : 0
        let xMax = SVG.niceCeil(max(hi, xMin * 1.01, 0.001))
        func x(_ v: Double) -> Double {
            if logScale {
                let a = log10(xMin)
                let b = log10(xMax)
                return left + (log10(max(v, xMin)) - a) / (b - a) * plotW
            }
            return left + (v - xMin) / (xMax - xMin) * plotW
        }
        func y(_ f: Double) -> Double { top + (1 - f) * plotH }

        var s = "<svg class=\"chart\" viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" role=\"img\" aria-label=\"RTT CDF\">\n"
        for f in [0, 0.25, 0.5, 0.75, 0.9, 1.0] {
            s += "<line class=\"grid\" x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(y(f)))\" x2=\"\(SVG.n(left + plotW))\" y2=\"\(SVG.n(y(f)))\"/>"
            s += "<text class=\"tick\" x=\"\(SVG.n(left - 6))\" y=\"\(SVG.n(y(f) + 4))\" text-anchor=\"end\">\(MetricText.decimal(f * 100, places: 0))%</text>\n"
        }
        for v in SVG.valueTicks(min: xMin, max: xMax, log: logScale) {
            s += "<line class=\"grid\" x1=\"\(SVG.n(x(v)))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(x(v)))\" y2=\"\(SVG.n(top + plotH))\"/>"
            s += "<text class=\"tick\" x=\"\(SVG.n(x(v)))\" y=\"\(SVG.n(top + plotH + 14))\" text-anchor=\"middle\">\(MetricText.decimal(v, places: 3))</text>\n"
        }
        s += "<text class=\"tick\" x=\"\(SVG.n(left + plotW))\" y=\"\(SVG.n(height - 6))\" text-anchor=\"end\">RTT (ms)</text>\n"
        s += "<rect class=\"frame\" x=\"\(SVG.n(left))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(plotW))\" height=\"\(SVG.n(plotH))\"/>\n"
        // A step curve through at most ~600 sampled ranks.
        let samples = min(count, 600)
        var points: [(Double, Double)] = [(x(lo), y(0))]
        for k in 0..<samples {
            let index = samples == 1 ? count - 1 : Int((Double(k) / Double(samples - 1) * Double(count - 1)).rounded())
            let v = rtts[index]
            let f = Double(index + 1) / Double(count)
            if let last = points.last { points.append((x(v), last.1)) }
            points.append((x(v), y(f)))
        }
        s += "<polyline class=\"cdf\" points=\"\(points.map { "\(SVG.n($0.0)),\(SVG.n($0.1))" }.joined(separator: " "))\"/>\n"
        for (p, name) in [(50.0, "p50"), (90.0, "p90"), (99.0, "p99")] {
            let v = pct(p)
            s += "<line class=\"quantile\" x1=\"\(SVG.n(x(v)))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(x(v)))\" y2=\"\(SVG.n(top + plotH))\"><title>\(name) \(MetricText.decimal(v, places: 1)) ms</title></line>"
            s += "<circle class=\"quantile-dot\" cx=\"\(SVG.n(x(v)))\" cy=\"\(SVG.n(y(p / 100)))\" r=\"3\"/>"
            let text = "\(name) \(MetricText.decimal(v, places: 1)) ms"
            let fitsRight = x(v) + 6 + Double(text.count) * 6.2 < left + plotW
            s += "<text class=\"qlabel\" x=\"\(SVG.n(fitsRight ? x(v) + 4 : x(v) - 4))\" y=\"\(SVG.n(y(p / 100) + 14))\""
            s += "\(fitsRight ? "" : " text-anchor=\"end\"")>\(text)</text>\n"
        }
        s += "</svg>\n"
        h += "<div class=\"scroll\">\n\(s)</div>\n"
        h += "<p class=\"muted\">min \(MetricText.decimal(lo, places: 1)) ms \u{b7} p50 \(MetricText.decimal(pct(50), places: 1)) ms \u{b7} "
        h += "p90 \(MetricText.decimal(pct(90), places: 1)) ms \u{b7} p99 \(MetricText.decimal(pct(99), places: 1)) ms \u{b7} max \(MetricText.decimal(hi, places: 1)) ms</p>\n"
        return h + "</section>\n"
    }
}
