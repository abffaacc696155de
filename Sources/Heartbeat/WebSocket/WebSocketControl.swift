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
    /// 1002: the peer broke the protocol (an unmasked client frame, a reserved opcode or bit, a
    /// close code nobody may send).
    public static let protocolError: UInt16 = 1002
    /// 1007: a close reason (or text) that is not UTF-8.
    public static let invalidPayload: UInt16 = 1007
    /// 1009: a message larger than the endpoint takes.
    public static let messageTooBig: UInt16 = 1009

    /// Whether an endpoint may put `code` in a Close frame: 1000-1003 and 1007-1014 (RFC 6455
    /// section 7.4.1 and the IANA registry), and 3000-4999 for libraries and applications. 1004-1006
    /// and 1015 are reserved or meant never to be sent; anything else is unassigned or out of range.
    public static func maySend(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    /// The status code to answer a peer's Close frame payload with (RFC 6455 sections 5.5.1 and
    /// 7.4): the peer's own code when it is one that may be sent (as `websockets` and browsers echo
    /// it), 1000 for an empty payload, 1002 for a one-byte payload or a code nobody may send, and
    /// 1007 for a reason that is not UTF-8.
    public static func answer(toClose payload: [UInt8]) -> UInt16 {
        if payload.isEmpty { return normalClosure }
        guard payload.count >= 2 else { return protocolError }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard maySend(code) else { return protocolError }
        guard String(validating: payload[2...], as: UTF8.self) != nil else { return invalidPayload }
        return code
    }
}
