import ArgumentParser
import Scenario

/// The scenario files a command reads and the `--set` overrides applied to each, shared by
/// `flatline check` and `flatline run` so that both read a file the same way.
struct ScenarioFileOptions: ParsableArguments {
    @Argument(help: "Scenario files.")
    var files: [String]

    @Option(name: .customLong("set"), help: "Override a field, e.g. --set server.pingTimeout=60s (repeatable).")
    var overrides: [String] = []

    /// Loads `file` and applies the overrides; the error names the file, line, column and field.
    func load(_ file: String) throws -> Scenario {
        try Scenario.load(path: file).applying(overrides: overrides)
    }
}

/// What decides a run's results and where they go: the seed of every random draw and the results
/// root, for the commands that write results folders.
struct ResultsOptions: ParsableArguments {
    @Option(help: "Seed for every random draw (default: the scenario's).")
    var seed: UInt64?

    @Option(help: "Results root.")
    var out = "results"
}
