import ArgumentParser
import Foundation
import LabCore
import ProxyAPI
import Runner

/// `flatline run FILE...`: runs scenarios and says, with evidence, whether every expectation held.
/// Exit 0 when all hold, 1 when one fails, 2 on invalid input.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run scenario files and check their expectations (exit 0 pass, 1 fail, 2 invalid input)."
    )

    @Argument(help: "Scenario files.")
    var files: [String]

    @Option(help: "sim (virtual time) or live (loopback sockets through the fault proxy, built-in components).")
    var mode = "sim"

    @Option(name: .customLong("time-scale"), help: "Live runs: multiply every duration by this, e.g. 0.1 runs 30 minutes in 3.")
    var timeScale = 1.0

    @Option(help: "Seed for every random draw (default: the scenario's).")
    var seed: UInt64?

    @Option(help: "Monte Carlo runs with derived seeds (default: the scenario's repetitions).")
    var runs: Int?

    @Option(name: .customLong("set"), help: "Override a field, e.g. --set server.pingTimeout=60s (repeatable).")
    var overrides: [String] = []

    @Option(help: "Results root.")
    var out = "results"

    func validate() throws {
        guard mode == "sim" || mode == "live" else {
            throw ValidationError("--mode must be sim or live, got '\(mode)'")
        }
        guard timeScale > 0, timeScale <= 100 else { throw ValidationError("--time-scale must be in (0, 100], got \(timeScale)") }
        guard mode == "live" || timeScale == 1 else { throw ValidationError("--time-scale applies to --mode live only") }
        if let runs, !(1...10_000).contains(runs) { throw ValidationError("--runs must be 1-10000, got \(runs)") }
    }

    func run() async throws {
        var scenarios: [(Scenario, String)] = []
        var invalid = false
        for file in files {
            do {
                let scenario = try Scenario.load(path: file).applying(overrides: overrides)
                for point in scenario.expandSweeps() { scenarios.append((point, file)) }
            } catch {
                invalid = true
                FileHandle.standardError.write(Data("\(error)\n".utf8))
            }
        }
        if invalid { throw ExitCode(2) }
        let runner = ScenarioRunner(resultsRoot: URL(fileURLWithPath: out), version: flatlineVersion)
        var allPassed = true
        print("scenario".padding(toLength: 52, withPad: " ", startingAt: 0) + "expectation          bound        measured")
        for (scenario, file) in scenarios {
            let result: ScenarioRunResult
            do {
                if mode == "live" {
                    result = try await runner.live(scenario, source: file, timeScale: timeScale, seed: seed)
                } else {
                    result = try runner.simulate(scenario, source: file, runs: runs ?? scenario.repetitions, seed: seed)
                }
            } catch let error as RunnerError {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(2)
            }
            allPassed = allPassed && result.passed
            let name = scenario.name.padding(toLength: 52, withPad: " ", startingAt: 0)
            if result.verdicts.isEmpty { print(name + "(no expectations)") }
            for (i, v) in result.verdicts.enumerated() {
                let label = i == 0 ? name : String(repeating: " ", count: 52)
                print(label + "\(v.passed ? "PASS" : "FAIL") \(v.name.padding(toLength: 16, withPad: " ", startingAt: 0)) "
                      + "\(v.bound.padding(toLength: 12, withPad: " ", startingAt: 0)) \(v.measured)")
            }
            for note in result.limitations { print(String(repeating: " ", count: 52) + "note: \(note)") }
            if let folder = result.folder { print(String(repeating: " ", count: 52) + "results: \(folder.path)") }
        }
        if !allPassed { throw ExitCode(1) }
    }
}
