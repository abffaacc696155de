import LabCore
import Metrics
import Scenario

/// A run's `report.html`: one self-contained page (inline CSS and SVG, no script, no external
/// file) a person can read without tools: the header, the verdicts, the key metrics, the connection
/// timeline over the phases with every disconnect marked false or detection, the RTT distribution
/// and the list of disconnects (DESIGN.md, "Results").
///
/// Every text that comes from a scenario file or an event log is escaped (`Markup.escape`). What
/// is drawn is bounded whatever the log's size: at most `maxConnections` timeline rows, bars and
/// phase bands merged below a pixel, disconnect ticks merged to about `markBudget` (drawn as one
/// path per kind on a busy row), a CDF sampled to 600 points and at most `maxDisconnectRows` rows
/// in the disconnect list, with a note saying what was left out.
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
        self.metrics = metrics ?? RunMetrics.compute(events: events, truth: truth, duration: scenario.duration,
                                                     options: MetricsOptions(scenario: scenario))
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
        h += "<title>\(Markup.escape(scenario.name)) \u{2014} \(status) \u{2014} Flatline report</title>\n"
        h += "<style>\n\(ReportStyles.css)</style>\n</head>\n<body>\n"
        h += header(status: status)
        h += verdictSection()
        h += metricsSection()
        h += TimelineChart(scenario: scenario, truth: truth, metrics: metrics, events: events, maxConnections: maxConnections,
                           markBudget: markBudget, maxTitledMarks: maxTitledMarks).section()
        h += RTTDistributionChart(events: events, shownRun: shownRun).section()
        h += disconnectSection()
        h += "<footer>Flatline \(Markup.escape(version)) \u{b7} \(Markup.escape(mode)) run \u{b7} seed \(seed) \u{b7} "
        h += "the event log is in events\(runs > 1 ? "-\(shownRun)" : "").jsonl, the figures in summary.json.</footer>\n"
        h += "</body>\n</html>\n"
        return h
    }

    // MARK: - Header

    /// The `<header>`: the scenario's name and status, the run's facts, and the notes on what
    /// was not modelled.
    private func header(status: String) -> String {
        var h = "<header>\n<h1>\(Markup.escape(scenario.name)) <span class=\"badge \(status.lowercased())\">\(status)</span></h1>\n"
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
            h += "<div><dt>\(Markup.escape(key))</dt><dd>\(Markup.escape(value))</dd></div>\n"
        }
        h += "</dl>\n"
        if partial {
            h += "<p class=\"warn\">This run was interrupted: the results are partial.</p>\n"
        }
        if !limitations.isEmpty {
            h += "<div class=\"limits\"><strong>Not modelled in this run:</strong><ul>\n"
            for note in limitations { h += "<li>\(Markup.escape(note))</li>\n" }
            h += "</ul></div>\n"
        }
        return h + "</header>\n"
    }
}
