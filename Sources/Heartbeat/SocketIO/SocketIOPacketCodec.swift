import LabCore

/// Why a text is not a Socket.IO v5 packet, with the byte offset where reading stopped. A peer that
/// sends one gets its connection closed with `CloseReason.parseError`, as socket.io-client does.
public struct SocketIOParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public enum Reason: Sendable, Hashable {
        /// The text was empty (socket.io-parser reads "" as a CONNECT; Flatline refuses it).
        case empty
        /// The first character is not a packet type digit 0–6.
        case unknownType(String)
        /// A binary packet's attachment count is missing, malformed or too long, or a placeholder
        /// points outside the announced attachments.
        case illegalAttachments(String)
        /// The ack id does not fit in 63 bits.
        case ackIDOutOfRange
        /// The payload is not JSON.
        case invalidJSON(String)
        /// The payload is JSON but not what this packet type carries.
        case invalidPayload(String)
        /// An event uses a name socket.io reserves ("connect", "disconnect"...).
        case reservedEventName(String)
        /// Text arrived while the attachments of a binary packet were still expected.
        case unexpectedText
        /// A binary message arrived while no binary packet was waiting for attachments.
        case unexpectedBinary
    }

    /// What was wrong.
    public var reason: Reason
    /// The byte offset in the packet text where the problem was found (0 for framing errors).
    public var offset: Int

    /// Creates an error for `reason` at byte `offset`.
    public init(_ reason: Reason, at offset: Int = 0) {
        self.reason = reason
        self.offset = offset
    }

    /// The error as one line: the byte offset, then what was wrong.
    public var description: String {
        let detail: String
        switch reason {
        case .empty: detail = "empty packet"
        case .unknownType(let c): detail = "unknown packet type \"\(c)\""
        case .illegalAttachments(let why): detail = "illegal attachments: \(why)"
        case .ackIDOutOfRange: detail = "ack id out of range"
        case .invalidJSON(let why): detail = "invalid JSON payload: \(why)"
        case .invalidPayload(let why): detail = "invalid payload: \(why)"
        case .reservedEventName(let name): detail = "\"\(name)\" is a reserved event name"
        case .unexpectedText: detail = "got plaintext data when reconstructing a packet"
        case .unexpectedBinary: detail = "got binary data when not reconstructing a packet"
        }
        return "Socket.IO packet, byte \(offset): \(detail)"
    }
}

extension SocketIOPacket {
    /// The most digits an attachment count may have (python-socketio's limit).
    static let maximumAttachmentDigits = 10

    /// The packet's text form: type, `<n>-` for binary types, the namespace and "," unless it is
    /// "/", the ack id, then the compact JSON data.
    public var encoded: String {
        var out = String(type.rawValue)
        if type.isBinary { out += "\(attachmentCount)-" }
        if !namespace.isEmpty, namespace != SocketIOPacket.defaultNamespace { out += namespace + "," }
        if let ackID { out += String(ackID) }
        if let data { out += String(decoding: data.serialized, as: UTF8.self) }
        return out
    }

    /// Reads a packet from its text form, checking what socket.io-parser checks (type, attachment
    /// count, payload shape per type, reserved event names) plus that every placeholder of a binary
    /// packet points at an announced attachment. Never traps, whatever the input.
    public init(decoding text: String) throws(SocketIOParseError) {
        let bytes = Array(text.utf8)
        guard let first = bytes.first else { throw SocketIOParseError(.empty) }
        guard first >= UInt8(ascii: "0"), first <= UInt8(ascii: "6"),
              let type = PacketType(rawValue: first - UInt8(ascii: "0")) else {
            throw SocketIOParseError(.unknownType(text.first.map(String.init) ?? ""), at: 0)
        }
        var i = 1

        var attachments = 0
        if type.isBinary {
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "-") {
                guard Self.isDigit(bytes[i]) else {
                    throw SocketIOParseError(.illegalAttachments("expected digits then \"-\""), at: i)
                }
                i += 1
            }
            guard i < bytes.count else { throw SocketIOParseError(.illegalAttachments("missing \"-\""), at: i) }
            let digits = i - start
            guard digits > 0 else { throw SocketIOParseError(.illegalAttachments("missing count"), at: start) }
            guard digits <= Self.maximumAttachmentDigits else {
                throw SocketIOParseError(.illegalAttachments("count too long"), at: start)
            }
            attachments = bytes[start..<i].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            i += 1  // the "-"
        }

        var namespace = SocketIOPacket.defaultNamespace
        if i < bytes.count, bytes[i] == UInt8(ascii: "/") {
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: ",") { i += 1 }
            namespace = String(decoding: bytes[start..<i], as: UTF8.self)
            if i < bytes.count { i += 1 }  // the ","
        }

        var ackID: Int64?
        if i < bytes.count, Self.isDigit(bytes[i]) {
            let start = i
            var value: Int64 = 0
            while i < bytes.count, Self.isDigit(bytes[i]) {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(bytes[i] - UInt8(ascii: "0")))
                guard !o1, !o2 else { throw SocketIOParseError(.ackIDOutOfRange, at: start) }
                value = sum
                i += 1
            }
            ackID = value
        }

        var data: JSONValue?
        if i < bytes.count {
            do {
                data = try JSONValue.parse(Array(bytes[i...]))
            } catch {
                throw SocketIOParseError(.invalidJSON(error.description), at: i)
            }
        }
        try Self.validate(type: type, data: data, attachments: attachments, at: i)
        self.init(type: type, namespace: namespace, ackID: ackID, data: data, attachmentCount: attachments)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// The payload rules of socket.io-parser's `isPayloadValid`, applied when there is a payload.
    private static func validate(type: PacketType, data: JSONValue?, attachments: Int,
                                 at offset: Int) throws(SocketIOParseError) {
        guard let data else { return }
        switch type {
        case .connect:
            guard case .object = data else {
                throw SocketIOParseError(.invalidPayload("CONNECT carries an object, got \(data.typeName)"), at: offset)
            }
        case .disconnect:
            throw SocketIOParseError(.invalidPayload("DISCONNECT carries no payload"), at: offset)
        case .connectError:
            switch data {
            case .string, .object: break
            default:
                throw SocketIOParseError(.invalidPayload("CONNECT_ERROR carries a string or an object, got \(data.typeName)"),
                                         at: offset)
            }
        case .event, .binaryEvent:
            guard case .array(let items) = data, let first = items.first else {
                throw SocketIOParseError(.invalidPayload("\(type.name) carries a non-empty array"), at: offset)
            }
            switch first {
            case .integer, .number: break
            case .string(let name):
                if reservedEventNames.contains(name) { throw SocketIOParseError(.reservedEventName(name), at: offset) }
            default:
                throw SocketIOParseError(.invalidPayload("event name must be a string or a number, got \(first.typeName)"),
                                         at: offset)
            }
        case .ack, .binaryAck:
            guard case .array = data else {
                throw SocketIOParseError(.invalidPayload("\(type.name) carries an array, got \(data.typeName)"), at: offset)
            }
        }
        if type.isBinary { try checkPlaceholders(in: data, attachments: attachments, at: offset) }
    }

    /// Every `{"_placeholder":true,"num":n}` must have an integer n in 0..<attachments, the check
    /// socket.io-parser makes when it puts the buffers back.
    private static func checkPlaceholders(in value: JSONValue, attachments: Int,
                                          at offset: Int) throws(SocketIOParseError) {
        switch value {
        case .array(let items):
            for item in items { try checkPlaceholders(in: item, attachments: attachments, at: offset) }
        case .object(let object):
            if object["_placeholder"] == .bool(true) {
                guard case .integer(let num)? = object["num"], num >= 0, num < Int64(attachments) else {
                    throw SocketIOParseError(.illegalAttachments("placeholder outside 0..<\(attachments)"), at: offset)
                }
                return
            }
            for member in object.members { try checkPlaceholders(in: member.value, attachments: attachments, at: offset) }
        default:
            return
        }
    }
}
