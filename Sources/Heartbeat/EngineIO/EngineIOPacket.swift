/// One Engine.IO v4 packet: a type digit followed by its data ("2probe", "4hello"), or a binary
/// message. The heartbeat machines read and write these; the codec turns them into WebSocket frames
/// and polling payload records and back.
public enum EngineIOPacket: Sendable, Hashable {
    /// "0" + handshake JSON: the server opens the session.
    case open(EngineIOHandshake)
    /// "1": the sender is closing the session.
    case close
    /// "2" + optional data: a heartbeat ping ("" when plain, "probe" during an upgrade).
    case ping(String)
    /// "3" + optional data: the answer to a ping.
    case pong(String)
    /// "4" + text: an application message.
    case message(String)
    /// A binary application message: a WebSocket binary frame, or "b" + base64 in a polling payload.
    case binary([UInt8])
    /// "5": the client switches to the probed transport.
    case upgrade
    /// "6": nothing; the server ends a pending poll with it during an upgrade.
    case noop

    /// A plain ping, "2".
    public static let plainPing = EngineIOPacket.ping("")
    /// A plain pong, "3".
    public static let plainPong = EngineIOPacket.pong("")

    /// The packet's type digit ("0"..."6"); binary messages have the message type, "4".
    public var typeDigit: Character {
        switch self {
        case .open: "0"
        case .close: "1"
        case .ping: "2"
        case .pong: "3"
        case .message, .binary: "4"
        case .upgrade: "5"
        case .noop: "6"
        }
    }

    /// The packet as text: what a WebSocket text frame or one polling payload record carries.
    /// Binary messages become "b" + base64, the polling form; on WebSocket use `frame` instead.
    public var encodedText: String {
        switch self {
        case .open(let handshake): "0" + handshake.text
        case .close: "1"
        case .ping(let data): "2" + data
        case .pong(let data): "3" + data
        case .message(let text): "4" + text
        case .binary(let bytes): "b" + Base64.encode(bytes)
        case .upgrade: "5"
        case .noop: "6"
        }
    }

    /// Decodes a packet from text (a WebSocket text frame or a polling record). A leading "b" is a
    /// base64 binary message on either transport, as both reference parsers read it; data after
    /// "1", "5" or "6" is ignored, as both reference servers and clients ignore it.
    public init(text: String) throws(EngineIOParseError) {
        guard let first = text.unicodeScalars.first else { throw EngineIOParseError(.empty) }
        // Slice by scalars, not Characters: "4" followed by a combining mark is one Character.
        let data = String(text.unicodeScalars.dropFirst())
        switch first {
        case "0": self = .open(try EngineIOHandshake(text: data))
        case "1": self = .close
        case "2": self = .ping(data)
        case "3": self = .pong(data)
        case "4": self = .message(data)
        case "5": self = .upgrade
        case "6": self = .noop
        case "b":
            guard let bytes = Base64.decode(text.utf8.dropFirst()) else { throw EngineIOParseError(.badBase64) }
            self = .binary(bytes)
        default:
            throw EngineIOParseError(.unknownType(String(first)))
        }
    }

    /// The WebSocket frame that carries this packet: binary messages go as binary frames, all
    /// others as text frames.
    public var frame: EngineIOFrame {
        if case .binary(let bytes) = self { return .binary(bytes) }
        return .text(encodedText)
    }

    /// Decodes the packet a WebSocket frame carries: a binary frame is always a binary message.
    public init(frame: EngineIOFrame) throws(EngineIOParseError) {
        switch frame {
        case .text(let text): try self.init(text: text)
        case .binary(let bytes): self = .binary(bytes)
        }
    }
}

/// A WebSocket message as Engine.IO uses it: one packet per frame, text or binary.
public enum EngineIOFrame: Sendable, Hashable {
    /// A text frame holding one encoded packet.
    case text(String)
    /// A binary frame holding a binary message's raw bytes.
    case binary([UInt8])
}
