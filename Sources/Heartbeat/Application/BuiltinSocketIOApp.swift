import LabCore

/// The application behind Flatline's built-in Socket.IO server, on the default namespace: what a
/// dashboard server does, small enough to reason about. It answers "echo" (emits it back and
/// acknowledges with the same arguments), answers "ask" by asking the client a "question" with an
/// ack, answers a dashboard's custom ping event with its pong event (same arguments), and emits a
/// "tick" at the configured rate. Pure: it only tells the namespace session
/// (`SocketIOServerSession`, which owns the protocol) what to emit.
public struct BuiltinSocketIOApp: Sendable {
    /// What the app wants the session to do.
    public enum Reply: Sendable, Equatable {
        /// Emit an event to the client.
        case emit(String, [JSONValue])
        /// Emit an event that wants the client's ack.
        case emitWithAck(String, [JSONValue])
        /// Acknowledge the client's event with these arguments.
        case ack(Int64, [JSONValue])
    }

    /// How often it emits "tick" once a client connected (nil: never).
    public let emitInterval: TimeSpan?
    /// The encoded size a tick is padded to.
    public let emitSize: Int
    /// The custom ping event it answers.
    public let pingEvent: String
    /// The event it answers the custom ping with.
    public let pongEvent: String
    /// The sequence number of the last tick.
    public private(set) var tickSequence: Int64 = 0
    /// The padding every tick carries, made once: the ticks share its storage (a recovery store
    /// keeping two minutes of them holds one copy, not one a tick).
    private let tickPad: JSONValue
    /// The padding of every tick (shared storage).
    public var tickPadding: JSONValue { tickPad }

    /// The app with this workload and these custom-ping event names.
    public init(emitInterval: TimeSpan?, emitSize: Int, pingEvent: String = "ping", pongEvent: String = "pong") {
        self.emitInterval = emitInterval
        self.emitSize = emitSize
        tickPad = .string(String(repeating: "x", count: max(0, emitSize - 32)))
        self.pingEvent = pingEvent
        self.pongEvent = pongEvent
    }

    /// The client emitted an event.
    public func replies(to event: SocketIOEvent) -> [Reply] {
        var out: [Reply] = []
        switch event.name {
        case "echo": out.append(.emit("echo", event.arguments))
        case "ask": out.append(.emitWithAck("question", event.arguments))
        case pingEvent: out.append(.emit(pongEvent, event.arguments))
        default: break
        }
        if let id = event.ackID { out.append(.ack(id, event.arguments)) }
        return out
    }

    /// Counts a tick that the driver sends without encoding it (the simulator's size-only ticks,
    /// whose size depends only on this number) and returns its sequence number.
    public mutating func unencodedTick() -> Int64 {
        tickSequence += 1
        return tickSequence
    }

    /// The arguments of broadcast event number `sequence` of the application's stream
    /// (`BroadcastDetail.event`): its sequence number, padded to `size` bytes. Every connected
    /// client gets the same number for the same slot of the server's clock, so a client's log shows
    /// what it missed.
    public static func broadcastArguments(sequence: Int64, size: Int, room: String? = nil) -> [JSONValue] {
        var object: JSONObject = ["seq": .integer(sequence)]
        if let room { object["room"] = .string(room) }
        object["pad"] = .string(String(repeating: "x", count: max(0, size - 40 - (room.map { $0.utf8.count + 10 } ?? 0))))
        return [.object(object)]
    }

    /// The event a client emits to join a room of the broadcast stream (`{"room": "r2"}`).
    public static let joinEvent = "join"

    /// The room a join event names, if it is one.
    public static func room(inJoin event: SocketIOEvent) -> String? {
        guard event.name == joinEvent, case .object(let object)? = event.arguments.first,
              case .string(let room)? = object["room"], !room.isEmpty else { return nil }
        return room
    }

    /// How a received event is logged: its name, and for the broadcast stream its number
    /// (`BroadcastDetail`), so that metrics can tell delivered, missed, duplicated and late events.
    public static func logName(of event: SocketIOEvent) -> String {
        guard event.name == BroadcastDetail.event, case .object(let object)? = event.arguments.first,
              case .integer(let sequence)? = object["seq"] else { return event.name }
        return BroadcastDetail.detail(sequence)
    }

    /// The arguments of tick number `sequence`: its number and the padding.
    public static func tickArguments(sequence: Int64, pad: JSONValue) -> [JSONValue] {
        [.object(["seq": .integer(sequence), "pad": pad])]
    }

    /// The next tick of the workload.
    public mutating func tick() -> Reply {
        tickSequence += 1
        return .emit("tick", Self.tickArguments(sequence: tickSequence, pad: tickPad))
    }
}
