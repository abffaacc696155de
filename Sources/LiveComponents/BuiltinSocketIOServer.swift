import Heartbeat
import LabCore

/// The application behind Flatline's built-in Socket.IO server, on the default namespace: what a
/// dashboard server does, small enough to reason about. It answers "echo" (emits it back and
/// acknowledges with the same arguments), answers "ask" by asking the client a "question" with an
/// ack, answers a dashboard's custom ping event with its pong event (same arguments), and emits a
/// "tick" at the configured rate. Pure: it only tells the namespace session
/// (`SocketIOServerSession`, which owns the protocol) what to emit.
struct BuiltinSocketIOApp {
    /// What the app wants the session to do.
    enum Reply: Equatable {
        /// Emit an event to the client.
        case emit(String, [JSONValue])
        /// Emit an event that wants the client's ack.
        case emitWithAck(String, [JSONValue])
        /// Acknowledge the client's event with these arguments.
        case ack(Int64, [JSONValue])
    }

    let emitInterval: TimeSpan?
    let emitSize: Int
    let pingEvent: String
    let pongEvent: String
    private var tickSequence: Int64 = 0

    init(emitInterval: TimeSpan?, emitSize: Int, pingEvent: String = "ping", pongEvent: String = "pong") {
        self.emitInterval = emitInterval
        self.emitSize = emitSize
        self.pingEvent = pingEvent
        self.pongEvent = pongEvent
    }

    /// The client emitted an event.
    func replies(to event: SocketIOEvent) -> [Reply] {
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

    /// The next tick of the workload.
    mutating func tick() -> Reply {
        tickSequence += 1
        let pad = String(repeating: "x", count: max(0, emitSize - 32))
        return .emit("tick", [.object(["seq": .integer(tickSequence), "pad": .string(pad)])])
    }
}
