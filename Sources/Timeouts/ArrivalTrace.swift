import LabCore

/// Observed heartbeat arrivals at one monitor, with where they came from: the input of the
/// detector bench. No ground truth: crashes are simulated on it at many points (see `DetectorQoS`).
public struct ArrivalTrace: Sendable, Hashable {
    /// A name for tables and files ("test-rrul.flent.gz:Ping (ms) ICMP", "generated:stalls").
    public var name: String
    /// Arrival instants, sorted.
    public var arrivals: [Instant]

    /// Creates a trace; the arrivals are sorted (probes over a datagram path may arrive out of order).
    public init(name: String, arrivals: [Instant]) {
        self.name = name
        self.arrivals = arrivals.sorted()
    }

    /// From the first arrival to the last.
    public var span: TimeSpan {
        guard let first = arrivals.first, let last = arrivals.last else { return .zero }
        return last - first
    }

    /// The median time between arrivals (the heartbeat period, robust to losses and bursts);
    /// nil with fewer than two arrivals.
    public var medianInterval: TimeSpan? {
        guard arrivals.count >= 2 else { return nil }
        var gaps = zip(arrivals.dropFirst(), arrivals).map { ($0 - $1).nanoseconds }
        gaps.sort()
        return .nanoseconds(gaps[gaps.count / 2])
    }
}

/// A trace file that could not be read, naming the file, the line when there is one, and the field.
public struct TraceReadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file as given.
    public var file: String
    /// The 1-based line, when the fault is on one.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// "file:line: message", or "file: message".
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
