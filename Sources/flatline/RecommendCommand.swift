import ArgumentParser
import Foundation
import LabCore
import Metrics
import Reports
import Runner
import Scenario
import Simulator
import Timeouts

/// `flatline recommend --from SOURCE... --stack S --max-false R --detect-within D ...`: the timeout
/// engine's last steps. Learns from the sources, proposes the stack's heartbeat settings for the
/// objective, and proves them by replaying the given scenarios in simulation with the settings
/// applied, Monte Carlo over seeds, for enough connection-hours to support the objective, and
/// each scenario again with a dead network to its end; with --live, also once on loopback with
/// the real components, time-scaled. Writes recommendation.json and summary.md under --out (the
/// live runs' results folders under --out/live). Exit 0 feasible and validated, 1 not, 2 bad input.
struct RecommendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend",
        abstract: "Propose heartbeat settings for an objective, and prove them by replay.",
        discussion: """
        Stacks: \(TimeoutStack.allCases.map(\.rawValue).joined(separator: ", ")). Rates are written \
        like 1/1000h (false disconnects per connection-hours) and 4/m (pings per minute). \
        docs/recommend.md describes the semantics, the prediction and recommendation.json.
        """
    )

    @Option(name: .long, help: "What to learn from (repeatable): results folders, event logs, sample files, Flent captures.")
    var from: [String] = []

    @Option(name: .long, help: "The stack to configure.")
    var stack: String

    @Option(name: .customLong("max-false"), help: "At most this many false disconnects, e.g. 1/1000h.")
    var maxFalse: String

    @Option(name: .customLong("detect-within"), help: "Detect a dead network within this, e.g. 45s.")
    var detectWithin: DurationArgument

    @Option(name: .customLong("tolerate-stall"), help: "Stalls up to this long must never disconnect.")
    var tolerateStall: DurationArgument = "0s"

    @Option(name: .customLong("max-pings"), help: "At most this many pings, e.g. 4/m.")
    var maxPings: String?

    @Option(name: .customLong("idle-timeout"), help: "A middlebox on the path closes connections idle this long.")
    var idleTimeout: DurationArgument?

    @Option(name: .customLong("min-ping-interval"), help: "The smallest ping interval the peer accepts (gRPC servers: 5 min unless configured).")
    var minPingInterval: DurationArgument?

    @Option(name: .customLong("validate"), help: "Scenario files to replay with the settings (repeatable).")
    var validationScenarios: [String] = []

    @Option(name: .customLong("outage-runs"), help: "Dead-network replays per scenario.")
    var outageRuns: Int = 5

    @Option(name: .customLong("max-runs"), help: "At most this many simulated runs per scenario for the false-disconnect replay.")
    var maxRuns: Int = 2000

    @Flag(name: .customLong("live"), help: "Also replay each scenario once live on loopback (its network dead for the second half), to check the real components do what the simulation predicted.")
    var live = false

    @Option(name: .customLong("time-scale"), help: "Live replays: multiply every duration by this, e.g. 0.1 runs 20 minutes in 2.")
    var timeScale = 1.0

    @Option(name: .long, help: "Seed of the learning and of the replays.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Folder recommendation.json and summary.md are written to.")
    var out: String = "results/recommend"

    /// The first problem with the arguments, as the message to print; nil when they are valid.
    /// Checked in `run`, not `validate`, so that bad input exits 2 as documented, not 64.
    func inputProblem() -> String? {
        if from.isEmpty { return "--from: give at least one source to learn from" }
        if TimeoutStack(rawValue: stack) == nil {
            return "--stack \(stack): unknown stack; expected one of \(TimeoutStack.allCases.map(\.rawValue).joined(separator: ", "))"
        }
        if (TimeoutObjective.rate(maxFalse, per: 3600) ?? 0) <= 0 {
            return "--max-false \(maxFalse): expected a rate above zero such as 1/1000h (false disconnects per connection-hours)"
        }
        if let maxPings, (TimeoutObjective.rate(maxPings, per: 60) ?? 0) <= 0 {
            return "--max-pings \(maxPings): expected a rate above zero such as 4/m"
        }
        if detectWithin.value <= .zero { return "--detect-within \(detectWithin.text): must be > 0" }
        if tolerateStall.value < .zero { return "--tolerate-stall \(tolerateStall.text): must be >= 0" }
        if let idleTimeout, idleTimeout.value <= .zero { return "--idle-timeout \(idleTimeout.text): must be > 0" }
        if let minPingInterval, minPingInterval.value <= .zero { return "--min-ping-interval \(minPingInterval.text): must be > 0" }
        if !(timeScale > 0 && timeScale <= 100) { return "--time-scale must be in (0, 100], got \(timeScale)" }
        if !live, timeScale != 1 { return "--time-scale applies to the live replays: add --live" }
        if !(1...100).contains(outageRuns) { return "--outage-runs must be 1-100, got \(outageRuns)" }
        if !(1...100_000).contains(maxRuns) { return "--max-runs must be 1-100000, got \(maxRuns)" }
        return nil
    }

    func run() async throws {
        if let problem = inputProblem() {
            FileHandle.standardError.write(Data("error: \(problem)\n".utf8))
            throw ExitCode(2)
        }
        let stack = TimeoutStack(rawValue: self.stack)!
        let objective = TimeoutObjective(
            maxFalsePerHour: TimeoutObjective.rate(maxFalse, per: 3600)!, detectWithin: detectWithin.value.seconds,
            tolerateStall: tolerateStall.value.seconds, maxPingsPerMinute: maxPings.flatMap { TimeoutObjective.rate($0, per: 60) },
            idleTimeout: idleTimeout?.value.seconds, minimumInterval: minPingInterval?.value.seconds)
        // Bad input first, before anything is computed or written.
        var observations = Observations()
        var scenarios: [(Scenario, String)] = []
        do {
            for path in from { observations.merge(try TraceReader.observe(path)) }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        for path in validationScenarios {
            do {
                scenarios.append((try Scenario.load(path: path), path))
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let model = LearnedModel.learn(from: observations, sources: from, seed: seed)
        // No scenario given: the learned model is the scenario (its round trip and stall process),
        // judged by the stall tolerance asked for.
        if scenarios.isEmpty {
            let stall = max(1, Int(objective.tolerateStall.rounded(.up)))
            let yaml = model.scenarioYAML(name: "learned-model", clients: 20, duration: "1h", toleratedStall: "\(stall)s")
            do {
                scenarios.append((try Scenario.parse(yaml: yaml, source: "the learned model"), "the learned model"))
            } catch {
                FileHandle.standardError.write(Data("error: the learned model as a scenario: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        let recommendation = Recommender.recommend(model, stack: stack, objective: objective)
        var validation = ValidationResult(neededConnectionHours: ValidationResult.neededHours(objective.maxFalsePerHour),
                                          scenarios: scenarios.map(\.1))
        if let chosen = recommendation.chosen, recommendation.feasible {
            let lines = stack.setLines(interval: chosen.interval, timeout: chosen.timeout, tolerateStall: objective.tolerateStall)
            do {
                validation = try Self.replay(scenarios, lines: lines, stack: stack, objective: objective, seed: seed,
                                             outageRuns: outageRuns, maxRuns: maxRuns, needed: validation.neededConnectionHours)
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(2)
            }
            if live {
                do {
                    let (result, notes) = try await Self.replayLive(scenarios, lines: lines, timeScale: timeScale, seed: seed,
                                                                    results: URL(fileURLWithPath: out).appendingPathComponent("live"))
                    validation.live = result
                    validation.notes += notes
                } catch {
                    FileHandle.standardError.write(Data("error: live replay: \(error)\n".utf8))
                    throw ExitCode(2)
                }
            }
        } else {
            validation.notes.append("nothing to replay: the objective is infeasible")
        }
        let json = recommendation.json(validated: validation, sources: from)
        let summary = recommendation.explanation(validated: validation)
        let folder = URL(fileURLWithPath: out)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(json.serialized + [0x0a]).write(to: folder.appendingPathComponent("recommendation.json"), options: .atomic)
            try Data(summary.utf8).write(to: folder.appendingPathComponent("summary.md"), options: .atomic)
            try Data(model.json.serialized + [0x0a]).write(to: folder.appendingPathComponent("model.json"), options: .atomic)
            try Data(Self.report(recommendation, summary: summary).utf8).write(to: folder.appendingPathComponent("report.html"), options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("error: \(out): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        print(summary, terminator: "")
        print("written: \(out)/recommendation.json, summary.md, report.html and model.json")
        if !(recommendation.feasible && validation.passed(objective)) { throw ExitCode(1) }
    }

    /// report.html: the explanation and the trade-off curve (worst detection against predicted
    /// false disconnects per connection-hour, the interval's upper end and the estimate), with the
    /// recommendation marked.
    static func report(_ recommendation: Recommendation, summary: String) -> String {
        let curve = recommendation.curve
        let chart = TradeOffChart(
            title: "Trade-off at interval \(curve.first.map { String(format: "%g", $0.interval) } ?? "?") s",
            xLabel: "worst detection of a dead network (s)", yLabel: "false disconnects per connection-hour",
            series: [
                .init(label: "predicted, upper end of the interval", points: curve.map { ($0.detectionMax, $0.falsePerHour.upper) }),
                .init(label: "predicted", points: curve.map { ($0.detectionMax, $0.falsePerHour.value) }),
            ],
            marker: recommendation.chosen.map { ($0.detectionMax, $0.falsePerHour.upper, recommendation.feasible ? "recommended" : "closest") })
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Flatline recommendation: \(Markup.escape(recommendation.stack.rawValue))</title>
        <style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}</style>
        </head><body>
        <h1>Recommendation for \(Markup.escape(recommendation.stack.rawValue)): \(recommendation.feasible ? "feasible" : "infeasible")</h1>
        \(chart.svg())
        <pre>\(Markup.escape(summary))</pre>
        </body></html>

        """
    }

    /// Replays each scenario once live on loopback with `lines` applied and every duration scaled
    /// by `timeScale`, its network dead from the middle to the end (random faults left out, so the
    /// detection is timed from the death; the simulated replays judge them), and measures what the real components did, in scenario time. The results
    /// folders go under `results`. Returns the result and notes on what it could not apply.
    static func replayLive(_ scenarios: [(Scenario, String)], lines: [String], timeScale: Double, seed: UInt64,
                           results: URL) async throws -> (ValidationResult.LiveValidation, [String]) {
        var live = ValidationResult.LiveValidation(timeScale: timeScale)
        var notes: [String] = []
        let runner = ScenarioRunner(resultsRoot: results, version: flatlineVersion)
        for (base, file) in scenarios {
            var scenario = try base.applying(overrides: lines)
            if !scenario.faults.isEmpty {
                scenario.faults = FaultProcesses()
                notes.append("\(file): its random faults are left out of the live replay, so that its detection is timed from the death (the simulated replays judge them)")
            }
            if case .external = scenario.server {
                notes.append("\(file): the external server keeps its own heartbeat settings live; give it the recommended ones in its command")
            }
            let start = TimeSpan.nanoseconds(scenario.duration.nanoseconds / 2)
            scenario.phases.append(Phase(at: start, end: .scenarioEnd, conditions: .both([.blackhole(BlackholeCondition())]),
                                         note: "dead network (recommend --live)"))
            let result = try await runner.live(scenario, source: file, timeScale: timeScale, seed: seed)
            guard let metrics = result.metrics.first else { continue }
            live.runs += 1
            if let folder = result.folder { live.folders.append(folder.path) }
            live.connectionHours += metrics.overall.connectedTime.seconds / timeScale / 3600
            live.falseDisconnects += metrics.overall.falseDisconnects
            // The run's times are scaled: the death began at start × timeScale.
            let died = TimeSpan.seconds(start.seconds * timeScale)
            live.missedDetections += metrics.missedDetections.filter { $0.period.end > died }.count
            var first: [String: TimeSpan] = [:]
            for d in metrics.disconnects where d.counted && d.time >= died {
                let key = "\(d.connection) \(d.side.rawValue)"
                if first[key] == nil { first[key] = d.time - died }
            }
            if let worst = first.values.max() {
                live.worstDetection = max(live.worstDetection ?? 0, worst.seconds / timeScale)
            }
        }
        return (live, notes)
    }

    /// Replays each scenario with `lines` applied: seeded simulated runs until `needed`
    /// connection-hours (or `maxRuns` runs) for false disconnects, then `outageRuns` runs with the
    /// network dead from a point in the second half to the end, for detection.
    static func replay(_ scenarios: [(Scenario, String)], lines: [String], stack: TimeoutStack, objective: TimeoutObjective,
                       seed: UInt64, outageRuns: Int, maxRuns: Int, needed: Double) throws -> ValidationResult {
        var result = ValidationResult(neededConnectionHours: needed, scenarios: scenarios.map(\.1))
        if stack != .flatline && stack != .pythonSocketIO {
            result.notes.append("simulated with Flatline's built-in Engine.IO timers and the \(stack.rawValue) settings; the stack's own detection semantics are applied to the prediction only")
        }
        for (base, file) in scenarios {
            let scenario = try base.applying(overrides: lines)
            let truth = GroundTruth(scenario: scenario)
            // Spread the hours needed over the scenarios.
            let share = needed / Double(scenarios.count)
            var hours = 0.0
            var run: UInt64 = 0
            while hours < share, run < UInt64(maxRuns) {
                let metrics = try ScenarioSimulation.simulate(scenario, run: run, seed: seed, source: file, truth: truth).metrics
                hours += metrics.overall.connectedTime.seconds / 3600
                result.falseDisconnects += metrics.overall.falseDisconnects
                result.runs += 1
                run += 1
            }
            result.connectionHours += hours
            if hours < share {
                result.notes.append("\(file): \(maxRuns) runs gave \(String(format: "%.0f", hours)) of the \(String(format: "%.0f", share)) connection-hours needed")
            }
            // The dead network: from a point of the second half (spread over a minute across the
            // runs) to the end.
            for k in 0..<outageRuns {
                // The dead network alone: the scenario's random faults are left out here (they are
                // judged by the runs above), so each connection's detection is timed from the
                // network's death.
                var dead = scenario
                dead.faults = FaultProcesses()
                let half = scenario.duration.nanoseconds / 2
                let spread = min(Int64(Double(k) / Double(outageRuns) * 60e9), half / 2)
                let start = TimeSpan.nanoseconds(half + spread)
                dead.phases.append(Phase(at: start, end: .scenarioEnd, conditions: .both([.blackhole(BlackholeCondition())]),
                                         note: "dead network (recommend)"))
                let metrics = try ScenarioSimulation.simulate(dead, run: UInt64(k), seed: seed &+ 7919, source: file,
                                                              truth: GroundTruth(scenario: dead)).metrics
                result.outageRuns += 1
                result.missedDetections += metrics.missedDetections.filter { $0.period.end > start }.count
                // Each side's first counted disconnect after the death; a connection has detected
                // once both sides have (the prediction's worst case is over both sides too).
                var first: [String: TimeSpan] = [:]
                for d in metrics.disconnects where d.counted && d.time >= start {
                    let key = "\(d.connection) \(d.side.rawValue)"
                    if first[key] == nil { first[key] = d.time - start }
                }
                if let worst = first.values.max() {
                    result.worstDetection = max(result.worstDetection ?? 0, worst.seconds)
                }
            }
        }
        if result.worstDetection == nil { result.notes.append("no detection was measured in the dead-network replays") }
        return result
    }
}
