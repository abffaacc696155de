import LabCore

/// The event log of a simulated run, kept compact: one fixed-size record per event with strings
/// interned, turned into `LabEvent`s (and their JSON lines) only when read. Events are in the order
/// they happened, which is time order.
public struct SimulationEventLog: Sendable {
    /// One event, without strings: indices into the log's string table.
    struct Record: Sendable, Hashable {
        var time: Int64
        var rtt: Int64
        var connection: Int32
        var attempt: Int32
        var reason: Int32
        var detail: Int32
        var side: EventSide
        var kind: EventKind
    }

    private(set) var records: [Record] = []
    private var strings: [String] = []
    private var stringIndex: [String: Int32] = [:]
    /// Connection names, by connection index; index -1 is the run itself.
    private let connectionNames: [String]

    static let noString: Int32 = -1
    static let noValue: Int64 = .min

    /// A log for `connections` connections named "c1", "c2", ...
    init(connections: Int, reserve: Int) {
        connectionNames = (0..<connections).map { "c\($0 + 1)" }
        records.reserveCapacity(reserve)
    }

    /// The number of events.
    public var count: Int { records.count }

    /// The index of `text` in the string table, adding it the first time.
    mutating func intern(_ text: String) -> Int32 {
        if let index = stringIndex[text] { return index }
        let index = Int32(strings.count)
        strings.append(text)
        stringIndex[text] = index
        return index
    }

    mutating func append(_ record: Record) {
        records.append(record)
    }

    /// The event at `index` as the log's common type.
    public func event(at index: Int) -> LabEvent {
        let r = records[index]
        return LabEvent(
            time: TimeSpan(nanoseconds: r.time),
            connection: r.connection < 0 ? "run" : connectionNames[Int(r.connection)],
            side: r.side, kind: r.kind,
            reason: r.reason == Self.noString ? nil : strings[Int(r.reason)],
            rtt: r.rtt == Self.noValue ? nil : TimeSpan(nanoseconds: r.rtt),
            attempt: r.attempt < 0 ? nil : Int(r.attempt),
            detail: r.detail == Self.noString ? nil : strings[Int(r.detail)])
    }

    /// Every event as a `LabEvent`.
    public var events: [LabEvent] { (0..<count).map(event(at:)) }

    /// The whole log as JSON lines, each ending in a newline: the content of events.jsonl.
    public var jsonLines: String {
        var out = ""
        out.reserveCapacity(count * 80)
        forEachJSONChunk(bytes: .max) { out += $0 }
        return out
    }

    /// Hands `body` the log as JSON lines (each ending in a newline) in chunks of about `bytes`
    /// bytes: the content of events.jsonl, written without holding all of it.
    public func forEachJSONChunk(bytes limit: Int = 1 << 20, _ body: (String) throws -> Void) rethrows {
        var buffer = ""
        for index in 0..<count {
            event(at: index).appendJSONLine(to: &buffer)
            buffer += "\n"
            if buffer.utf8.count >= limit {
                try body(buffer)
                buffer = ""
            }
        }
        if !buffer.isEmpty { try body(buffer) }
    }
}

/// Totals of a run that do not need the log: messages are counted even when not logged.
public struct SimulationCounters: Sendable, Hashable {
    /// Application messages (events and acks) sent, both sides.
    public var messagesSent = 0
    /// Application messages received, both sides.
    public var messagesReceived = 0
    /// Heartbeat pings the servers sent.
    public var pingsSent = 0
    /// Pongs the servers received.
    public var pongsReceived = 0
    /// Disconnects noticed by servers.
    public var serverDisconnects = 0
    /// Disconnects noticed by clients (connect timeouts of attempts included).
    public var clientDisconnects = 0
    /// Reconnect attempts.
    public var reconnectAttempts = 0
    /// Packets handed to a link (both directions, handshakes included).
    public var packetsSent = 0
    /// Packets that reached the far end.
    public var packetsDelivered = 0
    /// Packets a link dropped.
    public var packetsDropped = 0

    /// All zero.
    public init() {}
}

/// The log as a collection of `LabEvent`s, each built when read: metrics can walk a long run's
/// events without an array of them (`RunMetrics.compute(events:)`).
extension SimulationEventLog: RandomAccessCollection {
    /// The first event's position, 0.
    public var startIndex: Int { 0 }
    /// One past the last event's position: the number of events.
    public var endIndex: Int { records.count }
    /// The event at `position`, built from its compact record.
    public subscript(position: Int) -> LabEvent { event(at: position) }
}
