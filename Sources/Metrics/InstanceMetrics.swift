import LabCore

/// One server instance's share of a run with several behind the proxy (`server.instances`): the
/// sessions it held, how many of them recovered an earlier session, how many ended with the client
/// coming back to another instance, and how long clients took to come back after a session on it
/// ended (docs/metrics.md, "Server instances"). Read from the servers' connects, which name their
/// instance (`InstanceDetail`), and the clients' disconnects and connects.
public struct InstanceMetrics: Sendable, Hashable {
    /// The instance, 1-based.
    public var instance: Int
    /// Namespace sessions it held.
    public var sessions = 0
    /// Of those, the ones that recovered an earlier session (connection state recovery).
    public var recoveredSessions = 0
    /// Sessions on it that ended and whose client's next session was on another instance (where an
    /// instance's own recovery store cannot recover it).
    public var movedAway = 0
    /// From the client's disconnect that ended a session on it to the client's next connect.
    public var reconnectTimes: TimeSpanStatistics?
    /// Broadcast events produced while those clients were away (after a session on it ended, before
    /// they were back) that they never received; nil without a broadcast stream.
    public var missedWhileAway: Int?

    /// An instance with nothing counted yet.
    public init(instance: Int) {
        self.instance = instance
    }

    /// Every instance's figures, by instance number; empty when no server connect names an instance.
    /// `broadcastInterval`, when the run has a broadcast stream (event k at k·interval), counts what
    /// each instance's clients missed while away.
    public static func compute<Events: Collection>(_ events: Events, broadcastInterval: TimeSpan? = nil) -> [InstanceMetrics]
        where Events.Element == LabEvent {
        let sessionsByConnection = InstanceSession.byConnection(events)
        guard !sessionsByConnection.isEmpty else { return [] }
        var clientTimes: [String: (connects: [TimeSpan], disconnects: [TimeSpan])] = [:]
        var received: [String: Set<Int64>] = [:]
        for event in events where event.side == .client {
            switch event.kind {
            case .connect: clientTimes[event.connection, default: ([], [])].connects.append(event.time)
            case .disconnect: clientTimes[event.connection, default: ([], [])].disconnects.append(event.time)
            case .messageReceived where broadcastInterval != nil:
                if let detail = event.detail, let k = BroadcastDetail.sequence(in: detail) { received[event.connection, default: []].insert(k) }
            default: break
            }
        }
        var figures: [Int: InstanceMetrics] = [:]
        var waits: [Int: [TimeSpan]] = [:]
        var missed: [Int: Int] = [:]
        for (name, sessions) in sessionsByConnection {
            for session in sessions {
                figures[session.instance, default: InstanceMetrics(instance: session.instance)].sessions += 1
                if session.recovered { figures[session.instance, default: InstanceMetrics(instance: session.instance)].recoveredSessions += 1 }
            }
            let (clientConnects, clientDisconnects) = clientTimes[name].map { ($0.connects.sorted(), $0.disconnects.sorted()) } ?? ([], [])
            for (i, session) in sessions.enumerated() {
                // The client's disconnect that ended this session, and its connect after it.
                guard let gone = clientDisconnects.first(where: { $0 >= session.range.lowerBound }) else { continue }
                if let back = clientConnects.first(where: { $0 > gone }) {
                    waits[session.instance, default: []].append(back - gone)
                    if let interval = broadcastInterval, interval > .zero {
                        // The slots in (gone, back] the client never got.
                        let p = interval.nanoseconds
                        let first = gone.nanoseconds / p + 1
                        let last = back.nanoseconds / p
                        if first <= last {
                            let got = received[name] ?? []
                            missed[session.instance, default: 0] += (first...last).filter { !got.contains($0) }.count
                        }
                    }
                }
                if i + 1 < sessions.count, sessions[i + 1].instance != session.instance {
                    figures[session.instance, default: InstanceMetrics(instance: session.instance)].movedAway += 1
                }
            }
        }
        for (k, list) in waits { figures[k, default: InstanceMetrics(instance: k)].reconnectTimes = TimeSpanStatistics(list) }
        if broadcastInterval != nil {
            for k in figures.keys { figures[k]?.missedWhileAway = missed[k] ?? 0 }
        }
        return figures.keys.sorted().map { figures[$0]! }
    }
}

/// One server namespace session of a connection on a named instance, as the log has it: the
/// server's connect names the instance (`InstanceDetail`); it lasts to the server's disconnect or,
/// for one that vanished with its instance (no disconnect logged), to the connection's next session.
struct InstanceSession {
    /// The instance, 1-based.
    var instance: Int
    /// From its connect to its end (open-ended when the log shows none).
    var range: Range<TimeSpan>
    /// Whether its connect recovered an earlier session.
    var recovered: Bool

    /// Every connection's sessions on named instances, in time order (of `events`, which are); empty
    /// when no connect names one.
    static func byConnection<Events: Collection>(_ events: Events) -> [String: [InstanceSession]] where Events.Element == LabEvent {
        var sessions: [String: [InstanceSession]] = [:]
        var open: [String: InstanceSession] = [:]
        func close(_ connection: String, at time: TimeSpan) {
            guard var session = open.removeValue(forKey: connection) else { return }
            session.range = session.range.lowerBound..<max(session.range.lowerBound, time)
            sessions[connection, default: []].append(session)
        }
        // Logs are in time order (the simulator's, and the live run's once merged).
        for event in events where event.side == .server {
            if event.kind == .connect, let detail = event.detail, detail.hasPrefix("socket.io"),
               let instance = InstanceDetail.instance(in: detail) {
                close(event.connection, at: event.time)
                open[event.connection] = InstanceSession(instance: instance, range: event.time..<TimeSpan.nanoseconds(Int64.max),
                                                         recovered: detail.contains(" recovered"))
            } else if event.kind == .disconnect {
                close(event.connection, at: event.time)
            }
        }
        for (connection, session) in open { sessions[connection, default: []].append(session) }
        return sessions
    }
}
