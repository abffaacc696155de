import ArgumentParser
import Foundation
import LabCore
import LiveProcesses
import Metrics
import Runner
import Scenario
import UnixSignals

/// `flatline run FILE...`: runs scenarios and says, with evidence, whether every expectation held.
/// Exit 0 when all hold, 1 when one fails, 2 on invalid input, 130 when a run was interrupted
/// by SIGINT (its results are written, marked partial).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run scenario files and check their expectations (exit 0 pass, 1 fail, 2 invalid input, 130 interrupted)."
    )

    @OptionGroup var scenarioFiles: ScenarioFileOptions

    @Option(help: "sim (virtual time) or live (loopback sockets through the fault proxy; built-in components or external programs). Ctrl-C stops a live run and writes partial results.")
    var mode = RunMode.sim

    @Option(name: .customLong("time-scale"), help: "Live runs: multiply every duration by this, e.g. 0.1 runs 30 minutes in 3.")
    var timeScale = 1.0

    @Option(help: "Monte Carlo runs with derived seeds (default: the scenario's repetitions).")
    var runs: Int?

    @OptionGroup var results: ResultsOptions

    func validate() throws {
        guard timeScale > 0, timeScale <= 100 else { throw ValidationError("--time-scale must be in (0, 100], got \(timeScale)") }
        guard mode == .live || timeScale == 1 else { throw ValidationError("--time-scale applies to --mode live only") }
        if let runs, !(1...10_000).contains(runs) { throw ValidationError("--runs must be 1-10000, got \(runs)") }
    }

    func run() async throws {
        var scenarios: [(Scenario, String)] = []
        // Each sweep's point names in order, so an interrupt can mark the points a cut-short sweep wrote.
        var sweeps: [[String]] = []
        var invalid = false
        for file in scenarioFiles.files {
            do {
                let scenario = try scenarioFiles.load(file)
                let points = scenario.expandSweeps()
                for point in points { scenarios.append((point, file)) }
                if points.count > 1 { sweeps.append(points.map(\.name)) }
            } catch {
                invalid = true
                FileHandle.standardError.write(Data("\(error)\n".utf8))
            }
        }
        if invalid { throw ExitCode(2) }
        let runner = ScenarioRunner(resultsRoot: URL(fileURLWithPath: results.out), version: flatlineVersion)
        // SIGINT or SIGTERM: a live run stops and writes partial results; a simulated run stops
        // where it is (within a few thousand of its callbacks) and its series writes the runs done,
        // the one in progress judged over the virtual time it ran, marked partial.
        let interrupt = await LiveInterrupt.install()
        var allPassed = true
        var written: [String: URL] = [:]
        // The table's header comes with its first row: a run that fails first prints only its error.
        var headerPrinted = false
        for (scenario, file) in scenarios {
            if interrupt.received { break }
            let result: ScenarioRunResult
            do {
                if mode == .live {
                    let (timeScale, seed) = (timeScale, results.seed)
                    let task = Task { try await runner.live(scenario, source: file, timeScale: timeScale, seed: seed) }
                    interrupt.track(task)
                    defer { interrupt.track(nil) }
                    result = try await task.value
                } else {
                    result = try runner.simulate(scenario, source: file, runs: runs ?? scenario.repetitions, seed: results.seed,
                                                 stop: { interrupt.received })
                }
            } catch let error as RunnerError {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                if interrupt.received { markCutShortSweeps(sweeps, written: written) }
                throw ExitCode(interrupt.received ? 130 : 2)
            }
            if !headerPrinted {
                print("scenario".padding(toLength: 52, withPad: " ", startingAt: 0) + "expectation          bound        measured")
                headerPrinted = true
            }
            allPassed = allPassed && result.passed
            let name = scenario.name.padding(toLength: 52, withPad: " ", startingAt: 0)
            if result.verdicts.isEmpty { print(name + "(no expectations)") }
            for (i, v) in result.verdicts.enumerated() {
                let label = i == 0 ? name : String(repeating: " ", count: 52)
                print(label + "\(v.passed ? (v.judged ? "PASS" : "SKIP") : "FAIL") \(v.name.padding(toLength: 16, withPad: " ", startingAt: 0)) "
                      + "\(v.bound.padding(toLength: 12, withPad: " ", startingAt: 0)) \(v.measured)")
            }
            for note in result.limitations { print(String(repeating: " ", count: 52) + "note: \(note)") }
            if let folder = result.folder {
                written[scenario.name] = folder
                print(String(repeating: " ", count: 52) + "results: \(folder.path)")
            }
        }
        if interrupt.received {
            markCutShortSweeps(sweeps, written: written)
            throw ExitCode(130)
        }
        if !allPassed { throw ExitCode(1) }
    }
}

extension RunCommand {
    /// After an interrupt: each sweep with points written and points not run has its written points
    /// marked as a cut-short sweep (`ResultsWriter.markCutShortSweep`), and says so on stderr.
    func markCutShortSweeps(_ sweeps: [[String]], written: [String: URL]) {
        for points in sweeps {
            let ran = points.filter { written[$0] != nil }
            guard !ran.isEmpty, ran.count < points.count else { continue }
            let notRun = points.filter { written[$0] == nil }
            FileHandle.standardError.write(Data("interrupted: \(ran.count) of \(points.count) sweep points ran; not run: \(notRun.joined(separator: ", "))\n".utf8))
            for name in ran {
                do {
                    try ResultsWriter.markCutShortSweep(written[name]!, pointsRun: ran.count, points: points.count, notRun: notRun)
                } catch {
                    FileHandle.standardError.write(Data("\(error)\n".utf8))
                }
            }
        }
    }
}

/// SIGINT during `flatline run --mode live`: the first one cancels the run in progress, which stops
/// its components and programs and writes partial results; a second one kills every program the
/// run started and exits at once with 130.
final class LiveInterrupt: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var current: Task<ScenarioRunResult, any Error>?
    private var listener: Task<Void, Never>?

    /// Takes SIGINT over from the default handler (which would kill the process and leave the
    /// programs it started running), through swift-service-lifecycle's `UnixSignalsSequence`.
    static func install() async -> LiveInterrupt {
        let interrupt = LiveInterrupt()
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        interrupt.listener = Task {
            for await _ in signals { interrupt.signalled() }
        }
        return interrupt
    }

    /// Whether SIGINT was received.
    var received: Bool { lock.withLock { count > 0 } }

    /// The run to cancel on SIGINT (nil once it is over); cancelled at once if SIGINT came first.
    func track(_ task: Task<ScenarioRunResult, any Error>?) {
        let cancelNow = lock.withLock { () -> Bool in
            current = task
            return count > 0
        }
        if cancelNow { task?.cancel() }
    }

    private func signalled() {
        let (n, task) = lock.withLock { () -> (Int, Task<ScenarioRunResult, any Error>?) in
            count += 1
            return (count, current)
        }
        if n == 1 {
            FileHandle.standardError.write(Data("interrupted: stopping the run and writing partial results (Ctrl-C again to abort)\n".utf8))
            task?.cancel()
        } else {
            FileHandle.standardError.write(Data("interrupted again: killing the programs the run started and exiting\n".utf8))
            ExternalProcess.killAllNow()
            exit(130)
        }
    }
}
