import LabCore
import Synchronization

/// Socket.IO's connection state recovery (socket.io 4.6+), server side: the settings named after
/// socket.io's `connectionStateRecovery` option.
public struct SocketIORecoveryOptions: Sendable, Hashable {
    /// How long a disconnected session, and every packet sent, is kept for a client to come back to
    /// (socket.io's default 2 minutes).
    public var maxDisconnectionDuration: TimeSpan
    /// Whether a recovered connect skips the namespace's acceptance step (socket.io's
    /// `skipMiddlewares`, true by default).
    public var skipMiddlewares: Bool

    /// How often expired sessions and events are swept (socket.io's adapter: once a minute); an
    /// event is kept until the first sweep after it is `maxDisconnectionDuration` old.
    public var sweepInterval: TimeSpan

    /// socket.io's defaults: 2 minutes, middlewares skipped, swept every minute.
    public init(maxDisconnectionDuration: TimeSpan = .seconds(120), skipMiddlewares: Bool = true,
                sweepInterval: TimeSpan = .seconds(60)) {
        self.maxDisconnectionDuration = maxDisconnectionDuration
        self.skipMiddlewares = skipMiddlewares
        self.sweepInterval = sweepInterval
    }

    /// These settings on a run `factor` times as fast (`timeScale`).
    public func scaled(by factor: Double) -> SocketIORecoveryOptions {
        var out = self
        out.maxDisconnectionDuration = .seconds(maxDisconnectionDuration.seconds * factor)
        out.sweepInterval = .seconds(sweepInterval.seconds * factor)
        return out
    }

    /// The close reasons after which socket.io keeps the session (its RECOVERABLE_DISCONNECT_REASONS):
    /// the transport failed or the heartbeat timed out, not a namespace disconnect by either side.
    public static func isRecoverable(_ reason: CloseReason) -> Bool {
        switch reason {
        case .pingTimeout, .transportClose, .transportError, .forcedClose: true
        default: false
        }
    }
}

/// What a socket.io client keeps across reconnects to recover its session: the private session id
/// the server handed out with CONNECT, and the offset of the last event it processed (the last
/// argument of each event without an ack, when it is a string).
public struct SocketIORecoveryToken: Sendable, Hashable {
    /// The private session id (socket.io-client's `_pid`); nil when the server gave none.
    public var pid: String?
    /// The offset of the last event processed (`_lastOffset`); nil before the first.
    public var offset: String?

    /// A token for this session id and offset.
    public init(pid: String?, offset: String? = nil) {
        self.pid = pid
        self.offset = offset
    }

    /// The CONNECT payload that asks for the session back: socket.io-client's
    /// `Object.assign({ pid, offset }, auth)` (the application's auth wins a clash; no pid, no change).
    public func connectPayload(auth: JSONObject?) -> JSONObject? {
        guard let pid else { return auth }
        var payload: JSONObject = ["pid": .string(pid)]
        if let offset { payload["offset"] = .string(offset) }
        for member in auth?.members ?? [] { payload[member.key] = member.value }
        return payload
    }
}

/// One server's store for connection state recovery, shared by every session of that server
/// (socket.io's SessionAwareAdapter): each event the server sends without an ack gets an offset
/// appended as its last argument and is kept for `maxDisconnectionDuration`; a session that ends for
/// a recoverable reason is kept as long; a client that reconnects with its private id and the offset
/// of the last event it got is given its socket id back and every kept event after that offset that
/// was meant for it.
///
/// The broadcast stream is the server's own, on its clock: event k is produced at
/// `origin + k·interval` whether or not anybody is connected, so an event produced while every client
/// was away is kept too. A reference type (one store per server process) behind a lock, so that the
/// live server's sessions on several event loops share it; the simulator's single thread never
/// contends. A restarted server starts with an empty store (`clear()`).
public final class SocketIORecoveryStore: Sendable {
    /// Who a kept event was sent to.
    public enum Target: Sendable, Hashable {
        /// Every connected client (a broadcast).
        case everyone
        /// One socket, by its socket id.
        case socket(String)
        /// The sockets in a room.
        case room(String)
    }

    /// A kept event: its offset, when it was sent, to whom, and its name and arguments (the offset last).
    public struct Packet: Sendable, Hashable {
        /// The offset, a decimal string, increasing in the order the events were sent.
        public let offset: String
        /// When the server sent it.
        public let emittedAt: Instant
        /// To whom.
        public let target: Target
        /// The event's name.
        public let event: String
        /// Its arguments, the offset last.
        public let arguments: [JSONValue]
        /// The broadcast stream's sequence number, for one of its events.
        public let broadcastSequence: Int64?
        /// The room of a per-room stream's event.
        public let room: String?
    }

    /// A session the store gave back: the socket id to reuse and the events it missed, oldest first.
    public struct Restored: Sendable, Hashable {
        /// The socket id the client had.
        public let sid: String
        /// The rooms it was in (socket.io restores them).
        public let rooms: Set<String>
        /// The kept events after the client's offset that were meant for it.
        public let missed: [Packet]
    }

    /// The server's broadcast stream, for the store to produce on the server's clock.
    public struct Broadcast: Sendable, Hashable {
        /// Event k is due at `origin + k·interval`.
        public var interval: TimeSpan
        /// The server's clock origin for the stream.
        public var origin: Instant
        /// The encoded size each event is padded to.
        public var size: Int
        /// Per-room streams: each of these rooms has its own (nil: one stream to everyone).
        public var rooms: [String]?

        /// A stream of one event every `interval` from `origin`, padded to `size`, to everyone or
        /// one per room.
        public init(interval: TimeSpan, origin: Instant, size: Int, rooms: [String]? = nil) {
            self.interval = interval
            self.origin = origin
            self.size = size
            self.rooms = rooms
        }
    }

    private struct Persisted {
        var sid: String
        var rooms: Set<String>
        var disconnectedAt: Instant
    }

    private struct StreamSlot: Hashable {
        var sequence: Int64
        var room: String?
    }

    private struct State {
        var packets: [Packet] = []
        var firstCounter: Int64 = 1  // the counter of packets[0]
        var nextCounter: Int64 = 1
        var sessions: [String: Persisted] = [:]
        var broadcastProduced: Int64 = 0  // the last broadcast sequence produced
        var broadcastOffsets: [StreamSlot: String] = [:]
        var nextSweep: Instant
        var generator: SeededGenerator
    }

    /// The settings.
    public let options: SocketIORecoveryOptions
    /// The broadcast stream the store produces, if the server has one.
    public let broadcast: Broadcast?
    private let state: Mutex<State>

    /// A store for a server started at `origin`, drawing private session ids from `seed`.
    public init(options: SocketIORecoveryOptions, broadcast: Broadcast?, origin: Instant, seed: UInt64) {
        self.options = options
        self.broadcast = broadcast
        state = Mutex(State(nextSweep: origin + options.sweepInterval, generator: SeededGenerator(seed: seed)))
    }

    /// A new private session id (socket.io's base64id), drawn from the store's seed.
    public func newPrivateID() -> String {
        state.withLock { SocketIOServerSession.makeSocketID(using: &$0.generator) }
    }

    /// Keeps an event sent at `now` to `target` and returns its arguments with the offset appended.
    public func record(_ event: String, _ arguments: [JSONValue], to target: Target, at now: Instant) -> [JSONValue] {
        state.withLock { state in
            advance(&state, to: now)
            return append(&state, event, arguments, to: target, at: now).arguments
        }
    }

    /// Keeps an event sent at `now` to `target` and returns its offset as a number (the decimal text
    /// the event carries): for a driver that does not encode the event (the simulator's size-only ticks).
    public func recordOffset(_ event: String, _ arguments: [JSONValue], to target: Target, at now: Instant) -> Int64 {
        state.withLock { state in
            advance(&state, to: now)
            _ = append(&state, event, arguments, to: target, at: now)
            return state.nextCounter - 1
        }
    }

    /// Broadcast event number `sequence` (due at or before `now`), with its offset appended: the same
    /// offset for every session that sends it.
    public func broadcastArguments(sequence: Int64, room: String? = nil, at now: Instant) -> [JSONValue]? {
        state.withLock { state in
            advance(&state, to: now)
            guard let offset = state.broadcastOffsets[StreamSlot(sequence: sequence, room: room)], let broadcast else { return nil }
            return BuiltinSocketIOApp.broadcastArguments(sequence: sequence, size: broadcast.size, room: room) + [.string(offset)]
        }
    }

    /// A connected session ended at `now` for a recoverable reason: keep it for
    /// `maxDisconnectionDuration` (socket.io's persistSession).
    public func persist(pid: String, sid: String, rooms: Set<String> = [], at now: Instant) {
        state.withLock { state in
            advance(&state, to: now)
            state.sessions[pid] = Persisted(sid: sid, rooms: rooms, disconnectedAt: now)
        }
    }

    /// A client came back with its private id and the offset of the last event it processed: its
    /// socket id and the events it missed, or nil when the session expired or was never kept, or
    /// the offset is unknown or swept (socket.io's restoreSession; the session stays kept).
    public func restore(pid: String, offset: String, at now: Instant) -> Restored? {
        state.withLock { state in
            advance(&state, to: now)
            guard let session = state.sessions[pid] else { return nil }
            if session.disconnectedAt + options.maxDisconnectionDuration < now {
                state.sessions[pid] = nil
                return nil
            }
            guard let counter = Int64(offset), counter >= state.firstCounter, counter < state.nextCounter else { return nil }
            let start = Int(counter - state.firstCounter) + 1
            let missed = state.packets[start...].filter { packet in
                switch packet.target {
                case .everyone: true
                case .socket(let sid): sid == session.sid
                case .room(let room): session.rooms.contains(room)
                }
            }
            return Restored(sid: session.sid, rooms: session.rooms, missed: Array(missed))
        }
    }

    /// The server restarted: every kept session and event is gone (socket.io's in-memory adapter).
    public func clear(at now: Instant) {
        state.withLock { state in
            state.packets = []
            state.firstCounter = state.nextCounter
            state.sessions = [:]
            state.broadcastOffsets = [:]
            // A restarted server's stream goes on from its clock; what was due while down is not produced.
            if let broadcast {
                let p = max(broadcast.interval.nanoseconds, 1)
                state.broadcastProduced = max(state.broadcastProduced, (now - broadcast.origin).nanoseconds / p)
            }
        }
    }

    /// How many events are kept now (for tests and the report).
    public var keptEvents: Int { state.withLock { $0.packets.count } }

    // MARK: Internals

    /// Produces the broadcast events due by `now`, in order, and runs the once-a-minute sweeps that
    /// fell due (sessions disconnected, and events sent, more than `maxDisconnectionDuration` before).
    private func advance(_ state: inout State, to now: Instant) {
        if state.nextSweep <= now {
            // Only the latest sweep that fell due matters: each sweeps all an earlier one would.
            let every = max(options.sweepInterval.nanoseconds, 1)
            let last = state.nextSweep + .nanoseconds((now - state.nextSweep).nanoseconds / every * every)
            sweep(&state, at: last)
            state.nextSweep = last + .nanoseconds(every)
        }
        guard let broadcast else { return }
        let p = max(broadcast.interval.nanoseconds, 1)
        let due = max(0, (now - broadcast.origin).nanoseconds / p)
        while state.broadcastProduced < due {
            state.broadcastProduced += 1
            let k = state.broadcastProduced
            let at = broadcast.origin + .nanoseconds(k * p)
            if let rooms = broadcast.rooms {
                for room in rooms {
                    let packet = append(&state, BroadcastDetail.event,
                                        BuiltinSocketIOApp.broadcastArguments(sequence: k, size: broadcast.size, room: room),
                                        to: .room(room), at: at, sequence: k, room: room)
                    state.broadcastOffsets[StreamSlot(sequence: k, room: room)] = packet.offset
                }
            } else {
                let packet = append(&state, BroadcastDetail.event, BuiltinSocketIOApp.broadcastArguments(sequence: k, size: broadcast.size),
                                    to: .everyone, at: at, sequence: k)
                state.broadcastOffsets[StreamSlot(sequence: k, room: nil)] = packet.offset
            }
        }
    }

    private func sweep(_ state: inout State, at now: Instant) {
        let threshold = now - options.maxDisconnectionDuration
        state.sessions = state.sessions.filter { $0.value.disconnectedAt >= threshold }
        if let last = state.packets.lastIndex(where: { $0.emittedAt < threshold }) {
            let dropped = state.packets[...last]
            for packet in dropped {
                if let k = packet.broadcastSequence { state.broadcastOffsets[StreamSlot(sequence: k, room: packet.room)] = nil }
            }
            state.packets.removeFirst(last + 1)
            state.firstCounter += Int64(last + 1)
        }
    }

    private func append(_ state: inout State, _ event: String, _ arguments: [JSONValue], to target: Target,
                        at now: Instant, sequence: Int64? = nil, room: String? = nil) -> Packet {
        let offset = String(state.nextCounter)
        state.nextCounter += 1
        let packet = Packet(offset: offset, emittedAt: now, target: target, event: event,
                            arguments: arguments + [.string(offset)], broadcastSequence: sequence, room: room)
        state.packets.append(packet)
        return packet
    }
}
