import Metrics
import Testing
import LabCore

/// Run metrics from hand-built event logs: uptime, classification, missed detections, reconnect
/// times, RTT percentiles, delivery and the stability score.
@Suite struct MetricsRunTests {
    typealias F = MetricsFixture

    static func compute(_ events: [LabEvent], _ periods: [LinkPeriod] = [], duration: Double = 100,
                        tolerated: Double = 10) -> RunMetrics {
        RunMetrics.compute(events: events, truth: F.truth(periods, tolerated: tolerated, duration: duration),
                           duration: .seconds(duration))
    }

    @Test func uptimeAndReconnectTimeFromTheClientSide() throws {
        let m = Self.compute([
            F.event(0.9, .connect, .server, detail: "engine.io"),
            F.event(1, .connect, detail: "socket.io /"),
            F.event(41, .disconnect, reason: "ping timeout"),
            F.event(43, .connect, .server, detail: "engine.io"),
            F.event(44, .connect, detail: "socket.io /"),
            F.event(44, .connect, detail: "reconnected after 1 attempts"),
            F.event(60, .disconnect, .server, reason: "ping timeout"),
        ])
        let c1 = try #require(m.connections.first)
        #expect(m.connections.count == 1)
        #expect(c1.countedSide == .client)
        #expect(c1.connectedTime == F.s(96))
        #expect(c1.uptime == 0.96)
        #expect(c1.availableUptime == 0.96)
        #expect(c1.disconnects == 1)
        #expect(c1.falseDisconnects == 1)
        #expect(c1.reconnectTimes?.count == 1)
        #expect(c1.reconnectTimes?.max == F.s(3))
        #expect(c1.unrecovered == 0)
        // Both sides' disconnects are listed and classified; only the client's counts.
        #expect(m.disconnects.map(\.side) == [.client, .server])
        #expect(m.disconnects.map(\.counted) == [true, false])
        #expect(m.disconnects.allSatisfy { $0.classification.isFalse })
        #expect(m.disconnectCounts == [DisconnectCount(side: .client, reason: "ping timeout", count: 1),
                                       DisconnectCount(side: .server, reason: "ping timeout", count: 1)])
        #expect(m.overall == c1.renamed("*"))
    }

    @Test func serverSideCountsWhenTheClientLoggedNothing() throws {
        let m = Self.compute([
            F.event(0, .connect, .server, conn: "sid1"),
            F.event(50, .disconnect, .server, conn: "sid1", reason: "transport close"),
        ])
        #expect(m.overall.countedSide == .server)
        #expect(m.overall.uptime == 0.5)
        #expect(m.overall.unrecovered == 1)
    }

    @Test func failedAttemptsAreNotDisconnects() {
        let m = Self.compute([
            F.event(5, .reconnectAttempt),
            F.event(10, .disconnect, reason: "connect timeout"),
            F.event(12, .connect),
        ])
        #expect(m.overall.disconnects == 0)
        #expect(m.overall.failedAttempts == 1)
        #expect(m.disconnects.map(\.counted) == [false])
        #expect(m.overall.connectedTime == F.s(88))
    }

    /// Blackhole 100–200 s, a 30 s stall at 300 s (dead from 310 s), a survivable 5 s stall at 400 s.
    static let outages = [F.period(100, 200, .dead), F.period(300, 330, .stall), F.period(400, 405, .stall)]

    @Test func detectionsFalseDisconnectsAndMisses() throws {
        let m = Self.compute([
            F.event(0, .connect), F.event(0, .connect, conn: "c2"), F.event(0, .connect, conn: "c3"),
            F.event(50, .disconnect, conn: "c3", reason: "transport close"),           // false, never back
            F.event(125, .disconnect, reason: "ping timeout"),                         // detection, 25 s
            F.event(145, .disconnect, conn: "c2", reason: "ping timeout"),             // detection, 45 s
            F.event(201, .connect), F.event(202, .connect, conn: "c2"),
            F.event(315, .disconnect, conn: "c2", reason: "ping timeout"),             // detection, 15 s
            F.event(331, .connect, conn: "c2"),
            F.event(402, .disconnect, conn: "c2", reason: "ping timeout"),             // false: 2 s into a 5 s stall
            F.event(406, .connect, conn: "c2"),
        ], Self.outages, duration: 600)
        let byName = Dictionary(uniqueKeysWithValues: m.connections.map { ($0.connection, $0) })
        let c1 = try #require(byName["c1"])
        let c2 = try #require(byName["c2"])
        let c3 = try #require(byName["c3"])
        #expect(m.connections.map(\.connection) == ["c1", "c2", "c3"])
        #expect(c1.detections == 1)
        #expect(c1.detectionTimes?.max == F.s(25))
        // c1 sat through the 300–330 s stall, dead from 310 s, without noticing.
        #expect(c1.missedDetections == 1)
        #expect(m.missedDetections == [MissedDetection(connection: "c1", period: DeadPeriod(
            start: F.s(300), deadFrom: F.s(310), end: F.s(330), endsWithRun: false))])
        #expect(c2.detections == 2)
        #expect(c2.falseDisconnects == 1)
        #expect(c2.missedDetections == 0)
        #expect(c2.detectionTimes.map { [$0.min, $0.max] } == [F.s(15), F.s(45)])
        #expect(c2.reconnectTimes.map { [$0.min, $0.p50, $0.max] } == [F.s(4), F.s(16), F.s(57)])
        // c3 was already down when the link died: nothing to detect.
        #expect(c3.missedDetections == 0)
        #expect(c3.unrecovered == 1)
        #expect(m.overall.connections == 3)
        #expect(m.overall.disconnects == 5)
        #expect(m.overall.falseDisconnects == 2)
        #expect(m.overall.detections == 3)
        #expect(m.overall.missedDetections == 1)
        #expect(m.overall.detectionTimes?.count == 3)
        #expect(m.disconnects.map { $0.classification.detectionTime } == [nil, F.s(25), F.s(45), F.s(15), nil])
    }

    @Test func availableUptimeLeavesDeadTimeOut() throws {
        // Dead 100–200 s (100 s) and 310–330 s (20 s): 480 s available. c1 is open 0–125, 201–600:
        // outside dead time that is 100 + (600 − 201 − 20) = 479 s.
        let m = Self.compute([F.event(0, .connect), F.event(125, .disconnect, reason: "ping timeout"), F.event(201, .connect)],
                             Self.outages, duration: 600)
        #expect(m.overall.uptime == 524.0 / 600)
        #expect(m.overall.availableUptime == 479.0 / 480)
    }

    @Test func blackholeToTheEndOfTheRunUndetectedIsMissed() {
        let m = Self.compute([F.event(0, .connect)], [F.period(90, 200, .dead)])
        #expect(m.missedDetections.map(\.period.endsWithRun) == [true])
        #expect(m.missedDetections.map(\.period.length) == [F.s(10)])
    }

    @Test func rttPercentilesAreNearestRank() throws {
        var events = [F.event(0, .connect)]
        for i in 1...100 { events.append(F.event(Double(i) * 0.5, .pong, .server, rttMs: Double(101 - i))) }
        let rtt = try #require(Self.compute(events).overall.rtt)
        #expect(rtt.count == 100)
        #expect(rtt.min == .milliseconds(1))
        #expect(rtt.p50 == .milliseconds(50))
        #expect(rtt.p90 == .milliseconds(90))
        #expect(rtt.p99 == .milliseconds(99))
        #expect(rtt.max == .milliseconds(100))
        #expect(rtt.mean == .microseconds(50_500))
        let small = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map { TimeSpan.milliseconds($0) }
        #expect(TimeSpanStatistics.percentile(90, ofSorted: small) == .milliseconds(90))
        #expect(TimeSpanStatistics.percentile(99, ofSorted: small) == .milliseconds(100))
        #expect(TimeSpanStatistics.percentile(0, ofSorted: small) == .milliseconds(10))
        #expect(TimeSpanStatistics([]) == nil)
    }

    @Test func deliveryLeavesOutagesAndTheLastSecondOut() throws {
        // Ticks every second 0–19 s; the link is dead 5–8 s (ticks 5, 6, 7 never arrive); the
        // client drops at 12.02 s with tick 12 in flight and reconnects; tick 19 is in the grace.
        var events = [F.event(0, .connect, .server), F.event(0, .connect)]
        for i in 0..<20 {
            let t = Double(i)
            events.append(F.event(t, .messageSent, .server, detail: "tick"))
            if (5...7).contains(i) || i == 12 { continue }
            events.append(F.event(t + 0.05, .messageReceived, detail: "tick"))
        }
        events += [
            F.event(3, .messageSent, detail: "echo"),
            F.event(3.03, .messageReceived, .server, detail: "echo"),
            F.event(3.03, .messageSent, .server, detail: "echo"),
            F.event(3.06, .messageReceived, detail: "echo"),
            F.event(3.06, .messageReceived, detail: "ack"),
            F.event(12.02, .disconnect, reason: "transport close"),
            F.event(12.4, .connect, .server), F.event(12.5, .connect),
        ]
        let m = Self.compute(events, [F.period(5, 8, .dead)], duration: 20)
        let d = m.overall.delivery
        #expect(d.sent == 18)
        #expect(d.received == 17)
        #expect(d.excluded == 4)
        #expect(d.unmatchedReceives == 1)
        #expect(d.ratio == 17.0 / 18)
    }

    @Test func aLostMessageDoesNotShiftLaterMatches() {
        // Tick 2 is dropped by the link without a disconnect (the simulator can do that): only it is lost.
        var events = [F.event(0, .connect)]
        for i in 0..<6 {
            events.append(F.event(Double(i), .messageSent, .server, detail: "tick"))
            if i != 2 { events.append(F.event(Double(i) + 0.1, .messageReceived, detail: "tick")) }
        }
        let d = Self.compute(events, duration: 10).overall.delivery
        #expect(d.sent == 6)
        #expect(d.received == 5)
    }

    /// One connection-hour with a false disconnect every `every` seconds and `reconnect` seconds down each time.
    static func flapping(every: Double?, reconnect: Double = 2) -> RunMetrics {
        var events = [F.event(0.5, .connect)]
        if let every {
            var t = every
            while t + reconnect < 3600 {
                events.append(F.event(t, .disconnect, reason: "ping timeout"))
                events.append(F.event(t + reconnect, .connect))
                t += reconnect + every
            }
        }
        return compute(events, duration: 3600)
    }

    @Test func stabilityScoreOrdersFlappyBelowTheBarAndCleanNearTheTop() {
        let flappy = Self.flapping(every: 45).overall
        let slow = Self.flapping(every: 30 * 60).overall
        let clean = Self.flapping(every: nil).overall
        #expect(flappy.falseDisconnectsPerHour > 60)
        #expect(flappy.stability < 15)
        #expect(slow.falseDisconnects == 1)
        #expect(slow.stability > 75 && slow.stability < 90)
        #expect(clean.stability > 99.9)
        #expect(flappy.stability < slow.stability && slow.stability < clean.stability)
        // Two false disconnects an hour with full uptime is exactly the motivating bar.
        #expect(StabilityScore.score(availableUptime: 1, falseDisconnectsPerHour: 2) == 75)
        #expect(StabilityScore.score(availableUptime: 1, falseDisconnectsPerHour: 6) == 50)
    }

    @Test func realOutagesDoNotCostStability() {
        // A 10-minute blackhole detected after 30 s and a reconnect when it lifts.
        let m = Self.compute([
            F.event(0, .connect), F.event(1230, .disconnect, reason: "ping timeout"), F.event(1802, .connect),
        ], [F.period(1200, 1800, .dead)], duration: 3600)
        #expect(m.overall.detections == 1)
        #expect(m.overall.falseDisconnects == 0)
        #expect(m.overall.uptime < 0.85)
        #expect(m.overall.stability > 99.9)
    }

    @Test func sameInputSameMetrics() {
        let events = [F.event(0, .connect), F.event(41, .disconnect, reason: "ping timeout"), F.event(44, .connect),
                      F.event(10, .pong, .server, rttMs: 3)]
        #expect(Self.compute(events) == Self.compute(events))
        #expect(Self.compute(events).connections.count == 1)
    }

    @Test func faultEventsAndTheRunConnectionAreIgnored() {
        let m = Self.compute([F.event(0, .fault, .proxy, conn: "run", detail: "outage"), F.event(0, .connect)])
        #expect(m.connections.map(\.connection) == ["c1"])
    }

    @Test func connectionsSortNaturally() {
        let m = Self.compute(["c10", "c2", "c1"].map { F.event(0, .connect, conn: $0) })
        #expect(m.connections.map(\.connection) == ["c1", "c2", "c10"])
        #expect(m.overall.uptime == 1)
    }
}

extension ConnectionMetrics {
    /// The same figures under another name, to compare a connection with the run's overall figures.
    func renamed(_ name: String) -> ConnectionMetrics {
        var copy = self
        copy.connection = name
        return copy
    }
}
