import LabCore

/// One Socket.IO v5 packet as it travels in an Engine.IO "4" message: a type, a namespace, an
/// optional acknowledgement id and optional JSON data. Binary attachments travel as separate
/// Engine.IO binary messages; see `SocketIOMessage`.
///
/// The text form is `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, for example
/// `2/admin,13["ev",1]` or `51-["upload",{"_placeholder":true,"num":0}]`.
public struct SocketIOPacket: Sendable, Hashable {
    /// The seven Socket.IO v5 packet types, numbered as on the wire.
    public enum PacketType: UInt8, Sendable, Hashable, CaseIterable {
        /// Namespace connection request (client, optional auth object) or answer (server, `{"sid":...}`).
        case connect = 0
        /// Leave the namespace.
        case disconnect = 1
        /// An event: a JSON array whose first element is the event name.
        case event = 2
        /// The answer to an event that carried an ack id: a JSON array of arguments.
        case ack = 3
        /// The server refused the namespace connection (`{"message":...,"data":...}` or a string).
        case connectError = 4
        /// An event whose arguments contain binary attachments, replaced by placeholders.
        case binaryEvent = 5
        /// An ack whose arguments contain binary attachments, replaced by placeholders.
        case binaryAck = 6

        /// The name socket.io-parser uses for the type ("CONNECT", "BINARY_EVENT"...).
        public var name: String {
            switch self {
            case .connect: "CONNECT"
            case .disconnect: "DISCONNECT"
            case .event: "EVENT"
            case .ack: "ACK"
            case .connectError: "CONNECT_ERROR"
            case .binaryEvent: "BINARY_EVENT"
            case .binaryAck: "BINARY_ACK"
            }
        }

        /// Whether packets of this type announce binary attachments ("5" and "6").
        public var isBinary: Bool { self == .binaryEvent || self == .binaryAck }
    }

    /// The packet type.
    public var type: PacketType
    /// The namespace, "/" by default; it must start with "/" and contain no ",", or it cannot be
    /// written unambiguously.
    public var namespace: String
    /// The acknowledgement id, when the sender wants (or gives) an ack.
    public var ackID: Int64?
    /// The JSON payload, if any.
    public var data: JSONValue?
    /// How many binary attachments follow the packet; always 0 for non-binary types.
    public var attachmentCount: Int

    /// The default namespace.
    public static let defaultNamespace = "/"

    /// Event names socket.io refuses to send or receive because its own API uses them.
    public static let reservedEventNames: Set<String> = [
        "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
    ]

    /// Creates a packet from its parts; prefer the named constructors, which always build valid packets.
    public init(type: PacketType, namespace: String = SocketIOPacket.defaultNamespace, ackID: Int64? = nil,
                data: JSONValue? = nil, attachmentCount: Int = 0) {
        self.type = type
        self.namespace = namespace
        self.ackID = ackID
        self.data = data
        self.attachmentCount = type.isBinary ? max(0, attachmentCount) : 0
    }

    /// A client's namespace connection request, with the `auth` object if there is one.
    public static func connect(namespace: String = defaultNamespace, auth: JSONObject? = nil) -> SocketIOPacket {
        SocketIOPacket(type: .connect, namespace: namespace, data: auth.map { .object($0) })
    }

    /// The server's answer to a successful namespace connection, carrying the socket id, and the
    /// private session id when the server has connection state recovery on.
    public static func connected(namespace: String = defaultNamespace, sid: String, pid: String? = nil) -> SocketIOPacket {
        var data: JSONObject = ["sid": .string(sid)]
        if let pid { data["pid"] = .string(pid) }
        return SocketIOPacket(type: .connect, namespace: namespace, data: .object(data))
    }

    /// A namespace disconnection, from either side.
    public static func disconnect(namespace: String = defaultNamespace) -> SocketIOPacket {
        SocketIOPacket(type: .disconnect, namespace: namespace)
    }

    /// An event with its arguments; with `attachmentCount > 0` it becomes a BINARY_EVENT whose
    /// arguments hold `placeholder(_:)` objects.
    public static func event(_ name: String, _ arguments: [JSONValue] = [], namespace: String = defaultNamespace,
                             ackID: Int64? = nil, attachmentCount: Int = 0) -> SocketIOPacket {
        SocketIOPacket(type: attachmentCount > 0 ? .binaryEvent : .event, namespace: namespace, ackID: ackID,
                       data: .array([.string(name)] + arguments), attachmentCount: attachmentCount)
    }

    /// An acknowledgement for `id` with its arguments; with `attachmentCount > 0` it becomes a BINARY_ACK.
    public static func ack(id: Int64, _ arguments: [JSONValue] = [], namespace: String = defaultNamespace,
                           attachmentCount: Int = 0) -> SocketIOPacket {
        SocketIOPacket(type: attachmentCount > 0 ? .binaryAck : .ack, namespace: namespace, ackID: id,
                       data: .array(arguments), attachmentCount: attachmentCount)
    }

    /// The server's refusal of a namespace connection, as socket.io v4 servers send it
    /// (`{"message":...}` plus `"data"` when given).
    public static func connectError(namespace: String = defaultNamespace, message: String,
                                    data: JSONValue? = nil) -> SocketIOPacket {
        var object: JSONObject = ["message": .string(message)]
        if let data { object["data"] = data }
        return SocketIOPacket(type: .connectError, namespace: namespace, data: .object(object))
    }

    /// The object that stands for binary attachment `index` inside a binary packet's data:
    /// `{"_placeholder":true,"num":index}`.
    public static func placeholder(_ index: Int) -> JSONValue {
        .object(["_placeholder": .bool(true), "num": .integer(Int64(index))])
    }

    /// The event name of an EVENT or BINARY_EVENT (a numeric first element, which socket.io also
    /// allows, is given as its JSON text); nil for other packets.
    public var eventName: String? {
        guard type == .event || type == .binaryEvent, case .array(let items)? = data, let first = items.first else {
            return nil
        }
        switch first {
        case .string(let name): return name
        case .integer, .number: return String(decoding: first.serialized, as: UTF8.self)
        default: return nil
        }
    }

    /// The arguments: an event's elements after its name, an ack's elements; empty otherwise.
    public var arguments: [JSONValue] {
        guard case .array(let items)? = data else { return [] }
        switch type {
        case .event, .binaryEvent: return Array(items.dropFirst())
        case .ack, .binaryAck: return items
        default: return []
        }
    }
}

extension SocketIOPacket: CustomStringConvertible {
    /// The packet's text form, as it goes on the wire.
    public var description: String { encoded }
}
