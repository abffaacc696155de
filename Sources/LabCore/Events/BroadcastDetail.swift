/// How the broadcast stream's events are named in the event log: "broadcast 17" in a
/// message's `detail` on both sides (docs/events.md), written by the Socket.IO machines and read
/// by the metrics, so the two agree on one format.
public enum BroadcastDetail {
    /// The Socket.IO event name of the stream.
    public static let event = "broadcast"

    /// The log detail of event number `sequence`.
    public static func detail(_ sequence: Int64) -> String { "\(event) \(sequence)" }

    /// The event number a log detail names; nil for any other detail.
    public static func sequence(in detail: String) -> Int64? {
        guard detail.hasPrefix(event + " ") else { return nil }
        return Int64(detail.dropFirst(event.utf8.count + 1))
    }
}

/// How a server's connect names its instance when several run behind the proxy: the detail ends
/// in " on instance 2" (docs/events.md), written by the Socket.IO machines and read by the
/// metrics and the ground truth, so the two agree on one format.
public enum InstanceDetail {
    /// The text a connect detail ends with for instance `instance` (1-based).
    public static func suffix(_ instance: Int) -> String { " on instance \(instance)" }

    /// The instance a connect detail names; nil when it names none.
    public static func instance(in detail: String) -> Int? {
        let marker = " on instance "
        guard let digits = detail.split(separator: " ").last, let instance = Int(digits),
              detail.dropLast(digits.count).hasSuffix(marker) else { return nil }
        return instance
    }
}
