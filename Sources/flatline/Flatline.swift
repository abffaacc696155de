import ArgumentParser
import LabCore

/// The `flatline` command line: a thin layer that parses arguments and calls the libraries.
@main
struct Flatline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flatline",
        abstract: "A network fault lab for heartbeat and timeout logic.",
        version: flatlineVersion,
        subcommands: [ProxyCommand.self, ServeCommand.self, ConnectCommand.self, CheckCommand.self, RunCommand.self, DetectorsCommand.self, LearnCommand.self, RecommendCommand.self, DemoCommand.self]
    )

    /// Runs the command, first accepting toxiproxy-server's single-dash flags (-host, -port,
    /// -config, -seed) so scripts written for it work unchanged.
    static func main() async {
        let arguments = ToxiproxyFlags.normalize(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Rewrites toxiproxy-server's Go-style flags ("-port 8474", "-port=8474") to ours ("--port").
enum ToxiproxyFlags {
    static let names: Set<String> = ["host", "port", "config", "seed"]

    static func normalize(_ arguments: [String]) -> [String] {
        arguments.map { argument in
            guard argument.hasPrefix("-"), !argument.hasPrefix("--") else { return argument }
            let body = argument.dropFirst()
            let name = body.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return names.contains(name) ? "-" + argument : argument
        }
    }
}
