import LabCore
import Metrics
import Scenario

/// The page's tables: the verdicts, the key metrics (with their intervals over the runs), and the
/// disconnects and missed detections of the shown run.
extension HTMLReport {
    /// The `<section id="verdicts">`: each expectation's bound, measured value and result.
    func verdictSection() -> String {
        var h = "<section id=\"verdicts\">\n<h2>Verdicts</h2>\n"
        if verdicts.isEmpty {
            return h + "<p class=\"muted\">The scenario sets no expectations.</p>\n</section>\n"
        }
        if runs > 1 { h += "<p class=\"muted\">An expectation passes only if it held in every run; the measured value is the worst run's.</p>\n" }
        h += "<table class=\"verdicts\">\n<thead><tr><th>expectation</th><th>bound</th><th>measured</th><th>result</th></tr></thead>\n<tbody>\n"
        for v in verdicts {
            let cls = v.passed ? (v.judged ? "pass" : "skip") : "fail"
            h += "<tr class=\"\(cls)\"><td>\(Markup.escape(v.name))</td><td>\(Markup.escape(v.bound))</td>"
            h += "<td>\(Markup.escape(v.measured))</td><td><span class=\"badge \(cls)\">\(v.passed ? (v.judged ? "PASS" : "NOT JUDGED") : "FAIL")</span></td></tr>\n"
        }
        return h + "</tbody>\n</table>\n</section>\n"
    }

    /// The `<section id="metrics">`: the key metrics of the shown run (and over the runs), then
    /// who closed and why.
    func metricsSection() -> String {
        let o = metrics.overall
        var rows: [(String, String, String?)] = []
        func interval(_ name: String, _ format: (Double) -> String) -> String? {
            guard runs > 1, let m = aggregate.first(where: { $0.name == name }) else { return nil }
            return "\(format(m.mean)) [\(format(m.lower)), \(format(m.upper))]"
        }
        let pct: (Double) -> String = { MetricText.percent($0) }
        let num1: (Double) -> String = { MetricText.decimal($0, places: 1) }
        let num2: (Double) -> String = { MetricText.decimal($0, places: 2) }
        let secs: (Double) -> String = { MetricText.decimal($0, places: 3) + "s" }
        let ms: (Double) -> String = { MetricText.decimal($0, places: 1) + " ms" }
        rows.append(("stability score (0\u{2013}100)", num1(o.stability), interval("stability", num1)))
        rows.append(("uptime", pct(o.uptime), interval("uptime", pct)))
        rows.append(("available uptime (outside dead link)", pct(o.availableUptime), interval("availableUptime", pct)))
        let d = o.delivery
        rows.append(("delivery", d.ratio.map { "\(pct($0)) (\(d.received)/\(d.sent)\(d.excluded > 0 ? ", \(d.excluded) not judged" : ""))" }
            ?? "no messages judged", interval("delivery", pct)))
        if let b = o.broadcast {
            let dead = b.producedWhileDead > 0 ? ", \(b.producedWhileDead) produced while the link was dead, not judged" : ""
            rows.append(("broadcast events delivered", b.ratio.map { "\(pct($0)) (\(b.delivered)/\(b.produced)\(dead))" }
                ?? "none produced while a client was connected", interval("broadcastDelivery", pct)))
            rows.append(("\u{2003}missed while disconnected", "\(b.missedWhileDisconnected) (at most \(b.mostMissedInOneDisconnect) in one disconnect)",
                         interval("missedEventsWhileDisconnected", num2)))
            rows.append(("\u{2003}missed while connected", "\(b.missedWhileConnected)", nil))
            rows.append(("\u{2003}duplicated / out of order / late", "\(b.duplicated) / \(b.outOfOrder) / \(b.late)", nil))
            if b.recovered + b.recoveredWhileDead > 0 || o.recoveredReconnects > 0 {
                rows.append(("\u{2003}delivered by a recovery", "\(b.recovered)"
                             + (b.recoveredWhileDead > 0 ? " (and \(b.recoveredWhileDead) produced while the link was dead)" : ""),
                             interval("recoveredEvents", num2)))
            }
        }
        rows.append(("disconnects (counted)", "\(o.disconnects)", interval("disconnects", num2)))
        rows.append(("\u{2003}false", "\(o.falseDisconnects)", interval("falseDisconnects", num2)))
        rows.append(("\u{2003}detections", "\(o.detections)", interval("detections", num2)))
        rows.append(("missed detections", "\(o.missedDetections)", interval("missedDetections", num2)))
        rows.append(("false disconnects per connection-hour", num2(o.falseDisconnectsPerHour), interval("falseDisconnectsPerHour", num2)))
        rows.append(("detection time", o.detectionTimes.map(Self.statsText) ?? "no detections", interval("detectionTimeMeanSeconds", secs).map { "mean " + $0 }))
        rows.append(("reconnect time", o.reconnectTimes.map(Self.statsText) ?? "no reconnects", interval("reconnectTimeMeanSeconds", secs).map { "mean " + $0 }))
        rows.append(("unrecovered / failed attempts", "\(o.unrecovered) / \(o.failedAttempts)", nil))
        if o.recoveredReconnects > 0 {
            rows.append(("reconnects that recovered the session", "\(o.recoveredReconnects) of \(o.reconnectTimes?.count ?? 0)",
                         interval("recoveredReconnects", num2)))
        }
        rows.append(("heartbeat RTT", o.rtt.map { "p50 \(ms($0.p50.milliseconds)), p90 \(ms($0.p90.milliseconds)), p99 \(ms($0.p99.milliseconds)), max \(ms($0.max.milliseconds)) (\($0.count) pongs)" }
            ?? "no pongs", interval("rttP99Ms", ms).map { "p99 " + $0 }))

        var h = "<section id=\"metrics\">\n<h2>Key metrics</h2>\n"
        h += "<p class=\"muted\">Counted on the \(Markup.escape(o.countedSide.rawValue)) side over \(o.connections) connection\(o.connections == 1 ? "" : "s")"
        h += runs > 1 ? "; run \(shownRun + 1), and the mean with its 95% interval over \(runs) runs.</p>\n" : ".</p>\n"
        h += "<table class=\"metrics\">\n<thead><tr><th>metric</th><th>\(runs > 1 ? "run \(shownRun + 1)" : "value")</th>"
        if runs > 1 { h += "<th>over \(runs) runs</th>" }
        h += "</tr></thead>\n<tbody>\n"
        for (name, value, over) in rows {
            h += "<tr><td>\(Markup.escape(name))</td><td>\(Markup.escape(value))</td>"
            if runs > 1 { h += "<td>\(Markup.escape(over ?? "\u{2014}"))</td>" }
            h += "</tr>\n"
        }
        h += "</tbody>\n</table>\n"
        if !metrics.disconnectCounts.isEmpty {
            h += "<h3>Who closed, and why</h3>\n<table class=\"compact\">\n<thead><tr><th>side</th><th>reason</th><th>disconnect events</th></tr></thead>\n<tbody>\n"
            for c in metrics.disconnectCounts {
                h += "<tr><td>\(Markup.escape(c.side.rawValue))</td><td>\(Markup.escape(c.reason.isEmpty ? "(none given)" : c.reason))</td><td>\(c.count)</td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
        }
        return h + "</section>\n"
    }

    /// "p50 …, max … (count)" of a set of durations.
    static func statsText(_ s: TimeSpanStatistics) -> String {
        "p50 \(MetricText.seconds(s.p50)), max \(MetricText.seconds(s.max)) (\(s.count))"
    }

    /// The `<section id="disconnects">`: every disconnect judged false or detection (bounded to
    /// `maxDisconnectRows`), then the missed detections.
    func disconnectSection() -> String {
        var h = "<section id=\"disconnects\">\n<h2>Disconnects</h2>\n"
        let all = metrics.disconnects
        let falseCount = all.filter { $0.counted && $0.classification.isFalse }.count
        let detections = all.filter { $0.counted && !$0.classification.isFalse }.count
        h += "<p class=\"muted\">\(all.count) disconnect event\(all.count == 1 ? "" : "s") in run \(shownRun + 1): "
        h += "\(falseCount) counted false, \(detections) counted detection\(detections == 1 ? "" : "s"). A disconnect is a detection when the "
        h += "link was dead at that instant (a blackhole or outage, or silence for at least the tolerated stall of \(scenario.toleratedStall)); "
        h += "its detection time runs from when the silence began.</p>\n"
        if all.isEmpty { return h + "</section>\n" }
        let rows = all.prefix(max(0, maxDisconnectRows))
        h += "<table class=\"disconnects\">\n<thead><tr><th>time</th><th>connection</th><th>side</th><th>reason</th><th>judged</th><th>detection time</th><th>counted</th></tr></thead>\n<tbody>\n"
        for d in rows {
            let judged: String
            let detection: String
            switch d.classification {
            case .falseDisconnect:
                judged = "<span class=\"badge false\">false</span>"
                detection = "\u{2014}"
            case .detection(let time, let since):
                judged = "<span class=\"badge detection\">detection</span>"
                detection = "\(MetricText.seconds(time)) (dead since \(ReportText.clock(since)))"
            }
            h += "<tr class=\"\(d.classification.isFalse ? "false" : "detection")\(d.counted ? "" : " uncounted")\">"
            h += "<td>\(Markup.escape(ReportText.clock(d.time)))</td><td>\(Markup.escape(d.connection))</td><td>\(Markup.escape(d.side.rawValue))</td>"
            h += "<td>\(Markup.escape(d.reason.isEmpty ? "(none given)" : d.reason))</td><td>\(judged)</td>"
            h += "<td>\(Markup.escape(detection))</td><td>\(d.counted ? "yes" : "no")</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"
        if all.count > rows.count {
            h += "<p class=\"warn\">\(all.count - rows.count) more disconnects are not listed; the event log has them all.</p>\n"
        }
        if !metrics.missedDetections.isEmpty {
            h += "<h3>Missed detections</h3>\n<p class=\"muted\">Dead periods no counted disconnect detected while the connection was open.</p>\n"
            h += "<table class=\"compact\">\n<thead><tr><th>connection</th><th>silent from</th><th>dead from</th><th>until</th></tr></thead>\n<tbody>\n"
            for m in metrics.missedDetections.prefix(max(0, maxDisconnectRows)) {
                h += "<tr><td>\(Markup.escape(m.connection))</td><td>\(ReportText.clock(m.period.start))</td><td>\(ReportText.clock(m.period.deadFrom))</td>"
                h += "<td>\(ReportText.clock(m.period.end))\(m.period.endsWithRun ? " (end of run)" : "")</td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
            if metrics.missedDetections.count > maxDisconnectRows {
                h += "<p class=\"warn\">\(metrics.missedDetections.count - maxDisconnectRows) more missed detections are not listed.</p>\n"
            }
        }
        return h + "</section>\n"
    }
}
