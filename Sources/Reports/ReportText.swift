import LabCore
import Metrics

/// How the report writes run times, axis labels, long names and link conditions.
enum ReportText {
    /// `text` cut to `limit` characters, an ellipsis marking the cut.
    static func truncate(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(limit - 1, 1))) + "\u{2026}"
    }

    /// Run time as m:ss.mmm or h:mm:ss.mmm.
    static func clock(_ t: TimeSpan) -> String {
        let negative = t < .zero
        let ms = abs(t.nanoseconds) / 1_000_000
        let h = ms / 3_600_000
        let m = (ms / 60_000) % 60
        let sec = (ms / 1000) % 60
        let frac = ms % 1000
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let fracText = frac < 10 ? "00\(frac)" : (frac < 100 ? "0\(frac)" : "\(frac)")
        let body = h > 0 ? "\(h):\(two(m)):\(two(sec)).\(fracText)" : "\(m):\(two(sec)).\(fracText)"
        return negative ? "-" + body : body
    }

    /// An axis label: "0", "30s", "2m", "1h30m".
    static func clockLabel(_ t: TimeSpan) -> String {
        let s = t.seconds
        if s == 0 { return "0" }
        if s < 60 { return MetricText.decimal(s, places: 3) + "s" }
        let total = Int64(s.rounded())
        let h = total / 3600
        let m = (total / 60) % 60
        let sec = total % 60
        var out = ""
        if h > 0 { out += "\(h)h" }
        if m > 0 { out += "\(m)m" }
        if sec > 0 { out += "\(sec)s" }
        return out
    }

    /// "both: stall", "up: latency, loss; down: blackhole".
    static func conditionsText(_ c: LinkConditions) -> String {
        let up = c.upstream.map(\.kind)
        let down = c.downstream.map(\.kind)
        if up.isEmpty && down.isEmpty { return "none" }
        if up == down { return "both: " + up.joined(separator: ", ") }
        var parts: [String] = []
        if !up.isEmpty { parts.append("up: " + up.joined(separator: ", ")) }
        if !down.isEmpty { parts.append("down: " + down.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}
