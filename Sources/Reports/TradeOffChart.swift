import Foundation
import Metrics

/// A standalone SVG of trade-off curves on log-log axes, detection time against false
/// suspicions (or false disconnects) per hour, one polyline per series: the detector bench's chart
/// per trace, and the recommendation's trade-off curve. Points with a zero or infinite coordinate
/// cannot sit on a log axis: they are counted in the legend ("3 points at 0 mistakes") instead.
public struct TradeOffChart: Sendable {
    /// One curve.
    public struct Series: Sendable {
        /// Its legend label.
        public var label: String
        /// (x, y) points, in knob order.
        public var points: [(x: Double, y: Double)]
        /// Creates a series.
        public init(label: String, points: [(x: Double, y: Double)]) {
            self.label = label
            self.points = points
        }
    }

    /// The chart's title.
    public var title: String
    /// The x axis's label.
    public var xLabel: String
    /// The y axis's label.
    public var yLabel: String
    /// The curves.
    public var series: [Series]
    /// A marked point (the recommendation), if any.
    public var marker: (x: Double, y: Double, label: String)?

    /// Creates a chart.
    public init(title: String, xLabel: String, yLabel: String, series: [Series], marker: (x: Double, y: Double, label: String)? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.marker = marker
    }

    static let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// The whole SVG document.
    public func svg(width: Double = 720, height: Double = 440) -> String {
        let plottable = series.flatMap(\.points).filter { $0.x > 0 && $0.y > 0 && $0.x.isFinite && $0.y.isFinite }
        let left = 70.0, right = 190.0, top = 36.0, bottom = 48.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = plottable.map(\.x) + (marker.map { [$0.x] } ?? [])
        let ys = plottable.map(\.y) + (marker.map { [$0.y] } ?? [])
        let xMin = SVG.niceFloor(xs.min() ?? 0.1), xMax = SVG.niceCeil(max(xs.max() ?? 1, xMin * 10))
        let yMin = SVG.niceFloor(ys.min() ?? 0.1), yMax = SVG.niceCeil(max(ys.max() ?? 1, yMin * 10))
        func px(_ v: Double) -> Double { left + (log10(v) - log10(xMin)) / (log10(xMax) - log10(xMin)) * plotW }
        func py(_ v: Double) -> Double { top + (1 - (log10(v) - log10(yMin)) / (log10(yMax) - log10(yMin))) * plotH }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(SVG.n(left))\" y=\"20\" font-size=\"13\">\(Markup.escape(title))</text>\n"
        for v in SVG.valueTicks(min: xMin, max: xMax, log: true) {
            s += "<line x1=\"\(SVG.n(px(v)))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(px(v)))\" y2=\"\(SVG.n(top + plotH))\" stroke=\"#e5e5e5\"/>"
            s += "<text x=\"\(SVG.n(px(v)))\" y=\"\(SVG.n(top + plotH + 14))\" text-anchor=\"middle\">\(MetricText.decimal(v, places: 3))</text>\n"
        }
        for v in SVG.valueTicks(min: yMin, max: yMax, log: true) {
            s += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(py(v)))\" x2=\"\(SVG.n(left + plotW))\" y2=\"\(SVG.n(py(v)))\" stroke=\"#e5e5e5\"/>"
            s += "<text x=\"\(SVG.n(left - 6))\" y=\"\(SVG.n(py(v) + 4))\" text-anchor=\"end\">\(MetricText.decimal(v, places: 3))</text>\n"
        }
        s += "<rect x=\"\(SVG.n(left))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(plotW))\" height=\"\(SVG.n(plotH))\" fill=\"none\" stroke=\"#888\"/>\n"
        s += "<text x=\"\(SVG.n(left + plotW / 2))\" y=\"\(SVG.n(height - 10))\" text-anchor=\"middle\">\(Markup.escape(xLabel))</text>\n"
        s += "<text transform=\"translate(16 \(SVG.n(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(Markup.escape(yLabel))</text>\n"
        for (i, serie) in series.enumerated() {
            let colour = Self.colours[i % Self.colours.count]
            let onAxis = serie.points.filter { $0.x > 0 && $0.y > 0 && $0.x.isFinite && $0.y.isFinite }.sorted { $0.x < $1.x }
            if !onAxis.isEmpty {
                let path = onAxis.map { "\(SVG.n(px($0.x))),\(SVG.n(py($0.y)))" }.joined(separator: " ")
                s += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
                for p in onAxis { s += "<circle cx=\"\(SVG.n(px(p.x)))\" cy=\"\(SVG.n(py(p.y)))\" r=\"2\" fill=\"\(colour)\"/>" }
                s += "\n"
            }
            let off = serie.points.count - onAxis.count
            let ly = top + 14 + Double(i) * 30
            s += "<line x1=\"\(SVG.n(left + plotW + 12))\" y1=\"\(SVG.n(ly - 4))\" x2=\"\(SVG.n(left + plotW + 32))\" y2=\"\(SVG.n(ly - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(SVG.n(left + plotW + 38))\" y=\"\(SVG.n(ly))\">\(Markup.escape(serie.label))</text>"
            if off > 0 {
                s += "<text x=\"\(SVG.n(left + plotW + 38))\" y=\"\(SVG.n(ly + 13))\" fill=\"#666\">\(off) point\(off == 1 ? "" : "s") off the log axes</text>"
            }
            s += "\n"
        }
        if let marker, marker.x > 0, marker.y > 0 {
            s += "<circle cx=\"\(SVG.n(px(marker.x)))\" cy=\"\(SVG.n(py(marker.y)))\" r=\"5\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>"
            s += "<text x=\"\(SVG.n(px(marker.x) + 8))\" y=\"\(SVG.n(py(marker.y) - 8))\">\(Markup.escape(marker.label))</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}
