import Foundation
import LabCore
import Metrics
import Reports
import Scenario
import Testing

@Suite struct HTMLReportTests {
    static let yaml = """
    name: report
    seed: 5
    duration: 2m
    server: { builtin: socketio, pingInterval: 10s, pingTimeout: 5s }
    clients: { count: 3, builtin: socketio }
    link: { both: { latency: 20ms } }
    phases:
      - { at: 30s, for: 10s, both: stall, note: roaming }
      - { at: 100s, until: end, both: blackhole, note: outage }
    expect: { falseDisconnects: 0, detectionWithin: 30s }
    """

    /// c1 drops 5 s into the 10 s roaming stall (false: tolerated stall is 10 s), reconnects, and
    /// drops 12 s into the outage (a detection); the server side also notices the outage on c2.
    static var events: [LabEvent] {
        [
            LabEvent(time: .zero, connection: "c1", side: .client, kind: .connect),
            LabEvent(time: .zero, connection: "c2", side: .client, kind: .connect),
            LabEvent(time: .seconds(1), connection: "c3", side: .client, kind: .connect),
            LabEvent(time: .seconds(10), connection: "c2", side: .server, kind: .ping),
            LabEvent(time: .seconds(10.04), connection: "c2", side: .server, kind: .pong, rtt: .milliseconds(40)),
            LabEvent(time: .seconds(20), connection: "c2", side: .server, kind: .ping),
            LabEvent(time: .seconds(20.05), connection: "c2", side: .server, kind: .pong, rtt: .milliseconds(50)),
            LabEvent(time: .seconds(20.06), connection: "c3", side: .server, kind: .pong, rtt: .milliseconds(60)),
            LabEvent(time: .seconds(35), connection: "c1", side: .client, kind: .disconnect, reason: "ping timeout"),
            LabEvent(time: .seconds(41), connection: "c1", side: .client, kind: .connect),
            LabEvent(time: .seconds(112), connection: "c1", side: .client, kind: .disconnect, reason: "ping timeout"),
            LabEvent(time: .seconds(115), connection: "c2", side: .server, kind: .disconnect, reason: "ping timeout"),
        ]
    }

    static func report(scenario: Scenario? = nil, events: [LabEvent] = events) throws -> String {
        let scenario = try scenario ?? Scenario.parse(yaml: yaml, source: "report.yaml")
        let truth = GroundTruth(scenario: scenario)
        let metrics = RunMetrics.compute(events: events, truth: truth, duration: scenario.duration)
        return HTMLReport(scenario: scenario, source: "report.yaml", mode: "sim", seed: 5,
                          verdicts: scenario.expectations.verdicts(for: metrics), events: events, metrics: metrics,
                          truth: truth, limitations: ["nothing <unmodelled>"], version: "test").render()
    }

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test func headerAndVerdictTableShowBoundMeasuredAndResult() throws {
        let html = try Self.report()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains(#"<span class="badge fail">FAIL</span></h1>"#))
        #expect(html.contains("<dt>seed</dt><dd>5</dd>"))
        #expect(html.contains("<dt>mode</dt><dd>sim (virtual time)</dd>"))
        #expect(html.contains(#"<tr class="fail"><td>falseDisconnects</td><td>&lt;= 0</td><td>1</td><td><span class="badge fail">FAIL</span></td></tr>"#))
        #expect(html.contains(#"<tr class="pass"><td>detectionWithin</td><td>&lt;= 30s</td><td>max 12s over 1 detection, 2 missed (0 longer than the bound)</td><td><span class="badge pass">PASS</span></td></tr>"#))
        #expect(html.contains("<li>nothing &lt;unmodelled&gt;</li>"))
        // Key metrics.
        #expect(html.contains("<td>stability score (0\u{2013}100)</td>"))
        #expect(html.contains("<td>uptime</td>"))
        #expect(html.contains("<td>delivery</td><td>no messages judged</td>"))
    }

    @Test func aBroadcastStreamHasItsRowsAndAnOptionalExpectationItsBadge() throws {
        var yaml = Self.yaml.replacingOccurrences(of: "expect: { falseDisconnects: 0, detectionWithin: 30s }",
                                                  with: "workload: { broadcast: { rate: 1/m, size: 64B } }\nexpect: { deliveryAtLeast: 99%, optional: [deliveryAtLeast] }")
        yaml += "\n"
        let scenario = try Scenario.parse(yaml: yaml, source: "report.yaml")
        let truth = GroundTruth(scenario: scenario)
        // c2 gets event 1 (60 s); c1 and c3 get nothing: both were connected, so both missed it.
        let events = Self.events + [LabEvent(time: .seconds(60.1), connection: "c2", side: .client, kind: .messageReceived,
                                             detail: "broadcast 1")]
        let metrics = RunMetrics.compute(events: events.sorted { $0.time < $1.time }, truth: truth, duration: scenario.duration,
                                         options: MetricsOptions(scenario: scenario))
        let html = HTMLReport(scenario: scenario, source: "report.yaml", mode: "sim", seed: 5,
                              verdicts: scenario.expectations.verdicts(for: metrics), events: events, metrics: metrics,
                              truth: truth, limitations: [], version: "test").render()
        #expect(html.contains("<td>broadcast events delivered</td><td>33.33% (1/3)</td>"), "\(html)")
        #expect(html.contains("<td>\u{2003}missed while connected</td><td>2</td>"))
        // The same run with nothing produced: the optional expectation is shown as not judged.
        let quiet = RunMetrics.compute(events: Self.events, truth: truth, duration: .seconds(50), options: MetricsOptions(scenario: scenario))
        let skipped = HTMLReport(scenario: scenario, source: "report.yaml", mode: "sim", seed: 5,
                                 verdicts: scenario.expectations.verdicts(for: quiet), events: Self.events, metrics: quiet,
                                 truth: truth, limitations: [], version: "test").render()
        #expect(skipped.contains(#"<span class="badge skip">NOT JUDGED</span>"#), "\(skipped)")
    }

    @Test func oneTimelineRowPerConnection() throws {
        let html = try Self.report()
        #expect(Self.count(#"<g class="row""#, in: html) == 3)
        for name in ["c1", "c2", "c3"] {
            #expect(html.contains(#"<g class="row" data-connection="\#(name)">"#))
        }
        // c1 was up twice (0-35 s, 41-112 s): two green bars in its row.
        let c1 = html.components(separatedBy: #"<g class="row" data-connection="c1">"#)[1].components(separatedBy: "</g>")[0]
        #expect(Self.count(#"<rect class="up""#, in: c1) == 2)
        // Its marks: the false disconnect at 35 s and the detection at 112 s.
        let marks = html.components(separatedBy: #"<g class="marks" data-connection="c1">"#)[1].components(separatedBy: "</g>")[0]
        #expect(Self.count(#"<line class="mark false""#, in: marks) == 1)
        #expect(Self.count(#"<line class="mark detection""#, in: marks) == 1)
    }

    @Test func phasesAreShadedWithTheirNotes() throws {
        let html = try Self.report()
        #expect(html.contains(#"<rect class="phase p0""#))
        #expect(html.contains(#"<rect class="phase p1""#))
        #expect(html.contains("<title>roaming: both: stall</title>"))
        #expect(html.contains(">roaming</text>"))
        #expect(html.contains(">outage</text>"))
        #expect(html.contains(#"<rect class="stalled""#) && html.contains(#"<rect class="dead""#))
    }

    @Test func disconnectsAreMarkedFalseOrDetection() throws {
        let html = try Self.report()
        #expect(html.contains(#"<line class="mark false""#))
        #expect(html.contains(#"<line class="mark detection""#))
        #expect(html.contains("<title>c1 client disconnect at 0:35.000 (ping timeout): FALSE</title>"))
        #expect(html.contains("<title>c1 client disconnect at 1:52.000 (ping timeout): detection after 12s</title>"))
        // The list: c1's two, and c2's server-side one (not counted: c2's client side is counted).
        #expect(html.contains(#"<tr class="false"><td>0:35.000</td><td>c1</td><td>client</td><td>ping timeout</td><td><span class="badge false">false</span></td>"#))
        #expect(html.contains(#"<tr class="detection"><td>1:52.000</td><td>c1</td><td>client</td><td>ping timeout</td><td><span class="badge detection">detection</span></td><td>12s (dead since 1:40.000)</td><td>yes</td></tr>"#))
        #expect(html.contains(#"<tr class="detection uncounted"><td>1:55.000</td><td>c2</td><td>server</td>"#))
        // The RTT CDF of the three pongs.
        #expect(html.contains(#"<polyline class="cdf""#))
        #expect(html.contains("p50 50 ms"))
    }

    @Test func hostileTextIsEscaped() throws {
        var scenario = try Scenario.parse(yaml: Self.yaml, source: "report.yaml")
        scenario.name = #"<script>alert("x")</script> & 'q'"#
        scenario.phases[0].note = "</text><script>evil()</script>"
        let events = Self.events + [
            LabEvent(time: .seconds(50), connection: #"c"><svg onload=x>"#, side: .client, kind: .connect),
            LabEvent(time: .seconds(60), connection: #"c"><svg onload=x>"#, side: .client, kind: .disconnect, reason: "<img src=x onerror=y>"),
        ]
        let html = try Self.report(scenario: scenario, events: events)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("<svg onload"))
        #expect(html.contains("<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; \u{2014} FAIL \u{2014} Flatline report</title>"))
        #expect(html.contains("&lt;/text&gt;&lt;script&gt;evil()&lt;/script&gt;"))
        #expect(html.contains(#"data-connection="c&quot;&gt;&lt;svg onload=x&gt;""#))
        #expect(html.contains("&lt;img src=x onerror=y&gt;"))
    }

    /// HTML, like XML, has no place for control characters: a C0 or C1 control (U+0085 passed
    /// through before) is a parse error even in text, so the page shows U+FFFD instead.
    @Test("a control character and markup in a scenario's and a phase's name are escaped")
    func controlCharactersAndMarkupInNamesAreEscaped() throws {
        var scenario = try Scenario.parse(yaml: Self.yaml, source: "report.yaml")
        scenario.name = "dash\u{1}board <b>&amp;</b>"
        scenario.phases[0].note = "roam\u{85}ing <i onclick='x'>\u{0}"
        let html = try Self.report(scenario: scenario)
        #expect(!html.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) })
        #expect(html.contains("<h1>dash\u{FFFD}board &lt;b&gt;&amp;amp;&lt;/b&gt; <span class=\"badge"))
        #expect(html.contains("roam\u{FFFD}ing &lt;i onclick=&#39;x&#39;&gt;\u{FFFD}"))
        #expect(!html.contains("<b>") && !html.contains("<i onclick"))
    }

    @Test func selfContainedWithNoExternalReferences() throws {
        let html = try Self.report()
        let lower = html.lowercased()
        #expect(!lower.contains("<script"))
        #expect(!lower.contains("<link"))
        #expect(!lower.contains("<img"))
        #expect(!lower.contains("url("))
        #expect(!lower.contains("@import"))
        #expect(!lower.contains("http"))
        let reference = try Regex(#"(src|href)\s*=\s*["']?[^"'\s>]*http"#).ignoresCase()
        #expect(html.firstMatch(of: reference) == nil)
        #expect(lower.contains("<style>") && lower.contains("<svg"))
    }

    @Test func timelineRowsAndListsAreBounded() throws {
        var events: [LabEvent] = []
        for i in 1...250 {
            events.append(LabEvent(time: .zero, connection: "c\(i)", side: .client, kind: .connect))
            events.append(LabEvent(time: .seconds(35), connection: "c\(i)", side: .client, kind: .disconnect, reason: "ping timeout"))
            events.append(LabEvent(time: .seconds(35.005), connection: "c\(i)", side: .client, kind: .connect))
            events.append(LabEvent(time: .seconds(35.01), connection: "c\(i)", side: .client, kind: .disconnect, reason: "ping timeout"))
            events.append(LabEvent(time: .seconds(37), connection: "c\(i)", side: .client, kind: .connect))
            events.append(LabEvent(time: .seconds(80), connection: "c\(i)", side: .client, kind: .disconnect, reason: "transport close"))
        }
        // c2 drops every second: too many ticks for a tooltip each, so they are drawn as one path.
        for k in 1...100 {
            events.append(LabEvent(time: .seconds(Double(k)), connection: "c2", side: .client, kind: .connect))
            events.append(LabEvent(time: .seconds(Double(k) + 0.5), connection: "c2", side: .client, kind: .disconnect, reason: "x"))
        }
        let html = try Self.report(events: events)
        #expect(Self.count(#"<g class="row""#, in: html) == 200)
        let c2 = html.components(separatedBy: #"<g class="marks" data-connection="c2">"#)[1].components(separatedBy: "</g>")[0]
        #expect(Self.count(#"<path class="mark false dense""#, in: c2) == 1)
        #expect(Self.count(#"<line class="mark"#, in: c2) == 0)
        #expect(html.contains("Showing the first 200 of 250 connections"))
        #expect(html.contains(#"<g class="row" data-connection="c200">"#) && !html.contains(#"data-connection="c201">"#))
        // Two disconnects 10 ms apart fall in the same bucket: one tick, not two (and one at 80 s).
        let c1 = html.components(separatedBy: #"<g class="marks" data-connection="c1">"#)[1].components(separatedBy: "</g>")[0]
        #expect(Self.count("<line class=\"mark", in: c1) == 2)
        #expect(Self.count(#"<tr class="false"#, in: html) == 500)
        #expect(html.contains("350 more disconnects are not listed"))
    }
}
