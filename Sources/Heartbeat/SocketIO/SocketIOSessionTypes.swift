import LabCore

/// The timers a Socket.IO session arms; the driver fires them back with `timerFired(_:at:)`.
public enum SocketIOTimer: Sendable, Hashable {
    /// The namespace connection must complete before this fires.
    case connectTimeout
    /// The ack for this id must arrive before this fires.
    case ackTimeout(Int64)
}

/// An event received from the peer, ready for the application.
public struct SocketIOEvent: Sendable, Hashable {
    /// The event name (a numeric name is given as its JSON text).
    public var name: String
    /// The arguments after the name, placeholders included for binary events.
    public var arguments: [JSONValue]
    /// Set when the peer wants an ack: answer with the session's `ack(_:_:at:)`.
    public var ackID: Int64?
    /// The binary attachments of a BINARY_EVENT, in placeholder order.
    public var attachments: [[UInt8]]

    /// Creates an event value.
    public init(name: String, arguments: [JSONValue] = [], ackID: Int64? = nil, attachments: [[UInt8]] = []) {
        self.name = name
        self.arguments = arguments
        self.ackID = ackID
        self.attachments = attachments
    }
}

/// An acknowledgement the peer sent for one of our events.
public struct SocketIOAck: Sendable, Hashable {
    /// The ack id our event carried.
    public var id: Int64
    /// The peer's answer.
    public var arguments: [JSONValue]
    /// The binary attachments of a BINARY_ACK, in placeholder order.
    public var attachments: [[UInt8]]

    /// Creates an ack value.
    public init(id: Int64, arguments: [JSONValue] = [], attachments: [[UInt8]] = []) {
        self.id = id
        self.arguments = arguments
        self.attachments = attachments
    }
}

/// Why an emit-with-ack got no answer: the errors socket.io-client passes to the ack callback.
public enum SocketIOAckFailure: Sendable, Hashable {
    /// No ack before the deadline ("operation has timed out").
    case timedOut
    /// The connection closed first ("socket has been disconnected").
    case disconnected
}

/// Why a namespace connection did not come up (the client's "connect_error").
public enum SocketIOConnectFailure: Sendable, Hashable {
    /// The connect timeout passed first (socket.io-client's Error("timeout")).
    case timedOut
    /// The server sent CONNECT_ERROR, with its payload (usually `{"message":...,"data":...}`).
    case refused(JSONValue?)
    /// The server answered CONNECT without a sid, as a v2 server does.
    case incompatibleServer
}

/// A misuse of a session's emit API; the session is unchanged.
public enum SocketIOEmitError: Error, Sendable, Hashable {
    /// socket.io refuses to emit events it uses itself ("connect", "disconnect"...).
    case reservedEventName(String)
}

/// Pending acks (ours) and owed acks (the peer's) of one session; shared by client and server.
///
/// Deadline rule, used by every Flatline machine: a deadline is exclusive. An answer arriving at
/// an instant `>= deadline` is late, whether the timer has fired yet or not, so the outcome never
/// depends on the order in which a driver delivers a packet and a timer due at the same instant.
struct SocketIOAckTable: Sendable {
    /// A registered ack and its deadline, if it has a timeout.
    struct Pending: Sendable, Hashable {
        var deadline: Instant?
    }

    /// What a received ACK turned out to be.
    enum Resolution: Sendable, Hashable {
        /// No such ack is pending (never sent, already answered or expired): ignore it.
        case unknown
        /// Answered in time; `hadTimer` says whether a timer must be cancelled.
        case onTime(hadTimer: Bool)
        /// Answered at or after its deadline: it counts as timed out.
        case late
    }

    private(set) var nextID: Int64 = 0
    private(set) var pending: [Int64: Pending] = [:]
    private(set) var owed: Set<Int64> = []

    /// Takes the next id (socket.io counts from 0) and records its deadline.
    mutating func register(timeout: TimeSpan?, now: Instant) -> (id: Int64, deadline: Instant?) {
        let id = nextID
        nextID &+= 1
        let deadline = timeout.map { now + $0 }
        pending[id] = Pending(deadline: deadline)
        return (id, deadline)
    }

    /// Settles an ACK for `id` received at `now`.
    mutating func resolve(_ id: Int64, now: Instant) -> Resolution {
        guard let entry = pending.removeValue(forKey: id) else { return .unknown }
        if let deadline = entry.deadline, now >= deadline { return .late }
        return .onTime(hadTimer: entry.deadline != nil)
    }

    /// Expires `id` when its timer fires at `now`; false for a stale or early timer.
    mutating func expire(_ id: Int64, now: Instant) -> Bool {
        guard let deadline = pending[id]?.deadline, now >= deadline else { return false }
        pending[id] = nil
        return true
    }

    /// Removes every pending ack, in id order, saying which had a timer armed.
    mutating func drain() -> [(id: Int64, hadTimer: Bool)] {
        let all = pending.keys.sorted().map { (id: $0, hadTimer: pending[$0]?.deadline != nil) }
        pending = [:]
        owed = []
        return all
    }

    /// Remembers that the peer wants an ack for `id`.
    mutating func owe(_ id: Int64) { owed.insert(id) }

    /// Consumes the owed ack `id`; false if it was never asked for or already sent.
    mutating func pay(_ id: Int64) -> Bool { owed.remove(id) != nil }
}
