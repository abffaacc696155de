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
/// each scenario again with a dead network to its end. Writes recommendation.json and
/// summary.md under --out. Exit 0 feasible and validated, 1 not, 2 bad input.
struct RecommendCommand: ParsableCommand {
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
        if !(1...100).contains(outageRuns) { return "--outage-runs must be 1-100, got \(outageRuns)" }
        if !(1...100_000).contains(maxRuns) { return "--max-runs must be 1-100000, got \(maxRuns)" }
        return nil
    }

    func run() throws {
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
