import Foundation
import ProtocolTap
import LabCore
import Metrics
import Reports
import Scenario
import Simulator

/// The outcome of running one scenario (one sweep point) for one or more seeded runs.
public struct ScenarioRunResult: Sendable {
    /// The scenario as run (overrides and sweep values applied).
    public var scenario: Scenario
    /// Each run's metrics.
    public var metrics: [RunMetrics]
    /// Each expectation, passing only if it held in every run; measured values are the worst run's.
    public var verdicts: [Verdict]
    /// Mean and 95% interval of each metric over the runs.
    public var aggregate: [MetricInterval]
    /// What the simulation does not model for this scenario.
    public var limitations: [String]
    /// Where the results were written.
    public var folder: URL?
    /// Whether the run was interrupted before its end (a live run on SIGINT): the figures and
    /// verdicts then cover only `ranFor`.
    public var partial: Bool = false
    /// How long the run actually ran (the scenario's duration unless interrupted).
    public var ranFor: TimeSpan?
    /// The external programs a live run started (their output is under `logs/` in the folder).
    public var programs: [StartedProgram] = []

    /// Whether every expectation held.
    public var passed: Bool { verdicts.allSatisfy(\.passed) }
}

/// Runs scenarios in virtual time and writes their results (events.jsonl, summary.json,
/// junit.xml, report.html) under the results root: DESIGN.md's "Runner", simulated mode.
public struct ScenarioRunner: Sendable {
    /// Where results go.
    public var writer: ResultsWriter
    /// The Flatline version recorded in summaries.
    public var version: String

    /// Creates a runner writing under `resultsRoot`.
    public init(resultsRoot: URL, version: String) {
        self.writer = ResultsWriter(root: resultsRoot)
        self.version = version
    }

    /// Simulates `runs` seeded runs of `scenario` and writes one results folder. `stop`, asked
    /// after each run, ends the series early (SIGINT or SIGTERM): the runs done so far are written,
    /// marked partial, as an interrupted live run's are.
    public func simulate(_ scenario: Scenario, source: String, runs: Int, seed: UInt64?,
                         stop: (@Sendable () -> Bool)? = nil) throws -> ScenarioRunResult {
        let baseSeed = seed ?? scenario.seed
        let truth = GroundTruth(scenario: scenario)
        // Each run's events go to a file as soon as it is over, so that --runs N holds one run's
        // log in memory, not N; the files move into the results folder with the rest.
        let staged = try writer.folder(for: scenario.name)
            .appendingPathComponent(".sim-events-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer {
            try? FileManager.default.removeItem(at: staged)
            rmdir(staged.deletingLastPathComponent().path)  // no empty scenario folder after a failure
        }
        var files: [URL] = []
        var metrics: [RunMetrics] = []
        var shownEvents: [LabEvent] = []
        let planned = max(1, runs)
        var cutAt: TimeSpan?
        for run in 0..<planned {
            if run > 0, stop?() == true { break }
            let (result, measured) = try ScenarioSimulation.simulate(scenario, run: UInt64(run), seed: baseSeed, source: source,
                                                                     truth: truth, stop: stop)
            if case .stopped(let at)? = result.cut { cutAt = at }
            if run == 0 { try FileManager.default.createDirectory(at: staged, withIntermediateDirectories: true) }
            let file = staged.appendingPathComponent("run-\(run).jsonl")
            try Self.writeJSONLines(result.log, to: file)
            files.append(file)
            // The report draws connections, disconnects and RTTs: message events stay in the log.
            if run == 0 { shownEvents = result.log.filter { $0.kind != .messageSent && $0.kind != .messageReceived } }
            metrics.append(measured)
            if cutAt != nil { break }
        }
        var limitations = ScenarioSimulation.limitations(of: scenario)
        let interruption: String?
        if let cutAt {
            // The run in progress stopped where it was: it counts, judged over the virtual time it ran.
            interruption = "interrupted at \(cutAt) of \(scenario.duration) in run \(metrics.count) of \(planned): partial results"
        } else {
            interruption = metrics.count < planned ? "interrupted after \(metrics.count) of \(planned) runs: partial results" : nil
        }
        if let interruption { limitations.append(interruption + ", verdicts cover the runs done" + (cutAt == nil ? "" : " and the time that ran")) }
        // A single run cut short is judged and drawn over the time it ran, as a live run is.
        let judged = cutAt.map { at in metrics.count == 1 ? scenario.truncated(to: max(at, .milliseconds(1))) : scenario } ?? scenario
        let ranFor = judged.duration < scenario.duration ? judged.duration : nil
        var result = try finish(judged, source: source, seed: baseSeed, mode: "sim", logs: [], eventFiles: files, metrics: metrics,
                                shownEvents: shownEvents, limitations: limitations,
                                simulated: interruption.map { SimulatedInterruption(note: $0, planned: scenario.duration, ranFor: ranFor) })
        result.partial = interruption != nil
        result.ranFor = ranFor
        return result
    }

    /// Runs `scenario` live on loopback with every duration scaled by `timeScale`, and writes one
    /// results folder; times in the results are the scaled ones. External programs' stdout and
    /// stderr land in the folder's `logs/`. When the calling task is cancelled (SIGINT) the run
    /// stops early and the folder is written all the same, marked partial, its verdicts computed
    /// over the time that ran.
    public func live(_ scenario: Scenario, source: String, timeScale: Double, seed: UInt64?) async throws -> ScenarioRunResult {
        let baseSeed = seed ?? scenario.seed
        var scaled = scenario.scaled(by: timeScale)
        // External programs' templates of the run's scale ({timeScale}, {scaled:25s}, ...).
        if case .external(let server) = scaled.server {
            scaled.server = .external(server.expandingRunPlaceholders(timeScale: timeScale, scenario: scaled))
        }
        if case .external(let clients) = scaled.clients.component {
            scaled.clients.component = .external(clients.expandingRunPlaceholders(timeScale: timeScale, scenario: scaled))
        }
        let logs = try writer.folder(for: scenario.name)
            .appendingPathComponent(".live-logs-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer {
            try? FileManager.default.removeItem(at: logs)
            // A run that wrote nothing leaves no empty scenario folder behind (rmdir keeps a full one).
            rmdir(logs.deletingLastPathComponent().path)
        }
        let outcome = try await LiveScenarioRun.run(scaled, source: source, seed: baseSeed, logDirectory: logs)
        // An interrupted run is judged over what ran: the timeline cut where it stopped.
        let ran = outcome.interrupted ? scaled.truncated(to: max(outcome.ranFor, .milliseconds(1))) : scaled
        // Random faults: the episodes and restarts of run 0, as the live topology applied them.
        let truth = (ran.faults.isEmpty ? GroundTruth(scenario: ran) : GroundTruth(scenario: ran, seed: baseSeed, run: 0))
            .addingInstanceOutages(ran.instanceOutages, blackholes: ran.instanceBlackholes, pauses: ran.instancePauses,
                                   events: outcome.events)
        let metrics = RunMetrics.compute(events: outcome.events, truth: truth, duration: ran.duration,
                                         options: MetricsOptions(scenario: ran))
        let log = outcome.events.map { $0.jsonLine + "\n" }.joined()
        var notes: [String] = []
        if outcome.interrupted {
            notes.append("interrupted after \(ran.duration) of \(scaled.duration): partial results, verdicts cover what ran")
        }
        if timeScale != 1 {
            notes.append("time scale \(timeScale): every duration multiplied by it; latency distributions not rescaled")
            if case .external = scenario.server { notes.append("time scale: the external server's own settings are not rescaled") }
            if case .external = scenario.clients.component { notes.append("time scale: the external clients' own settings are not rescaled") }
        }
        if let cadence = Self.cadenceNote(outcome.events) { notes.append(cadence) }
        let serverLogged = outcome.programs.contains { LiveScenarioRun.isServerProgram($0.name) && $0.eventsMerged > 0 }
        if case .external = scenario.server, !serverLogged {
            notes.append("external server: its side is seen through the proxy's Engine.IO tap (WebSocket transport only)")
        }
        if case .external = scenario.clients.component, !scenario.clientTimerThrottle.isEmpty {
            notes.append("clients.timerAlignment: external clients' timers are not throttled (only built-in clients' are)")
        }
        for program in outcome.programs where program.eventsMerged > 0 {
            notes.append("\(program.name): \(program.eventsMerged) events of its own event log merged, its times counted from when it was started"
                + (LiveScenarioRun.isServerProgram(program.name) ? " (the proxy tap's view of it left out)" : ""))
        }
        for program in outcome.programs {
            guard let trace = program.traceback else { continue }
            notes.append("\(program.name) printed a stack trace (logs/\(program.stderr.lastPathComponent)); its last one:\n\(trace)")
        }
        for program in outcome.programs where program.exitedOnItsOwn {
            notes.append("\(program.name) exited during the run (\(program.exit ?? "exited")); see logs/\(program.stderr.lastPathComponent)")
        }
        let live = LiveDetails(planned: scaled.duration, ranFor: ran.duration, partial: outcome.interrupted, programs: outcome.programs,
                               logs: outcome.programs.isEmpty ? nil : logs)
        var result = try finish(ran, source: source, seed: baseSeed, mode: "live", logs: [log], metrics: [metrics],
                                shownEvents: outcome.events, limitations: notes, live: live,
                                connectErrors: Self.connectErrorSummary(outcome.events))
        result.partial = outcome.interrupted
        result.ranFor = ran.duration
        result.programs = outcome.programs
        return result
    }

    /// With several server instances, a line per instance (run 1's sessions, recoveries, clients
    /// that came back elsewhere, reconnect times), and what recovery could not do across them.
    static func instanceNotes(_ scenario: Scenario, _ metrics: RunMetrics?) -> [String] {
        guard let metrics, !metrics.instances.isEmpty else { return [] }
        var notes = metrics.instances.map { i in
            "instance \(i.instance) (run 1): \(i.sessions) sessions (\(i.recoveredSessions) recovered), "
                + "\(i.movedAway) ended with the client back on another instance"
                + (i.missedWhileAway.map { ", \($0) broadcast events missed by its clients while away" } ?? "")
                + (i.reconnectTimes.map { ", clients back after " + MetricText.decimal($0.mean.seconds, places: 3) + " s on average (max "
                    + MetricText.decimal($0.max.seconds, places: 3) + " s)" } ?? "")
        }
        let moved = metrics.instances.reduce(0) { $0 + $1.movedAway }
        if case .socketIO(let server) = scenario.server, server.connectionStateRecovery != nil, moved > 0 {
            notes.append("connection state recovery: \(moved) sessions ended on one instance and their clients came back on another, "
                         + "which keeps no record of them (each instance has its own store, no shared adapter): they started afresh")
        }
        return notes
    }

    /// Writes a simulated run's events as JSON lines, a megabyte at a time: the same bytes as
    /// `SimulationEventLog.jsonLines`, without the whole text in memory.
    static func writeJSONLines(_ log: SimulationEventLog, to file: URL) throws {
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw RunnerError(scenario: file.lastPathComponent, message: "cannot create \(file.path)")
        }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        try log.forEachJSONChunk { try handle.write(contentsOf: Data($0.utf8)) }
    }

    private func finish(_ scenario: Scenario, source: String, seed: UInt64, mode: String, logs: [String],
                        eventFiles: [URL] = [], metrics: [RunMetrics], shownEvents: [LabEvent], limitations: [String],
                        live: LiveDetails? = nil, simulated: SimulatedInterruption? = nil,
                        connectErrors: String? = nil) throws -> ScenarioRunResult {
        let perRun = metrics.map { scenario.expectations.verdicts(for: $0) }
        var verdicts: [Verdict] = []
        for (i, verdict) in (perRun.first ?? []).enumerated() {
            // A failing run's verdict, else a judged one's (an optional expectation some runs had
            // nothing for), else the first.
            let failing = perRun.first { !$0[i].passed }?[i]
            let judged = perRun.first { $0[i].judged }?[i]
            verdicts.append(failing ?? judged ?? verdict)
        }
        // A run in which no client ever completed a connect judged nothing: it fails, saying so,
        // whatever the expectations (a server that refuses everyone has no false disconnects).
        // (An interrupted run may simply have stopped before anyone connected: it is marked partial.)
        let interrupted = live?.partial == true || simulated != nil
        if !metrics.isEmpty, !interrupted, metrics.allSatisfy({ $0.overall.connectedTime == .zero }) {
            verdicts.append(Verdict(name: "connected", bound: "a client connects",
                                    measured: "no client ever completed a connect" + (connectErrors.map { ": \($0)" } ?? ""), passed: false))
        }
        let aggregate = RunMetrics.aggregate(metrics)
        let limitations = limitations + Self.instanceNotes(scenario, metrics.first)
        let runID = writer.newRunID(scenario: scenario.name, seed: seed, mode: mode)
        let summary = RunSummary(scenario: scenario, source: source, seed: seed, mode: mode, runs: metrics.count,
                                 version: version, verdicts: verdicts, aggregate: aggregate, limitations: limitations,
                                 live: live?.summary, partial: simulated != nil, planned: simulated?.planned, ranFor: simulated?.ranFor)
        // report.html shows the first run's timeline, RTTs and disconnects beside every run's figures.
        let report = HTMLReport(scenario: scenario, source: source, mode: mode, seed: seed, runs: metrics.count,
                                verdicts: verdicts, events: shownEvents, metrics: metrics[0],
                                aggregate: aggregate, limitations: limitations, version: version,
                                partial: live?.partial ?? (simulated != nil)).render()
        let interruption = live.flatMap { $0.partial ? "interrupted after \($0.ranFor) of \($0.planned): partial results" : nil }
            ?? simulated?.note
        let folder = try writer.write(scenario: scenario.name, runID: runID, eventLogs: logs, eventFiles: eventFiles,
                                      summary: try JSONValueEncoder().encode(summary),
                                      outcomes: verdicts, duration: scenario.duration, report: report,
                                      logs: live?.logs, interruption: interruption)
        return ScenarioRunResult(scenario: scenario, metrics: metrics, verdicts: verdicts, aggregate: aggregate,
                                 limitations: limitations, folder: folder)
    }
}

extension ScenarioRunner {
    /// The connect errors of a log by reason, most frequent first: "12 refused by server: not
    /// allowed, 3 connect timeout"; nil when there is none.
    static func connectErrorSummary(_ events: [LabEvent]) -> String? {
        var counts: [String: Int] = [:]
        for event in events where event.kind == .connectError { counts[event.reason ?? "connect error", default: 0] += 1 }
        guard !counts.isEmpty else { return nil }
        return counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }

    /// When the pings the proxy's tap saw do not keep the cadence the server advertised in its
    /// open packet (python-engineio advertises `int(ping_interval)` seconds, so a scaled 1.25 s
    /// interval is announced as 1 s), a note saying both: clients time out by the advertised one.
    static func cadenceNote(_ events: [LabEvent]) -> String? {
        var advertised: [String: Int64] = [:]
        var pings: [String: [TimeSpan]] = [:]
        for event in events where event.side == .server {
            if event.kind == .connect, let ms = EngineIOTap.advertisedPingInterval(event.detail) { advertised[event.connection] = ms }
            if event.kind == .ping { pings[event.connection, default: []].append(event.time) }
        }
        var gaps: [Double] = []
        for (connection, times) in pings where advertised[connection] != nil {
            for (a, b) in zip(times, times.dropFirst()) { gaps.append((b - a).seconds * 1000) }
        }
        guard gaps.count >= 3, let announced = advertised.values.sorted().first else { return nil }
        gaps.sort()
        let real = gaps[gaps.count / 2]
        guard abs(real - Double(announced)) > max(0.1 * Double(announced), 50) else { return nil }
        return "the server advertised pingInterval \(announced)ms but pinged every \(Int(real.rounded()))ms (median of \(gaps.count) gaps): "
            + "its clients time out by the advertised one; a setting the stack cannot honour (python-engineio advertises whole seconds)"
    }
}

/// A simulated series cut short by an interrupt: the note said everywhere, the planned duration,
/// and, when its one run stopped early, how long that run ran.
struct SimulatedInterruption {
    var note: String
    var planned: TimeSpan
    var ranFor: TimeSpan?
}

/// What a live run adds to its results: how long it ran, whether it was interrupted, the programs
/// it started and the folder holding their output.
struct LiveDetails {
    var planned: TimeSpan
    var ranFor: TimeSpan
    var partial: Bool
    var programs: [StartedProgram]
    var logs: URL?

    /// What summary.json says of the run.
    var summary: RunSummary.LiveRun {
        RunSummary.LiveRun(planned: planned, ranFor: ranFor, partial: partial, programs: programs.map { program in
            RunSummary.Program(name: program.name, command: program.command, stdout: "logs/\(program.stdout.lastPathComponent)",
                               stderr: "logs/\(program.stderr.lastPathComponent)", exit: program.exit,
                               exitedOnItsOwn: program.exitedOnItsOwn, eventsMerged: program.eventsMerged,
                               traceback: program.traceback)
        })
    }
}

extension Scenario {
    /// The scenario cut at `end`: the run's duration becomes `end` and phases starting later are
    /// dropped, so the ground truth of an interrupted run covers only what ran.
    func truncated(to end: TimeSpan) -> Scenario {
        guard end < duration else { return self }
        var out = self
        out.duration = end
        out.phases = phases.filter { $0.at < end }
        return out
    }
}
