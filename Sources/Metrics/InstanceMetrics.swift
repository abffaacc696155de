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
        var byConnection: [String: [LabEvent]] = [:]
        var any = false
        var received: [String: Set<Int64>] = [:]
        for event in events {
            if broadcastInterval != nil, event.kind == .messageReceived, event.side == .client, let detail = event.detail,
               let k = BroadcastDetail.sequence(in: detail) {
                received[event.connection, default: []].insert(k)
            }
            guard event.kind == .connect || event.kind == .disconnect else { continue }
            byConnection[event.connection, default: []].append(event)
            if event.side == .server, let detail = event.detail, InstanceDetail.instance(in: detail) != nil { any = true }
        }
        guard any else { return [] }
        var figures: [Int: InstanceMetrics] = [:]
        var waits: [Int: [TimeSpan]] = [:]
        var missed: [Int: Int] = [:]
        for (name, list) in byConnection {
            let ordered = list.sorted { $0.time < $1.time }
            var sessions: [(instance: Int, start: TimeSpan)] = []
            for event in ordered where event.side == .server && event.kind == .connect {
                guard let detail = event.detail, detail.hasPrefix("socket.io"), let k = InstanceDetail.instance(in: detail) else { continue }
                sessions.append((k, event.time))
                figures[k, default: InstanceMetrics(instance: k)].sessions += 1
                if detail.contains(" recovered") { figures[k, default: InstanceMetrics(instance: k)].recoveredSessions += 1 }
            }
            let clientConnects = ordered.filter { $0.side == .client && $0.kind == .connect }.map(\.time)
            let clientDisconnects = ordered.filter { $0.side == .client && $0.kind == .disconnect }.map(\.time)
            for (i, session) in sessions.enumerated() {
                // The client's disconnect that ended this session, and its connect after it.
                guard let gone = clientDisconnects.first(where: { $0 >= session.start }),
                      i + 1 < sessions.count || clientConnects.contains(where: { $0 > gone }) else { continue }
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
