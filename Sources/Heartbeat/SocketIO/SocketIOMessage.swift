import LabCore

/// The payload of one Engine.IO message ("4"), as the Engine.IO layer hands it up or takes it down:
/// Socket.IO packets travel as text, their binary attachments as binary messages.
public enum SocketIOFrame: Sendable, Hashable {
    /// A text message: one encoded `SocketIOPacket`.
    case text(String)
    /// A binary message: one attachment of the preceding binary packet.
    case binary([UInt8])
}

/// A complete Socket.IO message: a packet and, for BINARY_EVENT and BINARY_ACK, its attachments
/// in placeholder order.
public struct SocketIOMessage: Sendable, Hashable {
    /// The packet (its data keeps the `{"_placeholder":true,"num":n}` objects).
    public var packet: SocketIOPacket
    /// The binary attachments, `attachments[n]` for placeholder `n`.
    public var attachments: [[UInt8]]

    /// A message from a packet and its attachments. As socket.io-parser's encoder does, an EVENT or
    /// ACK with attachments becomes a BINARY_EVENT or BINARY_ACK; the count is set to match.
    public init(_ packet: SocketIOPacket, attachments: [[UInt8]] = []) {
        var packet = packet
        if !attachments.isEmpty {
            if packet.type == .event { packet.type = .binaryEvent }
            if packet.type == .ack { packet.type = .binaryAck }
        }
        if packet.type.isBinary { packet.attachmentCount = attachments.count }
        self.packet = packet
        self.attachments = packet.type.isBinary ? attachments : []
    }

    /// The Engine.IO messages that carry this one: the packet's text, then each attachment.
    public var frames: [SocketIOFrame] {
        [.text(packet.encoded)] + attachments.map { .binary($0) }
    }
}

/// Turns the Engine.IO messages of one connection back into Socket.IO messages, holding a binary
/// packet until its attachments have arrived (socket.io-parser's `Decoder` and its reconstructor).
public struct SocketIOMessageAssembler: Sendable {
    private var pending: SocketIOPacket?
    private var buffers: [[UInt8]] = []

    /// An assembler with nothing pending.
    public init() {}

    /// Whether a binary packet is waiting for attachments.
    public var isAwaitingAttachments: Bool { pending != nil }

    /// Takes one Engine.IO message; returns the completed message, or nil while attachments are
    /// still expected. Errors leave the assembler reset.
    public mutating func receive(_ frame: SocketIOFrame) throws(SocketIOParseError) -> SocketIOMessage? {
        switch frame {
        case .text(let text):
            guard pending == nil else {
                reset()
                throw SocketIOParseError(.unexpectedText)
            }
            let packet = try SocketIOPacket(decoding: text)
            if packet.type.isBinary, packet.attachmentCount > 0 {
                pending = packet
                buffers = []
                return nil
            }
            return SocketIOMessage(packet)
        case .binary(let bytes):
            guard let packet = pending else { throw SocketIOParseError(.unexpectedBinary) }
            buffers.append(bytes)
            guard buffers.count == packet.attachmentCount else { return nil }
            let message = SocketIOMessage(packet, attachments: buffers)
            reset()
            return message
        }
    }

    /// Drops any half-received binary packet.
    public mutating func reset() {
        pending = nil
        buffers = []
    }
}
