import LabCore

/// A scenario file (or a `--set` override) that could not be read, with the place and the field:
/// printed as `file:line:column: path: message`, e.g.
/// `dashboard.yaml:14:9: phases[2].both.latency: unknown distribution 'gauss'; expected one of …`.
public struct ScenarioError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file as it was named to the loader, `--set` for an override, or the `source` passed to `parse`.
    public var file: String
    /// The 1-based line, or 0 when the error is about the whole file (e.g. it cannot be read).
    public var line: Int
    /// The 1-based column (counted in Unicode scalars), or 0 with `line`.
    public var column: Int
    /// The field path, e.g. `phases[2].both.latency`; empty for the document itself.
    public var path: String
    /// Why the value is not acceptable, and what was expected.
    public var message: String

    /// Creates an error at `file:line:column` about the field at `path`.
    public init(file: String, line: Int, column: Int, path: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    /// `file:line:column: path: message`, leaving out the place when it is unknown and the path when empty.
    public var description: String {
        var text = file
        if line > 0 { text += ":\(line):\(column)" }
        text += ": "
        if !path.isEmpty { text += "\(path): " }
        return text + message
    }
}

/// The limits a scenario file must stay within, so that every file `check` accepts runs in
/// bounded time and memory; each is reported with the field that passes it.
public enum ScenarioBounds {
    /// The longest scenario: a week (a simulated week of 1,000 connections takes minutes).
    public static let longestScenario = TimeSpan.seconds(7 * 24 * 3600)
    /// The longest duration any field may hold: 30 days.
    public static let longestDuration = TimeSpan.seconds(30 * 24 * 3600)
    /// The highest workload rate, per connection.
    public static let highestEventRate = 1_000.0
    /// The most events one run may imply or log: 25 million, at most 4 GB while the run is judged
    /// and 2 GB of events.jsonl (measured: 60 to 160 bytes of memory and 56 to 78 on disk per
    /// event), e.g. 1,000 connections for a day with 25 s heartbeats (3 events each), or 1,000 for
    /// an hour at 2 messages a second (each logged when sent and when received).
    public static let mostEventsPerRun = 25e6
    /// The largest workload message, in bytes: 16 MiB (each is made whole in memory; Engine.IO's
    /// own default refuses more than 1 MB).
    public static let largestMessage = 16 << 20
}
