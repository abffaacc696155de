import Heartbeat
import LabCore

/// What travels on a simulated link: the WebSocket handshake, then one Engine.IO packet per
/// WebSocket message (WebSocket transport semantics). Packets travel as values; the link sees
/// their encoded size, WebSocket framing included.
enum WirePacket: Sendable {
    /// The client's HTTP upgrade request (GET /socket.io/?EIO=4&transport=websocket).
    case upgradeRequest
    /// The server's "101 Switching Protocols".
    case upgradeResponse
    /// One Engine.IO packet in its own WebSocket message.
    case engineIO(EngineIOPacket)
    /// A server tick of the workload's size-only mode: an Engine.IO message of this payload size
    /// whose text was not built (`SimulationWorkload.encodesServerEvents` false), and with
    /// connection state recovery the offset it carries (0: none).
    case sizedTick(payload: Int, offset: Int64 = 0)

    /// Bytes of a typical socket.io-client upgrade request through a proxy.
    static let upgradeRequestSize = 230
    /// Bytes of a 101 response with Sec-WebSocket-Accept.
    static let upgradeResponseSize = 129

    /// The bytes this packet puts on the link in `direction`: HTTP bytes for the handshake, else the
    /// WebSocket frame (2, 4 or 10 header bytes, plus the 4-byte mask on client-to-server frames).
    func wireSize(_ direction: LinkDirection) -> Int {
        switch self {
        case .upgradeRequest: return Self.upgradeRequestSize
        case .upgradeResponse: return Self.upgradeResponseSize
        case .engineIO, .sizedTick:
            let payload: Int
            switch self {
            case .engineIO(let packet): payload = Self.payloadSize(packet)
            case .sizedTick(let size, _): payload = size
            default: payload = 0
            }
            let header = payload < 126 ? 2 : (payload < 65_536 ? 4 : 10)
            return payload + header + (direction == .upstream ? 4 : 0)
        }
    }

    /// The size of the packet's WebSocket payload: its text encoding in UTF-8, or the raw bytes of
    /// a binary message (`EngineIOPacket.frame`).
    static func payloadSize(_ packet: EngineIOPacket) -> Int {
        switch packet {
        case .open(let handshake): 1 + handshake.text.utf8.count
        case .close, .upgrade, .noop: 1
        case .ping(let data), .pong(let data): 1 + data.utf8.count
        case .message(let text): 1 + text.utf8.count
        case .binary(let bytes): bytes.count
        }
    }
}

extension WirePacket: LinkPayload {
    /// A packet is a WebSocket message: the far end takes it whole, when its last byte arrives.
    static var arrivesInPieces: Bool { false }

    /// Never asked: packets arrive whole.
    func split(first count: Int) -> WirePacket {
        preconditionFailure("a simulated packet is delivered whole")
    }
}
