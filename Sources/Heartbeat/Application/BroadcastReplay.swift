import LabCore

/// Application-level replay of the broadcast stream, as dashboards do it without (or besides)
/// Socket.IO's connection state recovery: on each connect the server sends the last `last` events
/// (`push`), or the client asks for what came after the newest one it has (`request`: it emits
/// `history` with `{"since": k}` and the server answers with the events after k, at most `last`).
/// A connect that recovered its session gets no replay: the recovery delivered the missed events
/// (the pattern socket.io documents: `if (!socket.recovered) sendHistory()`).
public struct BroadcastReplay: Sendable, Hashable {
    /// Who starts the replay.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// The server sends the last events to every client that connects.
        case push
        /// The client asks for the events after the newest it received.
        case request
    }

    /// The most events one replay carries (the server's history buffer).
    public var last: Int
    /// Who starts it.
    public var mode: Mode

    /// A replay of at most `last` events, started by `mode`.
    public init(last: Int, mode: Mode) {
        self.last = last
        self.mode = mode
    }

    /// The event a client emits to ask for a replay (`request`).
    public static let requestEvent = "history"

    /// The arguments of a replay request for the events after `since`.
    public static func requestArguments(since: Int64) -> [JSONValue] { [.object(["since": .integer(since)])] }

    /// The sequence numbers a replay carries when the newest produced event is `current` and the
    /// client has everything up to `since` (0 for a push): at most `last`, oldest first.
    public func sequences(current: Int64, since: Int64) -> ClosedRange<Int64>? {
        let first = max(since + 1, current - Int64(max(last, 0)) + 1, 1)
        return first <= current ? first...current : nil
    }

    /// The `since` a replay request carries, if `event` is one.
    public static func since(in event: SocketIOEvent) -> Int64? {
        guard event.name == requestEvent, case .object(let object)? = event.arguments.first,
              case .integer(let since)? = object["since"] else { return nil }
        return since
    }
}
