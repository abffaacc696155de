import ArgumentParser
import Foundation
import Heartbeat
import LabCore
import Reports
import Runner
import Timeouts

/// `flatline detectors TRACE... [--generate C] [--out DIR]`: the detector bench. Every detector's
/// knob is swept over every trace; each setting is scored by Chen-Toueg-Aguilera QoS on simulated
/// crashes; the curves, one chart per trace, the read-outs and the adaptive detector's dominance
/// are written under `--out`. Exit 0, or 2 on bad input (nothing is written then).
struct DetectorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detectors",
        abstract: "Compare failure detectors on heartbeat traces: detection time against mistake rate.",
        discussion: """
        TRACE: heartbeat arrival times (text, one per line, seconds), a Flatline event log or \
        results folder, or a Flent .flent.gz capture (its ping series). --generate adds seeded \
        synthetic traces: \(TraceGenerator.Condition.allCases.map(\.rawValue).joined(separator: ", ")), or all.
        """
    )

    @Argument(help: "Trace files or results folders.")
    var traces: [String] = []

    @Option(name: .long, help: "Add a generated trace for this condition (repeatable), or 'all'.")
    var generate: [String] = []

    @Option(name: .long, help: "Seed of the generated traces.")
    var seed: UInt64 = 1

    @Option(name: .customLong("generated-duration"), help: "Length of each generated trace (e.g. 2h).")
    var generatedDuration: DurationArgument = "2h"

    @Option(name: .long, help: "Heartbeat period of the generated traces.")
    var period: DurationArgument = "1s"

    @Option(name: .customLong("at-mistakes"), help: "Read-out: the best mean detection time with at most this many mistakes per hour.")
    var atMistakes: Double = 0

    @Option(name: .customLong("at-detection"), help: "Read-out: the fewest mistakes with a mean detection time within this (default: 3 heartbeat periods of each trace).")
    var atDetection: DurationArgument?

    @Option(name: .long, help: "Folder the curves, charts and tables are written to.")
    var out: String = "results/detectors"

    func validate() throws {
        if traces.isEmpty && generate.isEmpty { throw ValidationError("give a trace file, or --generate CONDITION") }
        for name in generate where name != "all" && TraceGenerator.Condition(rawValue: name) == nil {
            throw ValidationError("--generate \(name): unknown condition; expected all or one of \(TraceGenerator.Condition.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if !(atMistakes >= 0 && atMistakes.isFinite) { throw ValidationError("--at-mistakes \(atMistakes): expected a number of mistakes per hour >= 0") }
        if period.value <= .zero { throw ValidationError("--period \(period.text): must be > 0") }
        if generatedDuration.value <= .zero || generatedDuration.value > .seconds(30 * 86_400) {
            throw ValidationError("--generated-duration \(generatedDuration.text): must be > 0 and at most 30 days")
        }
        if generatedDuration.value.nanoseconds / max(period.value.nanoseconds, 1) > 5_000_000 {
            throw ValidationError("--generated-duration / --period: more than 5,000,000 heartbeats per trace")
        }
    }

    func run() throws {
        var all: [ArrivalTrace] = []
        var skipped: [String] = []
        do {
            for path in traces {
                let read = try TraceReader.read(path)
                if read.isEmpty { skipped.append("\(path) (no heartbeat or latency series in it)") }
                all += read
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let generator = TraceGenerator(period: period.value, duration: generatedDuration.value, seed: seed)
        let conditions = generate.contains("all") ? TraceGenerator.Condition.allCases : generate.compactMap(TraceGenerator.Condition.init(rawValue:))
        all += conditions.map(generator.trace)

        let bench = DetectorBench()
        var points: [CurvePoint] = []
        var report = "# Detector bench\n\nCurves: curves.csv. Mean detection time (T_D) against mistakes per hour (λ_M), "
        report += "each detector at its best knob for the read-out (Chen, Toueg, Aguilera 2002).\n\n"
        var charts: [(String, String)] = []
        for trace in all {
            let curves = bench.curves(for: trace)
            guard !curves.isEmpty, let period = trace.medianInterval else {
                skipped.append("\(trace.name) (\(trace.arrivals.count) arrivals: too few to score after the warm-up of \(bench.warmUp))")
                continue
            }
            points += curves
            let detectWithin = atDetection?.value.seconds ?? 3 * period.seconds
            report += "## \(trace.name)\n\n\(trace.arrivals.count) arrivals over \(Self.format(trace.span.seconds)) s, heartbeat period (median gap) \(Self.format(period.seconds)) s.\n\n"
            report += "| detector | T_D mean at ≤ \(Self.format(atMistakes)) mistakes/h | mistakes/h at T_D ≤ \(Self.format(detectWithin)) s |\n|---|---|---|\n"
            for family in bench.families {
                let mine = curves.filter { $0.family == family }
                let td = DetectorBench.detectionTime(atMost: atMistakes, in: mine).map { "\(Self.format($0)) s" } ?? "none reaches it"
                let mr = DetectorBench.mistakeRate(detectingWithin: detectWithin, in: mine).map(Self.format) ?? "none detects so fast"
                report += "| \(family.rawValue) | \(td) | \(mr) |\n"
            }
            let dominance = DetectorBench.dominance(curves)
            if !dominance.isEmpty {
                report += "\n"
                for d in dominance {
                    let worst = d.worstRatio.map(Self.format) ?? "-", best = d.bestRatio.map(Self.format) ?? "-"
                    report += "- \(DetectorFamily.challenger.rawValue) vs \(d.other.rawValue): \(d.dominates ? "dominates" : "does not dominate") "
                    report += "(its T_D / theirs at the same mistake rate: worst \(worst), best \(best), over \(d.compared) points)\n"
                }
            }
            report += "\n"
            let chart = TradeOffChart(
                title: trace.name, xLabel: "mistakes per hour", yLabel: "mean detection time (s)",
                series: bench.families.map { family in
                    .init(label: family.rawValue, points: curves.filter { $0.family == family }.map { ($0.qos.mistakesPerHour, $0.qos.detectionMean) })
                })
            charts.append(("curves-\(ResultsWriter.safeComponent(trace.name)).svg", chart.svg()))
        }
        if !skipped.isEmpty { report += "Not scored:\n" + skipped.map { "- \($0)\n" }.joined() }
        if points.isEmpty {
            FileHandle.standardError.write(Data("error: no trace long enough to score: \(skipped.joined(separator: "; "))\n".utf8))
            throw ExitCode(2)
        }
        let folder = URL(fileURLWithPath: out)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(DetectorBench.csv(points).utf8).write(to: folder.appendingPathComponent("curves.csv"), options: .atomic)
            try Data(report.utf8).write(to: folder.appendingPathComponent("summary.md"), options: .atomic)
            for (name, svg) in charts { try Data(svg.utf8).write(to: folder.appendingPathComponent(name), options: .atomic) }
        } catch {
            FileHandle.standardError.write(Data("error: \(out): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        print(report, terminator: "")
        print("written: \(out)/curves.csv, summary.md and \(charts.count) chart\(charts.count == 1 ? "" : "s")")
    }

    static func format(_ value: Double) -> String {
        if value.isInfinite { return "∞" }
        return String(format: value >= 100 ? "%.0f" : (value >= 1 ? "%.2f" : "%.3g"), value)
    }
}
