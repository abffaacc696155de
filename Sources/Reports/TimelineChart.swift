import LabCore
import Metrics
import Scenario

/// The report's connection timeline: one row per connection (connected or not) over the
/// scenario's phases and the ground truth, every disconnect a tick marked false or detection, then
/// the table of phases. Bounded whatever the log's size: at most `maxConnections` rows, bars and
/// bands merged below a pixel, ticks merged to about `markBudget`.
struct TimelineChart {
    /// The scenario as run: its duration, phases and baseline link.
    var scenario: Scenario
    /// The ground truth the disconnects were judged against.
    var truth: GroundTruth
    /// The shown run's metrics: its connections and classified disconnects.
    var metrics: RunMetrics
    /// The shown run's events (connects and disconnects are drawn).
    var events: [LabEvent]
    /// The most rows drawn.
    var maxConnections: Int
    /// About how many disconnect ticks are drawn at most.
    var markBudget: Int
    /// A row with more ticks than this draws them as paths without a tooltip each.
    var maxTitledMarks: Int

    /// Geometry shared by the timeline's parts.
    struct Axis {
        var left: Double
        var width: Double
        var duration: TimeSpan

        func x(_ t: TimeSpan) -> Double {
            guard duration > .zero else { return left }
            let f = Double(t.nanoseconds) / Double(duration.nanoseconds)
            return left + min(max(f, 0), 1) * width
        }
    }

    /// The `<section id="timeline">`: the chart, its legend and the phase table.
    func section() -> String {
        var h = "<section id=\"timeline\">\n<h2>Connection timeline</h2>\n"
        let all = metrics.connections.filter { $0.connection != "run" }
        let shown = Array(all.prefix(max(0, maxConnections)))
        h += "<p class=\"muted\">One row per connection (\(Markup.escape(all.first?.countedSide.rawValue ?? "client")) side): "
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
            text = ReportText.truncate(text, 60)
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

        var s = "<svg class=\"chart\" viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" role=\"img\" aria-label=\"connection timeline\">\n"
        // Time grid.
        let ticks = SVG.timeTicks(duration: scenario.duration, pixels: axis.width)
        for t in ticks {
            let x = axis.x(t)
            s += "<line class=\"grid\" x1=\"\(SVG.n(x))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(x))\" y2=\"\(SVG.n(rowsBottom))\"/>"
            s += "<text class=\"tick\" x=\"\(SVG.n(x))\" y=\"\(SVG.n(rowsBottom + 14))\" text-anchor=\"middle\">\(Markup.escape(ReportText.clockLabel(t)))</text>\n"
        }
        s += "<text class=\"tick\" x=\"\(SVG.n(left + axis.width))\" y=\"\(SVG.n(rowsBottom + 27))\" text-anchor=\"end\">run time</text>\n"

        // Phase labels; the bands themselves are drawn over the rows, below.
        for label in labels {
            let y = 8 + Double(label.lane) * laneHeight + 10
            s += "<text class=\"phase-label\" x=\"\(SVG.n(label.x + 2))\" y=\"\(SVG.n(y))\">\(Markup.escape(label.text))</text>\n"
        }

        // Ground-truth strip: non-usable time amber, dead time dark red.
        s += "<text class=\"row-label\" x=\"\(SVG.n(left - 6))\" y=\"\(SVG.n(truthY + truthHeight - 1))\" text-anchor=\"end\">link truth</text>"
        s += "<rect class=\"usable\" x=\"\(SVG.n(left))\" y=\"\(SVG.n(truthY))\" width=\"\(SVG.n(axis.width))\" height=\"\(SVG.n(truthHeight))\"/>\n"
        let silent = truth.periods.filter { $0.connection == nil && $0.kind != .usable }
            .map { (axis.x($0.start), axis.x(min($0.end, scenario.duration))) }
        for (x0, x1) in SVG.mergePixels(silent, gap: 0.5) {
            s += "<rect class=\"stalled\" x=\"\(SVG.n(x0))\" y=\"\(SVG.n(truthY))\" width=\"\(SVG.n(max(x1 - x0, 1)))\" height=\"\(SVG.n(truthHeight))\"/>"
        }
        let dead = truth.deadPeriods(connection: shown.first?.connection ?? "")
        for (x0, x1) in SVG.mergePixels(dead.map { (axis.x($0.deadFrom), axis.x($0.end)) }, gap: 0.5) {
            s += "<rect class=\"dead\" x=\"\(SVG.n(x0))\" y=\"\(SVG.n(truthY))\" width=\"\(SVG.n(max(x1 - x0, 1)))\" height=\"\(SVG.n(truthHeight))\"><title>dead</title></rect>"
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
            s += "<g class=\"row\" data-connection=\"\(Markup.escape(name))\">"
            if i % labelEvery == 0 {
                s += "<text class=\"row-label\" x=\"\(SVG.n(left - 6))\" y=\"\(SVG.n(y + max(min(rowHeight, 12) - 2, 7)))\" text-anchor=\"end\">"
                s += "\(Markup.escape(ReportText.truncate(name, 14)))<title>\(Markup.escape(name))</title></text>"
            }
            s += "<rect class=\"down\" x=\"\(SVG.n(left))\" y=\"\(SVG.n(y))\" width=\"\(SVG.n(axis.width))\" height=\"\(SVG.n(rowHeight))\">"
            s += "<title>\(Markup.escape(name)): uptime \(MetricText.percent(connection.uptime)), \(connection.disconnects) disconnects (\(connection.falseDisconnects) false)</title></rect>"
            let spans = Self.connectedSpans(byConnection[name] ?? [], side: connection.countedSide, duration: scenario.duration)
            for (x0, x1) in SVG.mergePixels(spans.map { (axis.x($0.lowerBound), axis.x($0.upperBound)) }, gap: 0.75) {
                s += "<rect class=\"up\" x=\"\(SVG.n(x0))\" y=\"\(SVG.n(y))\" width=\"\(SVG.n(max(x1 - x0, 0.5)))\" height=\"\(SVG.n(rowHeight))\"/>"
            }
            s += "</g>\n"
            // Disconnect ticks, drawn after the phase bands. Ticks of one kind that fall in the same
            // bucket are merged into one, the bucket wide enough to keep the chart to about
            // `markBudget` ticks (half a pixel when the log is small). Counted ticks are drawn last.
            marksSVG += "<g class=\"marks\" data-connection=\"\(Markup.escape(name))\">"
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
                        title = "\(name) \(d.side.rawValue) disconnect at \(ReportText.clock(d.time))"
                        if !d.reason.isEmpty { title += " (\(d.reason))" }
                        switch d.classification {
                        case .falseDisconnect: title += ": FALSE"
                        case .detection(let time, _): title += ": detection after \(MetricText.seconds(time))"
                        }
                    } else {
                        title = "\(name): \(bucket.count) \(d.classification.isFalse ? "FALSE disconnects" : "detections") from \(ReportText.clock(d.time)) to \(ReportText.clock(bucket.last))"
                    }
                    if !d.counted { title += ", not counted" }
                    marksSVG += "<line class=\"mark \(cls(d))\" x1=\"\(SVG.n(x))\" y1=\"\(SVG.n(y0))\" x2=\"\(SVG.n(x))\" y2=\"\(SVG.n(y1))\"><title>\(Markup.escape(title))</title></line>"
                }
            } else {
                // Many: one path per kind, a few bytes a tick, the counts in its tooltip.
                var paths: [String: (d: String, count: Int)] = [:]
                var kinds: [String] = []
                for bucket in drawn {
                    let (x, y0, y1) = tick(bucket.first)
                    let kind = cls(bucket.first)
                    if paths[kind] == nil { kinds.append(kind) }
                    paths[kind, default: ("", 0)].d += "M\(SVG.n(x)) \(SVG.n(y0))V\(SVG.n(y1))"
                    paths[kind, default: ("", 0)].count += bucket.count
                }
                for kind in kinds {
                    let (d, count) = paths[kind]!
                    let what = kind.hasPrefix("false") ? "false disconnect\(count == 1 ? "" : "s")" : "detection\(count == 1 ? "" : "s")"
                    let title = "\(name): \(count) \(what)\(kind.hasSuffix("uncounted") ? ", not counted" : "") (see the list below)"
                    marksSVG += "<path class=\"mark \(kind) dense\" d=\"\(d)\"><title>\(Markup.escape(title))</title></path>"
                }
            }
            marksSVG += "</g>\n"
        }
        // Phase bands over the rows, under the marks (translucent, letting the rows' tooltips through), merged below
        // a pixel per phase, with their edges drawn so short phases stay visible.
        for (index, phase) in scenario.phases.enumerated() {
            let ranges = occurrences.filter { $0.phase == index }.map { (axis.x($0.range.lowerBound), axis.x($0.range.upperBound)) }
            let note = phase.note ?? "phase \(index + 1)"
            let title = Markup.escape("\(note): \(ReportText.conditionsText(phase.conditions))")
            for (x0, x1) in SVG.mergePixels(ranges, gap: 0.5) {
                s += "<rect class=\"phase p\(index % 6)\" x=\"\(SVG.n(x0))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(max(x1 - x0, 1)))\" height=\"\(SVG.n(rowsBottom - top))\">"
                s += "<title>\(title)</title></rect>"
                s += "<line class=\"phase-edge p\(index % 6)\" x1=\"\(SVG.n(x0))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(x0))\" y2=\"\(SVG.n(rowsBottom))\"/>"
                s += "<line class=\"phase-edge p\(index % 6)\" x1=\"\(SVG.n(x1))\" y1=\"\(SVG.n(top))\" x2=\"\(SVG.n(x1))\" y2=\"\(SVG.n(rowsBottom))\"/>\n"
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

    /// The table of phases: when each applies, its conditions, and what the ground truth calls it.
    private func phaseTable() -> String {
        let baseline = "Baseline link: \(Markup.escape(scenario.link.isEmpty ? "ideal" : ReportText.conditionsText(scenario.link)))"
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
            var what = [ReportText.conditionsText(phase.conditions)].filter { $0 != "none" || (!phase.serverPause && phase.clientTimerAlignment == nil) }
            if phase.serverPause { what.append("server paused") }
            if let alignment = phase.clientTimerAlignment { what.append("client timers every \(alignment)") }
            h += "<tr><td><i class=\"sw phase p\(index % 6)\"></i></td><td>\(Markup.escape(phase.note ?? "phase \(index + 1)"))</td>"
            h += "<td>\(Markup.escape(when))</td><td>\(Markup.escape(what.joined(separator: "; ")))</td><td>\(Markup.escape(truthText))</td></tr>\n"
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
}
