import Heartbeat
import LabCore

/// The application behind Flatline's built-in Socket.IO server, on the default namespace: what a
/// dashboard server does, small enough to reason about. It answers "echo" (emits it back and
/// acknowledges with the same arguments), answers "ask" by asking the client a "question" with an
/// ack, and emits a "tick" at the configured rate. Pure: text in, outputs out.
struct BuiltinSocketIOServer {
    /// What the session should do.
    enum Output: Equatable {
        /// Send this Socket.IO packet text in an Engine.IO message.
        case send(String)
        /// Record an event (kind, detail, reason).
        case record(EventKind, detail: String?, reason: String?)
        /// Call `emitDue` at this instant.
        case armEmit(at: Instant)
    }

    private let emitInterval: TimeSpan?
    private let emitSize: Int
    private var connected = false
    private var nextAckID: Int64 = 0
    private var pendingAcks: [Int64: String] = [:]
    private var tickSequence: Int64 = 0

    init(emitInterval: TimeSpan?, emitSize: Int) {
        self.emitInterval = emitInterval
        self.emitSize = emitSize
    }

    /// A Socket.IO packet arrived (the text of an Engine.IO message).
    mutating func received(_ text: String, at now: Instant) -> [Output] {
        guard let packet = try? SocketIOPacket(decoding: text) else {
            return [.record(.disconnect, detail: "socket.io parse error", reason: CloseReason.parseError.rawValue)]
        }
        guard packet.namespace == SocketIOPacket.defaultNamespace else {
            return [.send(SocketIOPacket.connectError(namespace: packet.namespace, message: "Invalid namespace").encoded)]
        }
        switch packet.type {
        case .connect:
            guard !connected else { return [] }
            connected = true
            var out: [Output] = [.send(SocketIOPacket.connected(sid: "n\(now.nanoseconds)").encoded),
                                 .record(.connect, detail: "socket.io /", reason: nil)]
            if let emitInterval { out.append(.armEmit(at: now + emitInterval)) }
            return out
        case .disconnect:
            connected = false
            return [.record(.disconnect, detail: nil, reason: CloseReason.clientNamespaceDisconnect.rawValue)]
        case .event, .binaryEvent:
            guard connected, let name = packet.eventName else { return [] }
            var out: [Output] = [.record(.messageReceived, detail: name, reason: nil)]
            let arguments = packet.arguments
            switch name {
            case "echo":
                out.append(.send(SocketIOPacket.event("echo", arguments).encoded))
                out.append(.record(.messageSent, detail: "echo", reason: nil))
            case "ask":
                nextAckID += 1
                pendingAcks[nextAckID] = "question"
                out.append(.send(SocketIOPacket.event("question", arguments, ackID: nextAckID).encoded))
                out.append(.record(.messageSent, detail: "question", reason: nil))
            default:
                break
            }
            if let id = packet.ackID {
                out.append(.send(SocketIOPacket.ack(id: id, arguments).encoded))
            }
            return out
        case .ack, .binaryAck:
            guard let id = packet.ackID, let name = pendingAcks.removeValue(forKey: id) else { return [] }
            return [.record(.messageReceived, detail: "ack:\(name)", reason: nil)]
        case .connectError:
            return []
        }
    }

    /// The emit timer fired: send a tick and arm the next.
    mutating func emitDue(at now: Instant) -> [Output] {
        guard connected, let emitInterval else { return [] }
        tickSequence += 1
        let pad = String(repeating: "x", count: max(0, emitSize - 32))
        let tick = SocketIOPacket.event("tick", [.object(["seq": .integer(tickSequence), "pad": .string(pad)])])
        return [.send(tick.encoded), .record(.messageSent, detail: "tick", reason: nil), .armEmit(at: now + emitInterval)]
    }
}
