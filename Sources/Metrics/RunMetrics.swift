import LabCore
import Scenario

/// One disconnect event of the log, judged against the ground truth.
public struct ClassifiedDisconnect: Sendable, Hashable {
    /// When it happened.
    public var time: TimeSpan
    /// The connection.
    public var connection: String
    /// Who noticed it.
    public var side: EventSide
    /// Why, as logged ("ping timeout", ...); empty when the log gave none.
    public var reason: String
    /// False or a detection (with its detection time).
    public var classification: DisconnectClassification
    /// Whether it counts in the run's figures: logged by the run's counted side (client preferred)
    /// while that side had the connection open. Disconnects of the other side, and failed attempts
    /// (a disconnect with no open connection), are listed but not counted.
    public var counted: Bool

    /// Creates a classified disconnect.
    public init(time: TimeSpan, connection: String, side: EventSide, reason: String,
                classification: DisconnectClassification, counted: Bool) {
        self.time = time
        self.connection = connection
        self.side = side
        self.reason = reason
        self.classification = classification
        self.counted = counted
    }
}

/// A dead period of a connection that no counted disconnect detected before it ended (or before
/// the run ended), while the connection was open when the link turned dead.
public struct MissedDetection: Sendable, Hashable {
    /// The connection.
    public var connection: String
    /// The dead period.
    public var period: DeadPeriod

    /// Creates a missed detection.
    public init(connection: String, period: DeadPeriod) {
        self.connection = connection
        self.period = period
    }
}

/// How many disconnect events a side logged with one reason (every disconnect event counts here,
/// failed attempts and both sides included).
public struct DisconnectCount: Sendable, Hashable {
    /// Who logged them.
    public var side: EventSide
    /// Their reason; empty when none was logged.
    public var reason: String
    /// How many.
    public var count: Int

    /// Creates a count.
    public init(side: EventSide, reason: String, count: Int) {
        self.side = side
        self.reason = reason
        self.count = count
    }
}

/// Application messages matched between sender and receiver (docs/metrics.md, "Delivery").
public struct DeliveryCount: Sendable, Hashable {
    /// Messages sent outside dead periods and before the in-flight grace at the end of the run:
    /// the denominator.
    public var sent: Int
    /// Of those, how many were received.
    public var received: Int
    /// Messages sent while the link was dead or within the grace before the end, not judged.
    public var excluded: Int
    /// Receives that matched no send (acks, or events with no logged send).
    public var unmatchedReceives: Int

    /// Creates a count.
    public init(sent: Int = 0, received: Int = 0, excluded: Int = 0, unmatchedReceives: Int = 0) {
        self.sent = sent
        self.received = received
        self.excluded = excluded
        self.unmatchedReceives = unmatchedReceives
    }

    /// received / sent; nil when nothing was sent.
    public var ratio: Double? { sent == 0 ? nil : Double(received) / Double(sent) }

    static func + (lhs: DeliveryCount, rhs: DeliveryCount) -> DeliveryCount {
        DeliveryCount(sent: lhs.sent + rhs.sent, received: lhs.received + rhs.received,
                      excluded: lhs.excluded + rhs.excluded, unmatchedReceives: lhs.unmatchedReceives + rhs.unmatchedReceives)
    }
}

/// The application's broadcast stream as one client saw it (`workload.broadcast`): what the
/// server produced from its first connect on (event k at k·interval, up to the in-flight grace
/// before the end), what reached it, and what it missed while it was away. Events produced while
/// the client's link was dead are counted apart and not judged, as sends during outages are not.
public struct BroadcastCount: Sendable, Hashable {
    /// Events produced from the client's first connect to the grace before the end, while its
    /// link was not dead: the ones judged.
    public var produced: Int = 0
    /// Events produced while the link was dead (not judged; delivered later only by a recovery).
    public var producedWhileDead: Int = 0
    /// Of those, how many it received (at least once).
    public var delivered: Int = 0
    /// Produced while it was disconnected, never received.
    public var missedWhileDisconnected: Int = 0
    /// Produced while it was connected, never received (lost with a connection that was dying).
    public var missedWhileConnected: Int = 0
    /// The most events missed over one time away (a disconnect to the next connect).
    public var mostMissedInOneDisconnect: Int = 0
    /// Receives of an event it had already received.
    public var duplicated: Int = 0
    /// Receives of an event older than one it had already received.
    public var outOfOrder: Int = 0
    /// Delivered later than the tolerated stall after it was produced.
    public var late: Int = 0
    /// Of the delivered, those that came in a later connection than the one they were produced in,
    /// or were produced while the client was disconnected: delivered by a recovery (connection state
    /// recovery's replay), not by the connection that was up.
    public var recovered: Int = 0
    /// Events produced while the link was dead that a recovery delivered later (not judged).
    public var recoveredWhileDead: Int = 0

    /// Creates a count.
    public init() {}

    /// Events produced and never received.
    public var missed: Int { missedWhileDisconnected + missedWhileConnected }
    /// delivered / produced; nil when nothing was produced.
    public var ratio: Double? { produced == 0 ? nil : Double(delivered) / Double(produced) }

    static func + (a: BroadcastCount, b: BroadcastCount) -> BroadcastCount {
        var c = BroadcastCount()
        c.produced = a.produced + b.produced
        c.producedWhileDead = a.producedWhileDead + b.producedWhileDead
        c.delivered = a.delivered + b.delivered
        c.missedWhileDisconnected = a.missedWhileDisconnected + b.missedWhileDisconnected
        c.missedWhileConnected = a.missedWhileConnected + b.missedWhileConnected
        c.mostMissedInOneDisconnect = max(a.mostMissedInOneDisconnect, b.mostMissedInOneDisconnect)
        c.duplicated = a.duplicated + b.duplicated
        c.outOfOrder = a.outOfOrder + b.outOfOrder
        c.late = a.late + b.late
        c.recovered = a.recovered + b.recovered
        c.recoveredWhileDead = a.recoveredWhileDead + b.recoveredWhileDead
        return c
    }
}

/// The figures of one connection, or of the run as a whole (`RunMetrics.overall`).
public struct ConnectionMetrics: Sendable, Hashable {
    /// The connection's id; "*" for the run as a whole.
    public var connection: String
    /// The side whose connect and disconnect events were counted (client preferred, then server,
    /// then proxy).
    public var countedSide: EventSide
    /// How many connections the figures cover (1, or the count for the whole run).
    public var connections: Int
    /// Time the counted side had the connection open, within the run.
    public var connectedTime: TimeSpan
    /// connectedTime / (connections × duration).
    public var uptime: Double
    /// Connected time outside dead instants / time outside dead instants: the uptime the heartbeat
    /// logic is answerable for. 1 when the link was dead for the whole run.
    public var availableUptime: Double
    /// Counted disconnects.
    public var disconnects: Int
    /// Counted disconnects that were false.
    public var falseDisconnects: Int
    /// Counted disconnects that were detections.
    public var detections: Int
    /// Dead periods nobody detected.
    public var missedDetections: Int
    /// Detection times of the counted detections.
    public var detectionTimes: TimeSpanStatistics?
    /// Time from each counted disconnect to the next connect of the counted side.
    public var reconnectTimes: TimeSpanStatistics?
    /// Counted disconnects with no later connect within the run.
    public var unrecovered: Int
    /// Reconnects of the counted side whose connect recovered the earlier session (connection state
    /// recovery: the log's connect detail ends in "recovered").
    public var recoveredReconnects: Int
    /// Disconnect events of the counted side logged with no open connection (failed attempts).
    public var failedAttempts: Int
    /// Heartbeat RTTs from pong events (any side).
    public var rtt: TimeSpanStatistics?
    /// Application message delivery.
    public var delivery: DeliveryCount
    /// The broadcast stream's delivery; nil without one.
    public var broadcast: BroadcastCount?
    /// False disconnects per connection-hour of run time.
    public var falseDisconnectsPerHour: Double
    /// The stability score, 0–100 (`StabilityScore`).
    public var stability: Double
}

/// Options of `RunMetrics.compute` with documented defaults.
public struct MetricsOptions: Sendable, Hashable {
    /// Messages sent this close to the end of the run may still be in flight and are not judged
    /// (default 1 s).
    public var inFlightGrace: TimeSpan
    /// The broadcast stream's interval (`workload.broadcast`), whose events are counted per client
    /// against what the server's clock produced; nil for none.
    public var broadcastInterval: TimeSpan?

    /// Creates options.
    public init(inFlightGrace: TimeSpan = .seconds(1), broadcastInterval: TimeSpan? = nil) {
        self.inFlightGrace = inFlightGrace
        self.broadcastInterval = broadcastInterval
    }

    /// The options a scenario implies: its broadcast stream.
    public init(scenario: Scenario) {
        self.init(broadcastInterval: scenario.workload.broadcast?.rate.interval)
    }
}

/// Everything a run's event log says, judged against the ground truth: per-connection and overall
/// uptime, disconnects and their classification, missed detections, reconnect times, RTTs,
/// delivery and the stability score (docs/metrics.md). A pure function of its inputs.
public struct RunMetrics: Sendable, Hashable {
    /// The run's length.
    public var duration: TimeSpan
    /// One entry per connection that has connect, disconnect, message or heartbeat events, in
    /// natural name order ("c2" before "c10").
    public var connections: [ConnectionMetrics]
    /// The run as a whole: the connections whose counted side is the run's (client when any
    /// connection has client connect/disconnect events), with RTTs and delivery from every connection.
    public var overall: ConnectionMetrics
    /// Every disconnect event, classified, in log order.
    public var disconnects: [ClassifiedDisconnect]
    /// Every missed detection, by connection then time.
    public var missedDetections: [MissedDetection]
    /// Disconnect events by side and reason, sorted by side then reason.
    public var disconnectCounts: [DisconnectCount]
    /// Each server instance's share, when several ran behind the proxy (empty otherwise).
    public var instances: [InstanceMetrics] = []

    /// Computes the metrics of a run of `duration` from its events. Events are taken in time
    /// order (ties in log order); `fault` events and the connection "run" are ignored.
    ///
    /// Any random-access collection of events will do, a compact log that builds each event on
    /// access included: the computation keeps positions (8 bytes an event), never copies of the
    /// events, so a long run's metrics cost little more memory than its log.
    public static func compute<Events: RandomAccessCollection>(
        events: Events, truth: GroundTruth, duration: TimeSpan, options: MetricsOptions = MetricsOptions()
    ) -> RunMetrics where Events.Element == LabEvent, Events.Index == Int {
        // Positions of the kept events, with their times and connections read once.
        var kept: [Int] = []
        var times: [TimeSpan] = []
        var byConnection: [String: [Int]] = [:]
        var inOrder = true
        for index in events.indices {
            let event = events[index]
            guard event.kind != .fault, event.connection != "run" else { continue }
            if let last = times.last, event.time < last { inOrder = false }
            kept.append(index)
            times.append(event.time)
        }
        let ordered = inOrder ? kept : kept.indices
            .sorted { (times[$0], $0) < (times[$1], $1) }
            .map { kept[$0] }
        times = []
        for index in ordered { byConnection[events[index].connection, default: []].append(index) }
        let names = byConnection.keys.sorted(by: naturalOrder)

        var perConnection: [ConnectionAccumulator] = []
        var classified: [(index: Int, disconnect: ClassifiedDisconnect)] = []
        for name in names {
            let acc = ConnectionAccumulator(name: name, events: byConnection[name]!.lazy.map { events[$0] }, truth: truth,
                                            duration: duration, options: options)
            perConnection.append(acc)
            classified.append(contentsOf: acc.disconnects)
        }
        let runSide: EventSide = [.client, .server, .proxy].first { side in perConnection.contains { $0.side == side && $0.hasLifecycle } }
            ?? .client
        let overallMembers = perConnection.filter { $0.side == runSide && ($0.hasLifecycle || !perConnection.contains(where: \.hasLifecycle)) }

        var counts: [DisconnectKey: Int] = [:]
        for index in ordered {
            let event = events[index]
            guard event.kind == .disconnect else { continue }
            counts[DisconnectKey(side: event.side, reason: event.reason ?? ""), default: 0] += 1
        }
        let sideOrder: [EventSide: Int] = [.client: 0, .server: 1, .proxy: 2]
        let disconnectCounts = counts.map { DisconnectCount(side: $0.key.side, reason: $0.key.reason, count: $0.value) }
            .sorted { (sideOrder[$0.side]!, $0.reason) < (sideOrder[$1.side]!, $1.reason) }

        let overall = ConnectionAccumulator.combine(overallMembers, allForTraffic: perConnection, side: runSide, duration: duration)
        var metrics = RunMetrics(
            duration: duration,
            connections: perConnection.map { $0.metrics(duration: duration) },
            overall: overall,
            disconnects: classified.sorted { ($0.disconnect.time, $0.index) < ($1.disconnect.time, $1.index) }.map { entry in
                // Counted means counted in the run's figures: a connection seen only from the other
                // side (a live server logs under its session ids) is listed, not counted.
                var d = entry.disconnect
                d.counted = d.counted && d.side == runSide
                return d
            },
            missedDetections: perConnection.flatMap(\.missed),
            disconnectCounts: disconnectCounts)
        metrics.instances = InstanceMetrics.compute(events, broadcastInterval: options.broadcastInterval)
        return metrics
    }

    /// Orders names with digit runs compared as numbers: "c2" < "c10".
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        func parts(_ s: String) -> [(String, Int?)] {
            var result: [(String, Int?)] = []
            var current = ""
            var digits = false
            for ch in s {
                let isDigit = ch.isASCII && ch.isNumber
                if !current.isEmpty && isDigit != digits {
                    result.append((current, digits ? Int(current) : nil))
                    current = ""
                }
                digits = isDigit
                current.append(ch)
            }
            if !current.isEmpty { result.append((current, digits ? Int(current) : nil)) }
            return result
        }
        let pa = parts(a)
        let pb = parts(b)
        for (x, y) in zip(pa, pb) {
            if let nx = x.1, let ny = y.1, nx != ny { return nx < ny }
            if x.0 != y.0 { return x.0 < y.0 }
        }
        return pa.count != pb.count ? pa.count < pb.count : a < b
    }
}

/// A sender and a message name: sends and receives are matched per key.
private struct MessageKey: Hashable {
    var sender: EventSide
    var detail: String
}

private struct DisconnectKey: Hashable {
    var side: EventSide
    var reason: String
}

/// Walks one connection's events once and keeps what its metrics need.
private struct ConnectionAccumulator {
    let name: String
    let side: EventSide
    /// Whether the counted side logged any connect or disconnect.
    let hasLifecycle: Bool
    var connected: [Range<TimeSpan>] = []
    var disconnects: [(index: Int, disconnect: ClassifiedDisconnect)] = []
    var reconnectTimes: [TimeSpan] = []
    var recoveredReconnects = 0
    var unrecovered = 0
    var failedAttempts = 0
    var missed: [MissedDetection] = []
    var rtts: [TimeSpan] = []
    var delivery = DeliveryCount()
    var broadcast: BroadcastCount?
    var deadTime: TimeSpan = .zero
    var connectedOutsideDead: TimeSpan = .zero

    init<Events: Collection>(name: String, events: Events, truth: GroundTruth, duration: TimeSpan,
                             options: MetricsOptions) where Events.Element == LabEvent {
        self.name = name
        var lifecycleSides = Set<EventSide>()
        for event in events where event.kind == .connect || event.kind == .disconnect { lifecycleSides.insert(event.side) }
        side = [.client, .server, .proxy].first { lifecycleSides.contains($0) } ?? .client
        hasLifecycle = !lifecycleSides.isEmpty

        func clamp(_ t: TimeSpan) -> TimeSpan { min(max(t, .zero), duration) }

        // Lifecycle of the counted side; every disconnect is classified.
        var openSince: TimeSpan?
        var lastDisconnect: TimeSpan?
        for (index, event) in events.enumerated() {
            switch event.kind {
            case .connect where event.side == side:
                if openSince == nil {
                    openSince = event.time
                    if let last = lastDisconnect {
                        reconnectTimes.append(event.time - last)
                        lastDisconnect = nil
                        if event.detail?.hasSuffix("recovered") == true { recoveredReconnects += 1 }
                    }
                }
            case .disconnect:
                var counted = false
                if event.side == side {
                    if let since = openSince {
                        counted = true
                        if clamp(since) < clamp(event.time) { connected.append(clamp(since)..<clamp(event.time)) }
                        openSince = nil
                        lastDisconnect = event.time
                    } else {
                        failedAttempts += 1
                    }
                }
                disconnects.append((index, ClassifiedDisconnect(
                    time: event.time, connection: name, side: event.side, reason: event.reason ?? "",
                    classification: truth.classify(disconnectAt: event.time, connection: name), counted: counted)))
            case .pong:
                if let rtt = event.rtt { rtts.append(rtt) }
            default:
                break
            }
        }
        if let since = openSince, clamp(since) < duration { connected.append(clamp(since)..<duration) }
        if lastDisconnect != nil { unrecovered = 1 }

        // Missed detections: dead periods entered while open, with no counted disconnect in them.
        let dead = truth.deadPeriods(connection: name)
        let counted = disconnects.map(\.disconnect).filter(\.counted)
        for period in dead {
            let detected = counted.contains { $0.time >= period.deadFrom && $0.time < period.end }
            let openAtDeath = connected.contains { $0.lowerBound <= period.deadFrom && period.deadFrom < $0.upperBound }
            if !detected && openAtDeath { missed.append(MissedDetection(connection: name, period: period)) }
        }
        deadTime = dead.reduce(.zero) { $0 + ($1.end - $1.deadFrom) }
        var outside = TimeSpan.zero
        for range in connected {
            var inside = TimeSpan.zero
            for period in dead {
                let lo = max(range.lowerBound, period.deadFrom)
                let hi = min(range.upperBound, period.end)
                if lo < hi { inside = inside + (hi - lo) }
            }
            outside = outside + (range.upperBound - range.lowerBound) - inside
        }
        connectedOutsideDead = outside

        delivery = Self.matchMessages(events, connection: name, truth: truth,
                                      judgedBefore: duration - options.inFlightGrace)
        if let interval = options.broadcastInterval, interval > .zero {
            let name = self.name
            broadcast = Self.countBroadcast(events, connected: connected, interval: interval,
                                            producedBefore: duration - options.inFlightGrace, lateAfter: truth.toleratedStall,
                                            isDead: { truth.isDead(at: $0, connection: name) })
        }
    }

    /// The broadcast stream as this connection's client saw it: event k produced at k·interval,
    /// received when the client logged "broadcast k" (docs/metrics.md, "Broadcast events").
    static func countBroadcast<Events: Collection>(_ events: Events, connected: [Range<TimeSpan>], interval: TimeSpan,
                                                   producedBefore cutoff: TimeSpan, lateAfter: TimeSpan,
                                                   isDead: (TimeSpan) -> Bool) -> BroadcastCount
        where Events.Element == LabEvent {
        var count = BroadcastCount()
        guard let first = connected.first?.lowerBound else { return count }
        var received: [Int64: TimeSpan] = [:]
        var newest: Int64 = 0
        // The server's namespace sessions: an event produced while none was up could only come by a replay.
        var serverUp: [Range<TimeSpan>] = []
        var serverSince: TimeSpan?
        for event in events where event.side == .server {
            if event.kind == .connect, event.detail?.hasPrefix("socket.io") == true, serverSince == nil {
                serverSince = event.time
            } else if event.kind == .disconnect, let since = serverSince {
                serverUp.append(since..<max(since, event.time))
                serverSince = nil
            }
        }
        if let since = serverSince { serverUp.append(since..<TimeSpan.nanoseconds(Int64.max)) }
        var serverIndex = 0
        for event in events where event.kind == .messageReceived && event.side == .client {
            guard let detail = event.detail, let k = BroadcastDetail.sequence(in: detail) else { continue }
            if received[k] != nil {
                count.duplicated += 1
                continue
            }
            if k < newest { count.outOfOrder += 1 }
            newest = max(newest, k)
            received[k] = event.time
        }
        let p = max(interval.nanoseconds, 1)
        // Slots from the first connect on (strictly after it: one due at the connect itself went
        // out before the namespace was connected).
        var k = first.nanoseconds / p + 1
        var missedThisTime = 0  // over the current time away
        var index = 0  // the connected range at or after the slot
        while k * p < cutoff.nanoseconds {
            let slot = k
            let t = TimeSpan.nanoseconds(slot * p)
            k += 1
            while index < connected.count, connected[index].upperBound < t { index += 1 }
            let isConnected = index < connected.count && connected[index].lowerBound < t
            while serverIndex < serverUp.count, serverUp[serverIndex].upperBound < t { serverIndex += 1 }
            let serverConnected = serverIndex < serverUp.count && serverUp[serverIndex].lowerBound < t
            // Delivered by a recovery: received after the client's connection that was up when it was
            // produced had ended; or produced while the client was away and received by its next
            // connection, unless the server session up at that instant was that connection's own
            // (its namespace connect comes half a round trip before the client's, and sends live).
            func byRecovery(_ at: TimeSpan) -> Bool {
                if isConnected { return at > connected[index].upperBound }
                let next = index < connected.count ? connected[index].lowerBound : at
                return !(serverConnected && serverUp[serverIndex].upperBound >= next)
            }
            if isDead(t) {
                count.producedWhileDead += 1
                if let at = received[slot], byRecovery(at) { count.recoveredWhileDead += 1 }
                continue
            }
            count.produced += 1
            if isConnected { missedThisTime = 0 }
            if let at = received[slot] {
                count.delivered += 1
                if at - t > lateAfter { count.late += 1 }
                if byRecovery(at) { count.recovered += 1 }
            } else if isConnected {
                count.missedWhileConnected += 1
            } else {
                count.missedWhileDisconnected += 1
                missedThisTime += 1
                count.mostMissedInOneDisconnect = max(count.mostMissedInOneDisconnect, missedThisTime)
            }
        }
        return count
    }

    /// Matches sends with receives on the other side (docs/metrics.md, "Delivery").
    static func matchMessages<Events: Collection>(_ events: Events, connection: String, truth: GroundTruth,
                                                  judgedBefore cutoff: TimeSpan) -> DeliveryCount where Events.Element == LabEvent {
        typealias Key = MessageKey
        // Per sender and name, the unmatched sends (whether each is judged), oldest first.
        var pending: [Key: [Bool]] = [:]
        var count = DeliveryCount()
        func peer(_ side: EventSide) -> EventSide? {
            switch side {
            case .client: .server
            case .server: .client
            case .proxy: nil
            }
        }
        func dropPending(sender: EventSide) {
            for key in pending.keys where key.sender == sender { pending[key] = [] }
        }
        for event in events {
            switch event.kind {
            case .messageSent where event.side != .proxy:
                let judged = event.time < cutoff && !truth.isDead(at: event.time, connection: connection)
                if judged { count.sent += 1 } else { count.excluded += 1 }
                pending[Key(sender: event.side, detail: event.detail ?? ""), default: []].append(judged)
            case .messageReceived:
                guard let sender = peer(event.side) else { break }
                let key = Key(sender: sender, detail: event.detail ?? "")
                // The newest unmatched send: a message lost on the way stays unmatched instead of
                // shifting every later match.
                if let judged = pending[key]?.popLast() {
                    if judged { count.received += 1 }
                } else {
                    count.unmatchedReceives += 1
                }
            case .connect:
                // The sender opened a new connection: what it sent before can no longer arrive.
                dropPending(sender: event.side)
            case .disconnect:
                // The receiver closed: what was in flight to it is lost.
                if let sender = peer(event.side) { dropPending(sender: sender) }
            default:
                break
            }
        }
        return count
    }

    func metrics(duration: TimeSpan) -> ConnectionMetrics {
        Self.combine([self], allForTraffic: [self], side: side, duration: duration, name: name)
    }

    static func combine(_ members: [ConnectionAccumulator], allForTraffic: [ConnectionAccumulator], side: EventSide,
                        duration: TimeSpan, name: String = "*") -> ConnectionMetrics {
        let n = members.count
        let connectedTime = members.reduce(TimeSpan.zero) { $0 + $1.connected.reduce(.zero) { $0 + ($1.upperBound - $1.lowerBound) } }
        let total = Double(duration.nanoseconds) * Double(n)
        let available = total - members.reduce(0.0) { $0 + Double($1.deadTime.nanoseconds) }
        let outside = members.reduce(0.0) { $0 + Double($1.connectedOutsideDead.nanoseconds) }
        let counted = members.flatMap { $0.disconnects.map(\.disconnect).filter(\.counted) }
        let falseCount = counted.filter(\.classification.isFalse).count
        let hours = total / 3.6e12
        let perHour = hours > 0 ? Double(falseCount) / hours : 0
        let availableUptime = available > 0 ? min(1, outside / available) : 1
        return ConnectionMetrics(
            connection: name,
            countedSide: side,
            connections: n,
            connectedTime: connectedTime,
            uptime: total > 0 ? Double(connectedTime.nanoseconds) / total : 0,
            availableUptime: availableUptime,
            disconnects: counted.count,
            falseDisconnects: falseCount,
            detections: counted.count - falseCount,
            missedDetections: members.reduce(0) { $0 + $1.missed.count },
            detectionTimes: TimeSpanStatistics(counted.compactMap(\.classification.detectionTime)),
            reconnectTimes: TimeSpanStatistics(members.flatMap(\.reconnectTimes)),
            unrecovered: members.reduce(0) { $0 + $1.unrecovered },
            recoveredReconnects: members.reduce(0) { $0 + $1.recoveredReconnects },
            failedAttempts: members.reduce(0) { $0 + $1.failedAttempts },
            rtt: TimeSpanStatistics(allForTraffic.flatMap(\.rtts)),
            delivery: allForTraffic.reduce(DeliveryCount()) { $0 + $1.delivery },
            broadcast: members.contains { $0.broadcast != nil }
                ? members.reduce(BroadcastCount()) { $0 + ($1.broadcast ?? BroadcastCount()) } : nil,
            falseDisconnectsPerHour: perHour,
            stability: StabilityScore.score(availableUptime: availableUptime, falseDisconnectsPerHour: perHour))
    }
}

/// The stability score: one number from 0 to 100 for "does this connection stay up when it should".
///
///     score = 100 × availableUptime / (1 + falseDisconnectsPerHour / 6)
///
/// `availableUptime` is the fraction of the time the link was not dead that the connection was
/// open; `falseDisconnectsPerHour` counts false disconnects per connection-hour of run time. Six
/// false disconnects an hour (one every 10 minutes) halve the score; two an hour cost a quarter,
/// which is the motivating case's bar of 75. A dashboard dropping every 30–60 s (60–120 an hour)
/// scores under 10; a connection that never drops falsely scores its available uptime, near 100.
public enum StabilityScore {
    /// The false-disconnect rate per connection-hour that halves the score.
    public static let halvingRate: Double = 6

    /// The score for an available uptime (0…1) and a false-disconnect rate (per connection-hour).
    public static func score(availableUptime: Double, falseDisconnectsPerHour: Double) -> Double {
        let u = min(max(availableUptime, 0), 1)
        return 100 * u / (1 + max(falseDisconnectsPerHour, 0) / halvingRate)
    }
}
