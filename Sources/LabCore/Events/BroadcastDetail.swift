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
