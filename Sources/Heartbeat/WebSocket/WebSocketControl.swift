/// An RFC 6455 control frame a keepalive machine asks its driver to send: the driver frames it
/// (and masks it on the client side); the machine only decides what and when.
public enum WebSocketControl: Hashable, Sendable {
    /// A Ping frame (opcode 0x9) with this application data.
    case ping([UInt8])
    /// A Pong frame (opcode 0xA) echoing a ping's application data.
    case pong([UInt8])
    /// A Close frame (opcode 0x8) with a status code and a UTF-8 reason.
    case close(code: UInt16, reason: String)

    /// The frame's opcode (RFC 6455 section 5.2).
    public var opcode: UInt8 {
        switch self {
        case .ping: 0x9
        case .pong: 0xA
        case .close: 0x8
        }
    }

    /// The frame's payload as it goes on the wire, unmasked: the data for ping and pong, the
    /// big-endian status code followed by the UTF-8 reason for close (RFC 6455 section 5.5.1).
    public var payload: [UInt8] {
        switch self {
        case let .ping(data), let .pong(data):
            data
        case let .close(code, reason):
            [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
        }
    }
}

/// RFC 6455 close status codes used by the keepalive machines (section 7.4.1).
public enum WebSocketCloseCode {
    /// 1000: normal closure.
    public static let normalClosure: UInt16 = 1000
    /// 1011: the server (or, in practice, either side) hit an unexpected condition; `websockets`
    /// sends it when a keepalive ping goes unanswered.
    public static let internalError: UInt16 = 1011
}
