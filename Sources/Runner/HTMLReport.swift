import Foundation
import LabCore
import Metrics
import Scenario

/// A run's `report.html`: one self-contained page (inline CSS and SVG, no script, no external
/// file) a person can read without tools: the header, the verdicts, the key metrics, the connection
/// timeline over the phases with every disconnect marked false or detection, the RTT distribution
/// and the list of disconnects (DESIGN.md, "Results").
///
/// Every text that comes from a scenario file or an event log is escaped. What is drawn is bounded
/// whatever the log's size: at most `maxConnections` timeline rows, bars and phase bands merged
/// below a pixel, disconnect ticks merged to about `markBudget` (drawn as one path per kind on a
/// busy row), a CDF sampled to 600 points and at most `maxDisconnectRows` rows in the disconnect
/// list, with a note saying what was left out.
public struct HTMLReport {
    /// The scenario as run.
    public var scenario: Scenario
    /// Its file, as given on the command line.
    public var source: String
    /// "sim" or "live".
    public var mode: String
    /// The base seed.
    public var seed: UInt64
    /// How many runs the folder holds.
    public var runs: Int
    /// Which run (from 0) the timeline, the RTTs and the disconnects show.
    public var shownRun: Int
    /// The expectations, judged over every run.
    public var verdicts: [Verdict]
    /// The shown run's event log.
    public var events: [LabEvent]
    /// The shown run's metrics.
    public var metrics: RunMetrics
    /// The ground truth the disconnects were judged against.
    public var truth: GroundTruth
    /// Means and 95% intervals over the runs (shown when there is more than one).
    public var aggregate: [MetricInterval]
    /// What the run did not model.
    public var limitations: [String]
    /// The Flatline version.
    public var version: String
    /// Whether the run was interrupted.
    public var partial: Bool
    /// The most timeline rows drawn.
    public var maxConnections: Int = 200
    /// The most rows of the disconnect list.
    public var maxDisconnectRows: Int = 500
    /// About how many disconnect ticks the timeline draws at most (close ones are merged).
    public var markBudget: Int = 100_000
    /// A row with more ticks than this draws them as paths without a tooltip each.
    public var maxTitledMarks: Int = 40

    /// A report of `events`, a run of `scenario`; metrics and the truth are computed when not given.
    public init(scenario: Scenario, source: String, mode: String, seed: UInt64, runs: Int = 1, shownRun: Int = 0,
                verdicts: [Verdict], events: [LabEvent], metrics: RunMetrics? = nil, truth: GroundTruth? = nil,
                aggregate: [MetricInterval] = [], limitations: [String] = [], version: String = "", partial: Bool = false) {
        let truth = truth ?? GroundTruth(scenario: scenario)
        self.scenario = scenario
        self.source = source
        self.mode = mode
        self.seed = seed
        self.runs = runs
        self.shownRun = shownRun
        self.verdicts = verdicts
        self.events = events
        self.metrics = metrics ?? RunMetrics.compute(events: events, truth: truth, duration: scenario.duration)
        self.truth = truth
        self.aggregate = aggregate
        self.limitations = limitations
        self.version = version
        self.partial = partial
    }

    /// Whether every expectation held.
    public var passed: Bool { verdicts.allSatisfy(\.passed) }

    /// The page.
    public func render() -> String {
        var h = ""
        let status = partial ? "PARTIAL" : (passed ? "PASS" : "FAIL")
        h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>\(Self.escape(scenario.name)) \u{2014} \(status) \u{2014} Flatline report</title>\n"
        h += "<style>\n\(Self.css)</style>\n</head>\n<body>\n"
        h += header(status: status)
        h += verdictSection()
        h += metricsSection()
        h += timelineSection()
        h += rttSection()
        h += disconnectSection()
        h += "<footer>Flatline \(Self.escape(version)) \u{b7} \(Self.escape(mode)) run \u{b7} seed \(seed) \u{b7} "
        h += "the event log is in events\(runs > 1 ? "-\(shownRun)" : "").jsonl, the figures in summary.json.</footer>\n"
        h += "</body>\n</html>\n"
        return h
    }

    // MARK: - Sections

    private func header(status: String) -> String {
        var h = "<header>\n<h1>\(Self.escape(scenario.name)) <span class=\"badge \(status.lowercased())\">\(status)</span></h1>\n"
        var facts: [(String, String)] = [
            ("file", source),
            ("mode", mode == "sim" ? "sim (virtual time)" : mode),
            ("seed", "\(seed)"),
            ("runs", runs > 1 ? "\(runs) (timeline and disconnects: run \(shownRun + 1))" : "\(runs)"),
            ("duration", "\(scenario.duration)"),
            ("clients", "\(scenario.clients.count)"),
        ]
        if case .socketIO(let server) = scenario.server {
            facts.append(("server", "Socket.IO, pingInterval \(server.pingInterval), pingTimeout \(server.pingTimeout)"))
        } else {
            facts.append(("server", "external"))
        }
        if case .socketIO(let client) = scenario.clients.component {
            var text = "Socket.IO, connectTimeout \(client.connectTimeout)"
            if let check = client.application.healthCheck { text += ", health check \(check.staleAfter)" }
            if let ping = client.application.customPing { text += ", custom ping \(ping.interval)/\(ping.timeout)" }
            facts.append(("client", text))
        } else {
            facts.append(("client", "external"))
        }
        facts.append(("tolerated stall", "\(scenario.toleratedStall)"))
        let passedCount = verdicts.filter(\.passed).count
        facts.append(("expectations", verdicts.isEmpty ? "none set" : "\(passedCount) of \(verdicts.count) hold"))
        h += "<dl class=\"facts\">\n"
        for (key, value) in facts {
            h += "<div><dt>\(Self.escape(key))</dt><dd>\(Self.escape(value))</dd></div>\n"
        }
        h += "</dl>\n"
        if partial {
            h += "<p class=\"warn\">This run was interrupted: the results are partial.</p>\n"
        }
        if !limitations.isEmpty {
            h += "<div class=\"limits\"><strong>Not modelled in this run:</strong><ul>\n"
            for note in limitations { h += "<li>\(Self.escape(note))</li>\n" }
            h += "</ul></div>\n"
        }
        return h + "</header>\n"
    }

    private func verdictSection() -> String {
        var h = "<section id=\"verdicts\">\n<h2>Verdicts</h2>\n"
        if verdicts.isEmpty {
            return h + "<p class=\"muted\">The scenario sets no expectations.</p>\n</section>\n"
        }
        if runs > 1 { h += "<p class=\"muted\">An expectation passes only if it held in every run; the measured value is the worst run's.</p>\n" }
        h += "<table class=\"verdicts\">\n<thead><tr><th>expectation</th><th>bound</th><th>measured</th><th>result</th></tr></thead>\n<tbody>\n"
        for v in verdicts {
            let cls = v.passed ? "pass" : "fail"
            h += "<tr class=\"\(cls)\"><td>\(Self.escape(v.name))</td><td>\(Self.escape(v.bound))</td>"
            h += "<td>\(Self.escape(v.measured))</td><td><span class=\"badge \(cls)\">\(v.passed ? "PASS" : "FAIL")</span></td></tr>\n"
        }
        return h + "</tbody>\n</table>\n</section>\n"
    }

    private func metricsSection() -> String {
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
        rows.append(("disconnects (counted)", "\(o.disconnects)", interval("disconnects", num2)))
        rows.append(("\u{2003}false", "\(o.falseDisconnects)", interval("falseDisconnects", num2)))
        rows.append(("\u{2003}detections", "\(o.detections)", interval("detections", num2)))
        rows.append(("missed detections", "\(o.missedDetections)", interval("missedDetections", num2)))
        rows.append(("false disconnects per connection-hour", num2(o.falseDisconnectsPerHour), interval("falseDisconnectsPerHour", num2)))
        rows.append(("detection time", o.detectionTimes.map(Self.statsText) ?? "no detections", interval("detectionTimeMeanSeconds", secs).map { "mean " + $0 }))
        rows.append(("reconnect time", o.reconnectTimes.map(Self.statsText) ?? "no reconnects", interval("reconnectTimeMeanSeconds", secs).map { "mean " + $0 }))
        rows.append(("unrecovered / failed attempts", "\(o.unrecovered) / \(o.failedAttempts)", nil))
        rows.append(("heartbeat RTT", o.rtt.map { "p50 \(ms($0.p50.milliseconds)), p90 \(ms($0.p90.milliseconds)), p99 \(ms($0.p99.milliseconds)), max \(ms($0.max.milliseconds)) (\($0.count) pongs)" }
            ?? "no pongs", interval("rttP99Ms", ms).map { "p99 " + $0 }))

        var h = "<section id=\"metrics\">\n<h2>Key metrics</h2>\n"
        h += "<p class=\"muted\">Counted on the \(Self.escape(o.countedSide.rawValue)) side over \(o.connections) connection\(o.connections == 1 ? "" : "s")"
        h += runs > 1 ? "; run \(shownRun + 1), and the mean with its 95% interval over \(runs) runs.</p>\n" : ".</p>\n"
        h += "<table class=\"metrics\">\n<thead><tr><th>metric</th><th>\(runs > 1 ? "run \(shownRun + 1)" : "value")</th>"
        if runs > 1 { h += "<th>over \(runs) runs</th>" }
        h += "</tr></thead>\n<tbody>\n"
        for (name, value, over) in rows {
            h += "<tr><td>\(Self.escape(name))</td><td>\(Self.escape(value))</td>"
            if runs > 1 { h += "<td>\(Self.escape(over ?? "\u{2014}"))</td>" }
            h += "</tr>\n"
        }
        h += "</tbody>\n</table>\n"
        if !metrics.disconnectCounts.isEmpty {
            h += "<h3>Who closed, and why</h3>\n<table class=\"compact\">\n<thead><tr><th>side</th><th>reason</th><th>disconnect events</th></tr></thead>\n<tbody>\n"
            for c in metrics.disconnectCounts {
                h += "<tr><td>\(Self.escape(c.side.rawValue))</td><td>\(Self.escape(c.reason.isEmpty ? "(none given)" : c.reason))</td><td>\(c.count)</td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
        }
        return h + "</section>\n"
    }

    private static func statsText(_ s: TimeSpanStatistics) -> String {
        "p50 \(MetricText.seconds(s.p50)), max \(MetricText.seconds(s.max)) (\(s.count))"
    }

    // MARK: - Timeline

    /// Geometry shared by the timeline's parts.
    private struct Axis {
        var left: Double
        var width: Double
        var duration: TimeSpan

        func x(_ t: TimeSpan) -> Double {
            guard duration > .zero else { return left }
            let f = Double(t.nanoseconds) / Double(duration.nanoseconds)
            return left + min(max(f, 0), 1) * width
        }
    }

    private func timelineSection() -> String {
        var h = "<section id=\"timeline\">\n<h2>Connection timeline</h2>\n"
        let all = metrics.connections.filter { $0.connection != "run" }
        let shown = Array(all.prefix(max(0, maxConnections)))
        h += "<p class=\"muted\">One row per connection (\(Self.escape(all.first?.countedSide.rawValue ?? "client")) side): "
        h += "green while connected, grey while not. Shaded bands are the scenario's phases; the top strip is the ground truth "
        h += "(amber: stalled, dark red: dead). Ticks mark disconnects: red false, blue detection; short ticks are not counted "
        h += "(the other side's, or a failed attempt). Hover for details.</p>\n"
        if all.count > shown.count {
            h += "<p class=\"warn\">Showing the first \(shown.count) of \(all.count) connections; the metrics and the disconnect list cover all of them.</p>\n"
        }
        if shown.isEmpty {
            h += "<p class=\"muted\">The event log has no connections.</p>\n"
        }

        let width = 1100.0
        let left = 96.0
        let right = 16.0
        let axis = Axis(left: left, width: width - left - right, duration: scenario.duration)
        let rowHeight: Double = shown.count <= 24 ? 16 : (shown.count <= 60 ? 10 : (shown.count <= 120 ? 6 : 4))
        let rowGap: Double = rowHeight >= 10 ? 3 : 1
        let labelEvery = rowHeight >= 10 ? 1 : Int((12 / (rowHeight + rowGap)).rounded(.up))

        // Phase labels, in lanes so they do not overlap.
        let occurrences = scenario.timeline()
        struct Label { var x: Double; var text: String; var lane: Int }
        var labels: [Label] = []
        var laneEnds: [Double] = []
        let maxLanes = 4
        var labelled = Set<Int>()
        for occ in occurrences where !labelled.contains(occ.phase) {
            let phase = scenario.phases[occ.phase]
            let count = occurrences.lazy.filter { $0.phase == occ.phase }.count
            var text = phase.note ?? "phase \(occ.phase + 1)"
            if count > 1, let every = phase.every { text += " (\u{d7}\(count), every \(every))" }
            text = Self.truncate(text, 60)
            let x = axis.x(occ.range.lowerBound)
            let textWidth = Double(text.count) * 6.4 + 8
            let startX = min(x, left + axis.width - textWidth)
            if let lane = laneEnds.firstIndex(where: { $0 <= startX }) {
                laneEnds[lane] = startX + textWidth
                labels.append(Label(x: startX, text: text, lane: lane))
                labelled.insert(occ.phase)
            } else if laneEnds.count < maxLanes {
                laneEnds.append(startX + textWidth)
                labels.append(Label(x: startX, text: text, lane: laneEnds.count - 1))
                labelled.insert(occ.phase)
            }
            // No lane free: the band's tooltip and the phase table still name it.
        }
        let laneHeight = 14.0
        let top = 8 + Double(max(laneEnds.count, 1)) * laneHeight
        let truthY = top + 2
        let truthHeight = 10.0
        let rowsTop = truthY + truthHeight + (rowHeight >= 10 ? 6 : 9)
        let rowsBottom = rowsTop + Double(shown.count) * (rowHeight + rowGap)
        let height = rowsBottom + 30

        var s = "<svg class=\"chart\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" role=\"img\" aria-label=\"connection timeline\">\n"
        // Time grid.
        let ticks = Self.timeTicks(duration: scenario.duration, pixels: axis.width)
        for t in ticks {
            let x = axis.x(t)
            s += "<line class=\"grid\" x1=\"\(Self.n(x))\" y1=\"\(Self.n(top))\" x2=\"\(Self.n(x))\" y2=\"\(Self.n(rowsBottom))\"/>"
            s += "<text class=\"tick\" x=\"\(Self.n(x))\" y=\"\(Self.n(rowsBottom + 14))\" text-anchor=\"middle\">\(Self.escape(Self.clockLabel(t)))</text>\n"
        }
        s += "<text class=\"tick\" x=\"\(Self.n(left + axis.width))\" y=\"\(Self.n(rowsBottom + 27))\" text-anchor=\"end\">run time</text>\n"

        // Phase labels; the bands themselves are drawn over the rows, below.
        for label in labels {
            let y = 8 + Double(label.lane) * laneHeight + 10
            s += "<text class=\"phase-label\" x=\"\(Self.n(label.x + 2))\" y=\"\(Self.n(y))\">\(Self.escape(label.text))</text>\n"
        }

        // Ground-truth strip: non-usable time amber, dead time dark red.
        s += "<text class=\"row-label\" x=\"\(Self.n(left - 6))\" y=\"\(Self.n(truthY + truthHeight - 1))\" text-anchor=\"end\">link truth</text>"
        s += "<rect class=\"usable\" x=\"\(Self.n(left))\" y=\"\(Self.n(truthY))\" width=\"\(Self.n(axis.width))\" height=\"\(Self.n(truthHeight))\"/>\n"
        let silent = truth.periods.filter { $0.connection == nil && $0.kind != .usable }
            .map { (axis.x($0.start), axis.x(min($0.end, scenario.duration))) }
        for (x0, x1) in Self.mergePixels(silent, gap: 0.5) {
            s += "<rect class=\"stalled\" x=\"\(Self.n(x0))\" y=\"\(Self.n(truthY))\" width=\"\(Self.n(max(x1 - x0, 1)))\" height=\"\(Self.n(truthHeight))\"/>"
        }
        let dead = truth.deadPeriods(connection: shown.first?.connection ?? "")
        for (x0, x1) in Self.mergePixels(dead.map { (axis.x($0.deadFrom), axis.x($0.end)) }, gap: 0.5) {
            s += "<rect class=\"dead\" x=\"\(Self.n(x0))\" y=\"\(Self.n(truthY))\" width=\"\(Self.n(max(x1 - x0, 1)))\" height=\"\(Self.n(truthHeight))\"><title>dead</title></rect>"
        }
        s += "\n"

        // Rows.
        var byConnection: [String: [LabEvent]] = [:]
        let names = Set(shown.map(\.connection))
        for event in events where names.contains(event.connection) && (event.kind == .connect || event.kind == .disconnect) {
            byConnection[event.connection, default: []].append(event)
        }
        var disconnectsBy: [String: [ClassifiedDisconnect]] = [:]
        for d in metrics.disconnects where names.contains(d.connection) { disconnectsBy[d.connection, default: []].append(d) }

        var marksSVG = ""
        let bucketWidth = max(0.5, axis.width * Double(max(shown.count, 1)) / Double(max(markBudget, 1)))
        for (i, connection) in shown.enumerated() {
            let y = rowsTop + Double(i) * (rowHeight + rowGap)
            let name = connection.connection
            s += "<g class=\"row\" data-connection=\"\(Self.escape(name))\">"
            if i % labelEvery == 0 {
                s += "<text class=\"row-label\" x=\"\(Self.n(left - 6))\" y=\"\(Self.n(y + max(min(rowHeight, 12) - 2, 7)))\" text-anchor=\"end\">"
                s += "\(Self.escape(Self.truncate(name, 14)))<title>\(Self.escape(name))</title></text>"
            }
            s += "<rect class=\"down\" x=\"\(Self.n(left))\" y=\"\(Self.n(y))\" width=\"\(Self.n(axis.width))\" height=\"\(Self.n(rowHeight))\">"
            s += "<title>\(Self.escape(name)): uptime \(MetricText.percent(connection.uptime)), \(connection.disconnects) disconnects (\(connection.falseDisconnects) false)</title></rect>"
            let spans = Self.connectedSpans(byConnection[name] ?? [], side: connection.countedSide, duration: scenario.duration)
            for (x0, x1) in Self.mergePixels(spans.map { (axis.x($0.lowerBound), axis.x($0.upperBound)) }, gap: 0.75) {
                s += "<rect class=\"up\" x=\"\(Self.n(x0))\" y=\"\(Self.n(y))\" width=\"\(Self.n(max(x1 - x0, 0.5)))\" height=\"\(Self.n(rowHeight))\"/>"
            }
            s += "</g>\n"
            // Disconnect ticks, drawn after the phase bands. Ticks of one kind that fall in the same
            // bucket are merged into one, the bucket wide enough to keep the chart to about
            // `markBudget` ticks (half a pixel when the log is small). Counted ticks are drawn last.
            marksSVG += "<g class=\"marks\" data-connection=\"\(Self.escape(name))\">"
            struct Bucket { var first: ClassifiedDisconnect; var last: TimeSpan; var count: Int }
            var buckets: [String: Bucket] = [:]
            var order: [String] = []
            for d in disconnectsBy[name] ?? [] {
                let key = "\(Int(axis.x(d.time) / bucketWidth))-\(d.classification.isFalse)-\(d.counted)"
                if buckets[key] == nil {
                    buckets[key] = Bucket(first: d, last: d.time, count: 1)
                    order.append(key)
                } else {
                    buckets[key]!.count += 1
                    buckets[key]!.last = max(buckets[key]!.last, d.time)
                }
            }
            let drawn = order.map { buckets[$0]! }.sorted { !$0.first.counted && $1.first.counted }
            func tick(_ d: ClassifiedDisconnect) -> (x: Double, y0: Double, y1: Double) {
                let (y0, y1) = d.counted ? (y - 1, y + rowHeight + 1) : (y + rowHeight * 0.45, y + rowHeight + 1)
                return (axis.x(d.time), y0, y1)
            }
            func cls(_ d: ClassifiedDisconnect) -> String {
                (d.classification.isFalse ? "false" : "detection") + (d.counted ? "" : " uncounted")
            }
            if drawn.count <= maxTitledMarks {
                // Few enough for one line each, with the disconnect in its tooltip.
                for bucket in drawn {
                    let d = bucket.first
                    let (x, y0, y1) = tick(d)
                    var title: String
                    if bucket.count == 1 {
                        title = "\(name) \(d.side.rawValue) disconnect at \(Self.clock(d.time))"
                        if !d.reason.isEmpty { title += " (\(d.reason))" }
                        switch d.classification {
                        case .falseDisconnect: title += ": FALSE"
                        case .detection(let time, _): title += ": detection after \(MetricText.seconds(time))"
                        }
                    } else {
                        title = "\(name): \(bucket.count) \(d.classification.isFalse ? "FALSE disconnects" : "detections") from \(Self.clock(d.time)) to \(Self.clock(bucket.last))"
                    }
                    if !d.counted { title += ", not counted" }
                    marksSVG += "<line class=\"mark \(cls(d))\" x1=\"\(Self.n(x))\" y1=\"\(Self.n(y0))\" x2=\"\(Self.n(x))\" y2=\"\(Self.n(y1))\"><title>\(Self.escape(title))</title></line>"
                }
            } else {
                // Many: one path per kind, a few bytes a tick, the counts in its tooltip.
                var paths: [String: (d: String, count: Int)] = [:]
                var kinds: [String] = []
                for bucket in drawn {
                    let (x, y0, y1) = tick(bucket.first)
                    let kind = cls(bucket.first)
                    if paths[kind] == nil { kinds.append(kind) }
                    paths[kind, default: ("", 0)].d += "M\(Self.n(x)) \(Self.n(y0))V\(Self.n(y1))"
                    paths[kind, default: ("", 0)].count += bucket.count
                }
                for kind in kinds {
                    let (d, count) = paths[kind]!
                    let what = kind.hasPrefix("false") ? "false disconnect\(count == 1 ? "" : "s")" : "detection\(count == 1 ? "" : "s")"
                    let title = "\(name): \(count) \(what)\(kind.hasSuffix("uncounted") ? ", not counted" : "") (see the list below)"
                    marksSVG += "<path class=\"mark \(kind) dense\" d=\"\(d)\"><title>\(Self.escape(title))</title></path>"
                }
            }
            marksSVG += "</g>\n"
        }
        // Phase bands over the rows, under the marks (translucent, letting the rows' tooltips through), merged below
        // a pixel per phase, with their edges drawn so short phases stay visible.
        for (index, phase) in scenario.phases.enumerated() {
            let ranges = occurrences.filter { $0.phase == index }.map { (axis.x($0.range.lowerBound), axis.x($0.range.upperBound)) }
            let note = phase.note ?? "phase \(index + 1)"
            let title = Self.escape("\(note): \(Self.conditionsText(phase.conditions))")
            for (x0, x1) in Self.mergePixels(ranges, gap: 0.5) {
                s += "<rect class=\"phase p\(index % 6)\" x=\"\(Self.n(x0))\" y=\"\(Self.n(top))\" width=\"\(Self.n(max(x1 - x0, 1)))\" height=\"\(Self.n(rowsBottom - top))\">"
                s += "<title>\(title)</title></rect>"
                s += "<line class=\"phase-edge p\(index % 6)\" x1=\"\(Self.n(x0))\" y1=\"\(Self.n(top))\" x2=\"\(Self.n(x0))\" y2=\"\(Self.n(rowsBottom))\"/>"
                s += "<line class=\"phase-edge p\(index % 6)\" x1=\"\(Self.n(x1))\" y1=\"\(Self.n(top))\" x2=\"\(Self.n(x1))\" y2=\"\(Self.n(rowsBottom))\"/>\n"
            }
        }
        s += marksSVG
        s += "</svg>\n"
        h += "<div class=\"scroll\">\n\(s)</div>\n"
        h += "<div class=\"legend\"><span><i class=\"sw up\"></i>connected</span><span><i class=\"sw down\"></i>not connected</span>"
        h += "<span><i class=\"sw stalled\"></i>link stalled</span><span><i class=\"sw dead\"></i>link dead</span>"
        h += "<span><i class=\"tk false\"></i>false disconnect</span><span><i class=\"tk detection\"></i>detection</span></div>\n"
        h += phaseTable()
        return h + "</section>\n"
    }

    private func phaseTable() -> String {
        let baseline = "Baseline link: \(Self.escape(scenario.link.isEmpty ? "ideal" : Self.conditionsText(scenario.link)))"
        guard !scenario.phases.isEmpty else { return "<p class=\"muted\">The scenario has no phases. \(baseline), throughout.</p>\n" }
        var h = "<table class=\"compact phases\">\n<thead><tr><th></th><th>phase</th><th>when</th><th>conditions</th><th>truth</th></tr></thead>\n<tbody>\n"
        let occurrences = scenario.timeline()
        for (index, phase) in scenario.phases.enumerated() {
            let count = occurrences.filter { $0.phase == index }.count
            var when = "at \(phase.at)"
            switch phase.end {
            case .after(let length): when += " for \(length)"
            case .at(let until): when += " until \(until)"
            case .scenarioEnd: when += " until end"
            }
            if let every = phase.every { when += ", every \(every) (\(count)\u{d7})" }
            var kinds = Set<LinkPeriod.Kind>()
            for direction in LinkDirection.allCases {
                for c in phase.conditions[direction] {
                    switch c {
                    case .blackhole, .reset: kinds.insert(.dead)
                    case .stall: kinds.insert(.stall)
                    case .bandwidth(let b) where b.rate.bytesPerSecond == 0: kinds.insert(.stall)
                    default: break
                    }
                }
            }
            if phase.serverPause { kinds.insert(.stall) }
            let truthText = kinds.contains(.dead) ? "dead" : (kinds.contains(.stall) ? "stall (dead after \(scenario.toleratedStall))" : "usable")
            var what = [Self.conditionsText(phase.conditions)].filter { $0 != "none" || (!phase.serverPause && phase.clientTimerAlignment == nil) }
            if phase.serverPause { what.append("server paused") }
            if let alignment = phase.clientTimerAlignment { what.append("client timers every \(alignment)") }
            h += "<tr><td><i class=\"sw phase p\(index % 6)\"></i></td><td>\(Self.escape(phase.note ?? "phase \(index + 1)"))</td>"
            h += "<td>\(Self.escape(when))</td><td>\(Self.escape(what.joined(separator: "; ")))</td><td>\(Self.escape(truthText))</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"
        h += "<p class=\"muted\">\(baseline).</p>\n"
        return h
    }

    /// The spans the counted side had the connection open (the rule of `RunMetrics`).
    static func connectedSpans(_ events: [LabEvent], side: EventSide, duration: TimeSpan) -> [Range<TimeSpan>] {
        func clamp(_ t: TimeSpan) -> TimeSpan { min(max(t, .zero), duration) }
        let ordered = events.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
        var spans: [Range<TimeSpan>] = []
        var open: TimeSpan?
        for event in ordered where event.side == side {
            if event.kind == .connect, open == nil {
                open = event.time
            } else if event.kind == .disconnect, let since = open {
                if clamp(since) < clamp(event.time) { spans.append(clamp(since)..<clamp(event.time)) }
                open = nil
            }
        }
        if let since = open, clamp(since) < duration { spans.append(clamp(since)..<duration) }
        return spans
    }

    // MARK: - RTT distribution

    private func rttSection() -> String {
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
        let xMin = logScale ? Self.niceFloor(positiveLow) : 0
        let xMax = Self.niceCeil(max(hi, xMin * 1.01, 0.001))
        func x(_ v: Double) -> Double {
            if logScale {
                let a = log10(xMin)
                let b = log10(xMax)
                return left + (log10(max(v, xMin)) - a) / (b - a) * plotW
            }
            return left + (v - xMin) / (xMax - xMin) * plotW
        }
        func y(_ f: Double) -> Double { top + (1 - f) * plotH }

        var s = "<svg class=\"chart\" viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" role=\"img\" aria-label=\"RTT CDF\">\n"
        for f in [0, 0.25, 0.5, 0.75, 0.9, 1.0] {
            s += "<line class=\"grid\" x1=\"\(Self.n(left))\" y1=\"\(Self.n(y(f)))\" x2=\"\(Self.n(left + plotW))\" y2=\"\(Self.n(y(f)))\"/>"
            s += "<text class=\"tick\" x=\"\(Self.n(left - 6))\" y=\"\(Self.n(y(f) + 4))\" text-anchor=\"end\">\(MetricText.decimal(f * 100, places: 0))%</text>\n"
        }
        for v in Self.valueTicks(min: xMin, max: xMax, log: logScale) {
            s += "<line class=\"grid\" x1=\"\(Self.n(x(v)))\" y1=\"\(Self.n(top))\" x2=\"\(Self.n(x(v)))\" y2=\"\(Self.n(top + plotH))\"/>"
            s += "<text class=\"tick\" x=\"\(Self.n(x(v)))\" y=\"\(Self.n(top + plotH + 14))\" text-anchor=\"middle\">\(MetricText.decimal(v, places: 3))</text>\n"
        }
        s += "<text class=\"tick\" x=\"\(Self.n(left + plotW))\" y=\"\(Self.n(height - 6))\" text-anchor=\"end\">RTT (ms)</text>\n"
        s += "<rect class=\"frame\" x=\"\(Self.n(left))\" y=\"\(Self.n(top))\" width=\"\(Self.n(plotW))\" height=\"\(Self.n(plotH))\"/>\n"
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
        s += "<polyline class=\"cdf\" points=\"\(points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " "))\"/>\n"
        for (p, name) in [(50.0, "p50"), (90.0, "p90"), (99.0, "p99")] {
            let v = pct(p)
            s += "<line class=\"quantile\" x1=\"\(Self.n(x(v)))\" y1=\"\(Self.n(top))\" x2=\"\(Self.n(x(v)))\" y2=\"\(Self.n(top + plotH))\"><title>\(name) \(MetricText.decimal(v, places: 1)) ms</title></line>"
            s += "<circle class=\"quantile-dot\" cx=\"\(Self.n(x(v)))\" cy=\"\(Self.n(y(p / 100)))\" r=\"3\"/>"
            let text = "\(name) \(MetricText.decimal(v, places: 1)) ms"
            let fitsRight = x(v) + 6 + Double(text.count) * 6.2 < left + plotW
            s += "<text class=\"qlabel\" x=\"\(Self.n(fitsRight ? x(v) + 4 : x(v) - 4))\" y=\"\(Self.n(y(p / 100) + 14))\""
            s += "\(fitsRight ? "" : " text-anchor=\"end\"")>\(text)</text>\n"
        }
        s += "</svg>\n"
        h += "<div class=\"scroll\">\n\(s)</div>\n"
        h += "<p class=\"muted\">min \(MetricText.decimal(lo, places: 1)) ms \u{b7} p50 \(MetricText.decimal(pct(50), places: 1)) ms \u{b7} "
        h += "p90 \(MetricText.decimal(pct(90), places: 1)) ms \u{b7} p99 \(MetricText.decimal(pct(99), places: 1)) ms \u{b7} max \(MetricText.decimal(hi, places: 1)) ms</p>\n"
        return h + "</section>\n"
    }

    // MARK: - Disconnects

    private func disconnectSection() -> String {
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
                detection = "\(MetricText.seconds(time)) (dead since \(Self.clock(since)))"
            }
            h += "<tr class=\"\(d.classification.isFalse ? "false" : "detection")\(d.counted ? "" : " uncounted")\">"
            h += "<td>\(Self.escape(Self.clock(d.time)))</td><td>\(Self.escape(d.connection))</td><td>\(Self.escape(d.side.rawValue))</td>"
            h += "<td>\(Self.escape(d.reason.isEmpty ? "(none given)" : d.reason))</td><td>\(judged)</td>"
            h += "<td>\(Self.escape(detection))</td><td>\(d.counted ? "yes" : "no")</td></tr>\n"
        }
        h += "</tbody>\n</table>\n"
        if all.count > rows.count {
            h += "<p class=\"warn\">\(all.count - rows.count) more disconnects are not listed; the event log has them all.</p>\n"
        }
        if !metrics.missedDetections.isEmpty {
            h += "<h3>Missed detections</h3>\n<p class=\"muted\">Dead periods no counted disconnect detected while the connection was open.</p>\n"
            h += "<table class=\"compact\">\n<thead><tr><th>connection</th><th>silent from</th><th>dead from</th><th>until</th></tr></thead>\n<tbody>\n"
            for m in metrics.missedDetections.prefix(max(0, maxDisconnectRows)) {
                h += "<tr><td>\(Self.escape(m.connection))</td><td>\(Self.clock(m.period.start))</td><td>\(Self.clock(m.period.deadFrom))</td>"
                h += "<td>\(Self.clock(m.period.end))\(m.period.endsWithRun ? " (end of run)" : "")</td></tr>\n"
            }
            h += "</tbody>\n</table>\n"
            if metrics.missedDetections.count > maxDisconnectRows {
                h += "<p class=\"warn\">\(metrics.missedDetections.count - maxDisconnectRows) more missed detections are not listed.</p>\n"
            }
        }
        return h + "</section>\n"
    }

    // MARK: - Helpers

    /// Escapes text for HTML content and attribute values (also inside inline SVG).
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab and newline are not allowed in HTML text.
                if (c.value < 0x20 && c != "\t" && c != "\n") || c.value == 0x7F {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out
    }

    /// A coordinate with at most one decimal.
    static func n(_ value: Double) -> String { MetricText.decimal(value, places: 1) }

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

    static func niceFloor(_ v: Double) -> Double {
        guard v > 0 else { return 0 }
        let p = pow(10, floor(log10(v)))
        for m in [5.0, 2, 1] where m * p <= v { return m * p }
        return p
    }

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

    static let css = """
    :root { --ok: #1a7f37; --bad: #cf222e; --det: #0969da; --muted: #57606a; --line: #d0d7de; }
    * { box-sizing: border-box; }
    body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0 auto; padding: 16px 24px 40px; max-width: 1180px; }
    h1 { font-size: 24px; margin: 8px 0 12px; word-break: break-word; }
    h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
    h3 { font-size: 15px; margin: 18px 0 6px; }
    .muted { color: var(--muted); margin: 4px 0 8px; }
    .warn { color: #9a6700; background: #fff8c5; border: 1px solid #e7d28a; padding: 4px 8px; border-radius: 4px; }
    .limits { background: #f6f8fa; border: 1px solid var(--line); padding: 6px 10px; border-radius: 4px; margin-top: 8px; }
    .limits ul { margin: 4px 0 0 18px; padding: 0; }
    .facts { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 0; }
    .facts div { display: flex; gap: 6px; }
    .facts dt { color: var(--muted); }
    .facts dd { margin: 0; font-weight: 600; word-break: break-word; }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700; color: #fff; vertical-align: middle; }
    h1 .badge { font-size: 15px; padding: 2px 12px; }
    .badge.pass { background: var(--ok); } .badge.fail { background: var(--bad); } .badge.partial { background: #9a6700; }
    .badge.false { background: var(--bad); } .badge.detection { background: var(--det); }
    table { border-collapse: collapse; margin: 6px 0; }
    th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
    th { background: #f6f8fa; font-weight: 600; }
    tr.fail td { background: #ffebe9; }
    tr.uncounted td { color: var(--muted); }
    table.compact td, table.compact th { padding: 2px 8px; }
    table.disconnects td:first-child { font-variant-numeric: tabular-nums; white-space: nowrap; }
    .scroll { overflow-x: auto; }
    svg.chart { display: block; font-size: 11px; font-family: inherit; }
    svg .grid { stroke: #eaeef2; stroke-width: 1; }
    svg .tick, svg .row-label { fill: var(--muted); }
    svg .row-label { font-size: 10px; }
    svg .phase-label { fill: #1f2328; font-size: 11px; font-weight: 600; }
    svg .frame { fill: none; stroke: var(--line); }
    svg .up { fill: #4ac26b; }
    svg .down { fill: #e6e8eb; }
    svg .usable { fill: #e6e8eb; }
    svg .stalled { fill: #f0b72f; }
    svg .dead { fill: #82071e; }
    svg .phase { opacity: 0.2; pointer-events: none; }
    svg .phase-edge { stroke-width: 1; stroke-dasharray: 2 2; pointer-events: none; }
    .p0.phase-edge { stroke: #8250df; } .p1.phase-edge { stroke: #bf3989; } .p2.phase-edge { stroke: #0969da; }
    .p3.phase-edge { stroke: #bc4c00; } .p4.phase-edge { stroke: #1a7f37; } .p5.phase-edge { stroke: #57606a; }
    .p0 { fill: #8250df; background: #8250df; } .p1 { fill: #bf3989; background: #bf3989; } .p2 { fill: #0969da; background: #0969da; }
    .p3 { fill: #bc4c00; background: #bc4c00; } .p4 { fill: #1a7f37; background: #1a7f37; } .p5 { fill: #57606a; background: #57606a; }
    svg .mark { stroke-width: 2; fill: none; }
    svg .mark.false { stroke: var(--bad); }
    svg .mark.detection { stroke: var(--det); }
    svg .mark.uncounted { stroke-width: 1; opacity: 0.7; }
    svg .mark.dense { stroke-width: 1; }
    svg .cdf { fill: none; stroke: var(--det); stroke-width: 2; }
    svg .quantile { stroke: #8c959f; stroke-dasharray: 3 3; }
    svg .quantile-dot { fill: var(--det); }
    svg .qlabel { fill: #1f2328; font-size: 11px; }
    .legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 6px 0 10px; color: var(--muted); font-size: 12px; }
    .legend span { display: inline-flex; align-items: center; gap: 5px; }
    i.sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
    i.sw.up { background: #4ac26b; } i.sw.down { background: #e6e8eb; border: 1px solid #d0d7de; }
    i.sw.stalled { background: #f0b72f; } i.sw.dead { background: #82071e; } i.sw.phase { opacity: 0.35; }
    i.tk { display: inline-block; width: 3px; height: 14px; }
    i.tk.false { background: var(--bad); } i.tk.detection { background: var(--det); }
    footer { margin-top: 32px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }

    """
}
