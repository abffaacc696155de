import LabCore
import Metrics
import Scenario

/// A run's `summary.json` (docs/results.md): the scenario, mode, seed and version, the settings
/// that matter for heartbeats, each metric's mean and 95% interval over the runs, the verdicts, and
/// for a live run how long it ran and the programs it started. Written through `JSONValueEncoder`,
/// so its fields appear in the order declared here; read back with any JSON decoder.
public struct RunSummary: Codable, Sendable, Hashable {
    /// The scenario's name.
    public var scenario: String
    /// Its file, as given on the command line.
    public var file: String
    /// "sim" or "live".
    public var mode: String
    /// The base seed. Written as a signed 64-bit integer (its bit pattern), as it always has been:
    /// a seed above 2^63 - 1 reads back negative in tools that do not know that.
    public var seed: UInt64
    /// How many runs the folder holds.
    public var runs: Int
    /// Whether the run was interrupted before its end.
    public var partial: Bool
    /// The versions of what ran.
    public var versions: Versions
    /// The heartbeat settings of the run.
    public var settings: Settings
    /// Each metric's mean and 95% interval over the runs, in `RunMetrics.aggregate`'s order.
    public var metrics: [MetricSummary]
    /// Every expectation, judged over every run.
    public var verdicts: [Verdict]
    /// Whether every expectation held.
    public var passed: Bool
    /// What the run did not model, and notes about it.
    public var limitations: [String]
    /// A live run's actual length ("4200ms"), or a single simulated run's that was stopped early;
    /// nil for runs that ran to their end.
    public var ranFor: String?
    /// The same in seconds.
    public var ranForSeconds: Double?
    /// The external programs a live run started; nil when it started none.
    public var programs: [Program]?

    /// The versions of what ran.
    public struct Versions: Codable, Sendable, Hashable {
        /// Flatline's version (`flatlineVersion`, or what the runner was given).
        public var flatline: String

        /// Creates the versions.
        public init(flatline: String) {
            self.flatline = flatline
        }
    }

    /// The run's heartbeat settings, as the scenario wrote them (durations as text, e.g. "25s").
    public struct Settings: Codable, Sendable, Hashable {
        /// How long the run was planned to last (a live run's scaled duration).
        public var duration: String
        /// How many clients connect.
        public var clients: Int
        /// The built-in server's pingInterval; nil for an external server.
        public var pingInterval: String?
        /// The built-in server's pingTimeout; nil for an external server.
        public var pingTimeout: String?
        /// The built-in clients' connectTimeout; nil for external clients.
        public var connectTimeout: String?
        /// The longest stall a connection must survive.
        public var toleratedStall: String

        /// Creates settings.
        public init(duration: String, clients: Int, pingInterval: String? = nil, pingTimeout: String? = nil,
                    connectTimeout: String? = nil, toleratedStall: String) {
            self.duration = duration
            self.clients = clients
            self.pingInterval = pingInterval
            self.pingTimeout = pingTimeout
            self.connectTimeout = connectTimeout
            self.toleratedStall = toleratedStall
        }
    }

    /// One metric over the runs: written as `"name": {"mean", "lower", "upper", "runs"}` inside
    /// `metrics`.
    public struct MetricSummary: Sendable, Hashable {
        /// The metric's key, e.g. "falseDisconnects".
        public var name: String
        /// The mean over the runs.
        public var mean: Double
        /// The lower end of the 95% interval.
        public var lower: Double
        /// The upper end of the 95% interval.
        public var upper: Double
        /// How many runs it covers.
        public var runs: Int

        /// Creates a metric's summary.
        public init(name: String, mean: Double, lower: Double, upper: Double, runs: Int) {
            self.name = name
            self.mean = mean
            self.lower = lower
            self.upper = upper
            self.runs = runs
        }

        /// The summary of an aggregated metric.
        public init(_ interval: MetricInterval) {
            self.init(name: interval.name, mean: interval.mean, lower: interval.lower, upper: interval.upper, runs: interval.count)
        }
    }

    /// An external program a live run started, with where its output went.
    public struct Program: Codable, Sendable, Hashable {
        /// Its component's name ("server", "client-3").
        public var name: String
        /// The command line as run (ports filled in).
        public var command: [String]
        /// Its standard output, relative to the results folder ("logs/server.stdout").
        public var stdout: String
        /// Its standard error, relative to the results folder.
        public var stderr: String
        /// How it ended ("exit status 3"); nil when that is unknown.
        public var exit: String?
        /// Whether it exited before the run asked it to stop.
        public var exitedOnItsOwn: Bool
        /// How many events of its own event log were merged into the run's.
        public var eventsMerged: Int
        /// The last stack trace it printed on stderr; nil (absent) when it printed none.
        public var traceback: String?

        /// Creates a program's entry.
        public init(name: String, command: [String], stdout: String, stderr: String, exit: String?,
                    exitedOnItsOwn: Bool, eventsMerged: Int, traceback: String? = nil) {
            self.traceback = traceback
            self.name = name
            self.command = command
            self.stdout = stdout
            self.stderr = stderr
            self.exit = exit
            self.exitedOnItsOwn = exitedOnItsOwn
            self.eventsMerged = eventsMerged
        }
    }

    /// A live run's extent: its planned (scaled) duration, how long it ran, and its programs.
    public struct LiveRun: Sendable, Hashable {
        /// The duration it was planned to last.
        public var planned: TimeSpan
        /// How long it actually ran.
        public var ranFor: TimeSpan
        /// Whether it was interrupted.
        public var partial: Bool
        /// The programs it started.
        public var programs: [Program]

        /// Creates a live run's extent.
        public init(planned: TimeSpan, ranFor: TimeSpan, partial: Bool, programs: [Program]) {
            self.planned = planned
            self.ranFor = ranFor
            self.partial = partial
            self.programs = programs
        }
    }

    /// The summary of `runs` runs of `scenario` (as run, overrides applied), with the verdicts and
    /// the metrics' intervals over the runs; `live` for a live run. A simulated series cut short is
    /// `partial`; when its one run stopped early, `planned` is its duration and `ranFor` how long it ran.
    public init(scenario: Scenario, source: String, seed: UInt64, mode: String, runs: Int, version: String,
                verdicts: [Verdict], aggregate: [MetricInterval], limitations: [String], live: LiveRun? = nil,
                partial: Bool = false, planned: TimeSpan? = nil, ranFor: TimeSpan? = nil) {
        var settings = Settings(duration: "\(live?.planned ?? planned ?? scenario.duration)", clients: scenario.clients.count,
                                toleratedStall: "\(scenario.toleratedStall)")
        if case .socketIO(let server) = scenario.server {
            settings.pingInterval = "\(server.pingInterval)"
            settings.pingTimeout = "\(server.pingTimeout)"
        }
        if case .socketIO(let client) = scenario.clients.component {
            settings.connectTimeout = "\(client.connectTimeout)"
        }
        self.scenario = scenario.name
        self.file = source
        self.mode = mode
        self.seed = seed
        self.runs = runs
        self.partial = live?.partial ?? partial
        self.versions = Versions(flatline: version)
        self.settings = settings
        self.metrics = aggregate.map(MetricSummary.init)
        self.verdicts = verdicts
        self.passed = verdicts.allSatisfy(\.passed)
        self.limitations = limitations
        if let live {
            self.ranFor = "\(live.ranFor)"
            self.ranForSeconds = live.ranFor.seconds
            self.programs = live.programs.isEmpty ? nil : live.programs
        } else if let ranFor {
            self.ranFor = "\(ranFor)"
            self.ranForSeconds = ranFor.seconds
        }
    }

    // MARK: - Codable

    private enum CodingKeys: String, CodingKey {
        case scenario, file, mode, seed, runs, partial, versions, settings, metrics, verdicts, passed, limitations
        case ranFor, ranForSeconds, programs
    }

    /// A metric's name as a key of `metrics`.
    private struct MetricKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private enum IntervalKeys: String, CodingKey {
        case mean, lower, upper, runs
    }

    /// Reads a summary as summary.json holds it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        scenario = try c.decode(String.self, forKey: .scenario)
        file = try c.decode(String.self, forKey: .file)
        mode = try c.decode(String.self, forKey: .mode)
        seed = UInt64(bitPattern: try c.decode(Int64.self, forKey: .seed))
        runs = try c.decode(Int.self, forKey: .runs)
        partial = try c.decode(Bool.self, forKey: .partial)
        versions = try c.decode(Versions.self, forKey: .versions)
        settings = try c.decode(Settings.self, forKey: .settings)
        let byName = try c.nestedContainer(keyedBy: MetricKey.self, forKey: .metrics)
        // JSON decoders do not keep key order: the metrics come back sorted by name.
        metrics = try byName.allKeys.sorted { $0.stringValue < $1.stringValue }.map { key in
            let m = try byName.nestedContainer(keyedBy: IntervalKeys.self, forKey: key)
            return MetricSummary(name: key.stringValue, mean: try m.decode(Double.self, forKey: .mean),
                                 lower: try m.decode(Double.self, forKey: .lower), upper: try m.decode(Double.self, forKey: .upper),
                                 runs: try m.decode(Int.self, forKey: .runs))
        }
        verdicts = try c.decode([Verdict].self, forKey: .verdicts)
        passed = try c.decode(Bool.self, forKey: .passed)
        limitations = try c.decode([String].self, forKey: .limitations)
        ranFor = try c.decodeIfPresent(String.self, forKey: .ranFor)
        ranForSeconds = try c.decodeIfPresent(Double.self, forKey: .ranForSeconds)
        programs = try c.decodeIfPresent([Program].self, forKey: .programs)
    }

    /// Writes the summary in summary.json's field order.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(scenario, forKey: .scenario)
        try c.encode(file, forKey: .file)
        try c.encode(mode, forKey: .mode)
        try c.encode(Int64(bitPattern: seed), forKey: .seed)
        try c.encode(runs, forKey: .runs)
        try c.encode(partial, forKey: .partial)
        try c.encode(versions, forKey: .versions)
        try c.encode(settings, forKey: .settings)
        var byName = c.nestedContainer(keyedBy: MetricKey.self, forKey: .metrics)
        for m in metrics {
            var interval = byName.nestedContainer(keyedBy: IntervalKeys.self, forKey: MetricKey(stringValue: m.name))
            try interval.encode(m.mean, forKey: .mean)
            try interval.encode(m.lower, forKey: .lower)
            try interval.encode(m.upper, forKey: .upper)
            try interval.encode(m.runs, forKey: .runs)
        }
        try c.encode(verdicts, forKey: .verdicts)
        try c.encode(passed, forKey: .passed)
        try c.encode(limitations, forKey: .limitations)
        try c.encodeIfPresent(ranFor, forKey: .ranFor)
        try c.encodeIfPresent(ranForSeconds, forKey: .ranForSeconds)
        try c.encodeIfPresent(programs, forKey: .programs)
    }
}
