import ArgumentParser
import Foundation
import LabCore
import Timeouts

/// `flatline learn SOURCE... [--out DIR] [--json]`: the timeout engine's learning step. Reads runs'
/// event logs, sample files and Flent captures, fits the RTT and heartbeat-gap distributions (body
/// and tail), infers the stall process and counts losses and disconnects, and writes `model.json`
/// , `summary.md` and `scenario.yaml` (the model as a scenario) under `--out`. Exit 0, or 2 on bad input (nothing is written then).
struct LearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Learn RTT, heartbeat-gap and stall distributions from runs, samples or captures.",
        discussion: """
        SOURCE: a results folder or events.jsonl (live or simulated, or what `flatline proxy --events` \
        saw), a CSV or text file of samples (a header naming rtt_ms, rtt_s or arrival_s; without one, \
        arrival times in seconds), a JSON object of such arrays, or a Flent .flent.gz capture. \
        docs/learn.md describes model.json.
        """
    )

    @Argument(help: "Results folders, event logs, sample files or Flent captures.")
    var sources: [String] = []

    @Option(name: .long, help: "Folder model.json and summary.md are written to.")
    var out: String = "results/learn"

    @Flag(name: .long, help: "Print model.json instead of the summary.")
    var json = false

    @Option(name: .long, help: "Seed of the bootstrap intervals.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Two-sided confidence of every interval, e.g. 95% or 0.99.")
    var confidence: String = "95%"

    @Option(name: .customLong("stall-factor"), help: "A gap longer than this many heartbeat periods is a stall episode.")
    var stallFactor: Double = 3

    func validate() throws {
        if sources.isEmpty { throw ValidationError("give at least one source: a results folder, events file, sample file or Flent capture") }
        if !(stallFactor > 1 && stallFactor.isFinite) { throw ValidationError("--stall-factor \(stallFactor): must be a number > 1") }
        if Self.fraction(confidence) == nil { throw ValidationError("--confidence \(confidence): expected a level between 50% and 99.99%, e.g. 95% or 0.95") }
    }

    /// "95%" or "0.95" as 0.95; nil outside [0.5, 0.9999].
    static func fraction(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let value = trimmed.hasSuffix("%") ? Double(trimmed.dropLast()).map { $0 / 100 } : Double(trimmed)
        guard let value, value >= 0.5, value <= 0.9999 else { return nil }
        return value
    }

    func run() throws {
        var observations = Observations()
        do {
            for path in sources { observations.merge(try TraceReader.observe(path)) }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if observations.traces.isEmpty && observations.rtts.isEmpty && observations.connections == 0 {
            FileHandle.standardError.write(Data("error: \(sources.joined(separator: ", ")): no heartbeats, RTT samples or connections in it\n".utf8))
            throw ExitCode(2)
        }
        let model = LearnedModel.learn(from: observations, sources: sources, seed: seed, stallFactor: stallFactor,
                                        confidence: Self.fraction(confidence) ?? 0.95)
        let summary = model.summary
        let folder = URL(fileURLWithPath: out)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(model.json.serialized + [0x0a]).write(to: folder.appendingPathComponent("model.json"), options: .atomic)
            try Data(summary.utf8).write(to: folder.appendingPathComponent("summary.md"), options: .atomic)
            try Data(model.scenarioYAML().utf8).write(to: folder.appendingPathComponent("scenario.yaml"), options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("error: \(out): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            FileHandle.standardOutput.write(Data(model.json.serialized + [0x0a]))
        } else {
            print(summary, terminator: "")
            print("written: \(out)/model.json, summary.md and scenario.yaml (the model as a scenario: flatline run \(out)/scenario.yaml)")
        }
    }
}
