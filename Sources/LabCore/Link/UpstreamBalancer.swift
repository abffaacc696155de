/// How a proxy with several upstreams (server instances) picks one for a new connection, as a load
/// balancer in front of a real deployment does.
public enum BalancePolicy: String, Sendable, Hashable, CaseIterable {
    /// In turn.
    case roundRobin = "round_robin"
    /// The one with the fewest open connections (ties in turn).
    case leastConnections = "least_connections"
    /// Sticky by the client's address (IP, not port): the same address always lands on the same
    /// instance while it is in (rendezvous hashing, so taking one out moves only its clients).
    case source
    /// Sticky by the Engine.IO session id (the `sid` query parameter of each HTTP request): a
    /// request for a known session goes where the session lives; a handshake goes in turn.
    case sid
}

/// The choice of upstream for each new connection, pure and deterministic: the proxy's pool and
/// the simulator's would share it. It keeps each upstream's open connections, whether it is in
/// (taken out: no new connections), and for `sid` which instance each Engine.IO session was
/// opened on (the newest `sessionCapacity`).
public struct UpstreamBalancer: Sendable, Hashable {
    /// One upstream's state.
    public struct Upstream: Sendable, Hashable {
        /// Whether new connections may go to it.
        public var enabled = true
        /// Connections open to it now.
        public var active = 0

        /// An upstream that is in, with nothing open.
        public init() {}
    }

    /// The policy.
    public let policy: BalancePolicy
    /// The upstreams, by index.
    public private(set) var upstreams: [Upstream]
    /// How many sessions `sid` remembers (the oldest are forgotten first).
    public static let sessionCapacity = 65_536

    private var turn = 0
    private var sessions: [String: Int] = [:]
    private var sessionOrder: [String] = []
    private var sessionHead = 0

    /// A balancer over `count` upstreams, all in, whose turn starts at `firstTurn` (mod count).
    public init(count: Int, policy: BalancePolicy, firstTurn: Int = 0) {
        self.policy = policy
        upstreams = Array(repeating: Upstream(), count: max(count, 0))
        turn = count > 0 ? ((firstTurn % count) + count) % count : 0
    }

    /// The upstream for a new connection from `clientHost` (for `sid`, the session its first
    /// request names, nil for a handshake or another protocol); nil when every upstream is out.
    /// Counts the connection as open on it.
    public mutating func choose(clientHost: String, sid: String? = nil) -> Int? {
        let candidates = upstreams.indices.filter { upstreams[$0].enabled }
        guard !candidates.isEmpty else { return nil }
        let chosen: Int
        switch policy {
        case .roundRobin:
            chosen = nextInTurn(candidates)
        case .leastConnections:
            let fewest = candidates.map { upstreams[$0].active }.min() ?? 0
            chosen = nextInTurn(candidates.filter { upstreams[$0].active == fewest })
        case .source:
            chosen = candidates.max { Self.weight(clientHost, $0) < Self.weight(clientHost, $1) } ?? candidates[0]
        case .sid:
            if let sid, let known = sessions[sid], upstreams.indices.contains(known), upstreams[known].enabled {
                chosen = known
            } else {
                chosen = nextInTurn(candidates)
            }
        }
        upstreams[chosen].active += 1
        return chosen
    }

    /// Counts a connection already open on `upstream` (a balancer replacing another).
    public mutating func count(openOn upstream: Int) {
        guard upstreams.indices.contains(upstream) else { return }
        upstreams[upstream].active += 1
    }

    /// A connection to `upstream` closed.
    public mutating func closed(_ upstream: Int) {
        guard upstreams.indices.contains(upstream) else { return }
        upstreams[upstream].active = max(0, upstreams[upstream].active - 1)
    }

    /// The Engine.IO session `sid` was opened on `upstream` (seen in its handshake's answer).
    public mutating func learn(sid: String, upstream: Int) {
        if sessions[sid] == nil {
            sessionOrder.append(sid)
            if sessionOrder.count - sessionHead > Self.sessionCapacity {
                sessions[sessionOrder[sessionHead]] = nil
                sessionHead += 1
                if sessionHead > Self.sessionCapacity {
                    sessionOrder.removeFirst(sessionHead)
                    sessionHead = 0
                }
            }
        }
        sessions[sid] = upstream
    }

    /// The upstream a session was opened on, if remembered.
    public func upstream(ofSession sid: String) -> Int? { sessions[sid] }

    /// Takes an upstream out (no new connections; open ones stay) or puts it back.
    public mutating func setEnabled(_ enabled: Bool, upstream: Int) {
        guard upstreams.indices.contains(upstream) else { return }
        upstreams[upstream].enabled = enabled
    }

    private mutating func nextInTurn(_ candidates: [Int]) -> Int {
        // The first candidate at or after the turn, cyclically; the turn moves past it.
        let n = upstreams.count
        for step in 0..<n {
            let i = (turn + step) % n
            if candidates.contains(i) {
                turn = (i + 1) % n
                return i
            }
        }
        return candidates[0]
    }

    /// Rendezvous weight of `host` on upstream `i`: FNV-1a over the bytes, then a mix, so that the
    /// choice is the same in every process and run (Swift's Hasher is seeded per process).
    static func weight(_ host: String, _ i: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in host.utf8 {
            h ^= UInt64(byte)
            h &*= 0x100_0000_01b3
        }
        h ^= UInt64(i) &* 0x9e37_79b9_7f4a_7c15
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }

    /// The `sid` query parameter of an HTTP request's first line (`GET /socket.io/?EIO=4&transport=polling&sid=X HTTP/1.1`),
    /// if `head` holds a whole first line that has one.
    public static func sessionID(inRequest head: [UInt8]) -> String? {
        guard let end = head.firstIndex(of: UInt8(ascii: "\r")) ?? head.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = head[..<end]
        guard let query = line.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        var i = query + 1
        while i < line.endIndex {
            let stop = line[i...].firstIndex { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "#") } ?? line.endIndex
            let pair = line[i..<stop]
            if pair.starts(with: Array("sid=".utf8)) {
                let value = String(decoding: pair.dropFirst(4), as: UTF8.self)
                return value.isEmpty ? nil : value
            }
            if stop == line.endIndex || line[stop] != UInt8(ascii: "&") { break }
            i = stop + 1
        }
        return nil
    }

    /// The Engine.IO session id an answer's open packet carries (`0{"sid":"X",…}`, in an HTTP body
    /// or a WebSocket frame), if `bytes` hold one whole.
    public static func sessionID(inOpenPacket bytes: [UInt8]) -> String? {
        let marker = Array(#"0{"sid":""#.utf8)
        guard bytes.count >= marker.count else { return nil }
        for start in 0...(bytes.count - marker.count) where bytes[start..<(start + marker.count)].elementsEqual(marker) {
            let from = start + marker.count
            guard let end = bytes[from...].firstIndex(of: UInt8(ascii: "\"")), end > from else { return nil }
            return String(decoding: bytes[from..<end], as: UTF8.self)
        }
        return nil
    }
}
