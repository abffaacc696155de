import ArgumentParser
import Foundation
import LabCore
import Scenario

/// `flatline check FILE...`: validates scenario files without running them, external programs
/// included (they must exist and be executable); every error names the file, line, column and
/// field path. Exit 0 when all are valid, 2 when one is not.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate scenario files (docs/scenarios.md) without running them."
    )

    @OptionGroup var scenarioFiles: ScenarioFileOptions

    func run() throws {
        var failed = false
        for file in scenarioFiles.files {
            do {
                let scenario = try scenarioFiles.load(file)
                // External programs must be there to start: said now, not when a live run begins.
                let problems = scenario.programProblems(source: file)
                if !problems.isEmpty {
                    failed = true
                    for problem in problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
                    continue
                }
                let points = scenario.expandSweeps().count
                print("ok \(file): \(scenario.name)" + (points > 1 ? " (\(points) sweep points)" : ""))
            } catch {
                failed = true
                FileHandle.standardError.write(Data("\(error)\n".utf8))
            }
        }
        if failed { throw ExitCode(2) }
    }
}
