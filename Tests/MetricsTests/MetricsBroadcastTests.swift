import LabCore
import Metrics
import Scenario
import Testing

/// The broadcast stream's counts (docs/metrics.md, "Broadcast events"), on a hand-made log whose
/// figures are worked out below.
@Suite struct MetricsBroadcastTests {
    typealias F = MetricsFixture

    @Test func producedDeliveredMissedDuplicatedOutOfOrderAndLate() throws {
        // One event every 10 s over 100 s (slots 1…9 judged: slot 10 at 100 s is past the 1 s grace).
        // c1 connects at 5 s, drops at 32 s, is back at 61 s. It receives 1 and 2, 3 twice, then
        // 7 (at 70 s, 0 s late), 6 after it (out of order, 14 s late), and 8. Missed: 4 and 5
        // while away (slot 6 at 60 s too, but it arrived), 9 while connected.
        let received: [(Double, Int)] = [(10, 1), (20, 2), (30, 3), (30.5, 3), (70, 7), (74, 6), (80, 8)]
        var events = [F.event(5, .connect, detail: "socket.io /"), F.event(32, .disconnect, reason: "transport close"),
                      F.event(61, .connect, detail: "socket.io /")]
        events += received.map { F.event($0.0, .messageReceived, detail: "broadcast \($0.1)") }
        events.sort { $0.time < $1.time }
        let m = RunMetrics.compute(events: events, truth: F.truth([], tolerated: 10, duration: 100), duration: .seconds(100),
                                   options: MetricsOptions(broadcastInterval: .seconds(10)))
        let b = try #require(m.overall.broadcast)
        #expect(b.produced == 9)
        #expect(b.delivered == 6, "1, 2, 3, 6, 7, 8")
        #expect(b.missedWhileDisconnected == 2 && b.mostMissedInOneDisconnect == 2, "4 and 5")
        #expect(b.missedWhileConnected == 1, "9")
        #expect(b.missed == 3)
        #expect(b.duplicated == 1 && b.outOfOrder == 1)
        #expect(b.late == 1, "6, delivered 14 s after it was produced")
        #expect(b.ratio == 6.0 / 9.0)
        // The verdicts are judged against what was produced.
        let verdicts = Expectations(deliveryAtLeast: 0.9, missedEventsAtMost: 3).verdicts(for: m)
        #expect(verdicts.map(\.passed) == [false, true], "\(verdicts)")
        #expect(verdicts[0].measured == "66.67% of the broadcast events produced (6/9; 2 missed while disconnected)")
        #expect(verdicts[1].measured == "3 (2 while disconnected, at most 2 in one disconnect)")
        // Without a broadcast stream there is nothing to count, and missedEventsAtMost says so.
        let none = RunMetrics.compute(events: events, truth: F.truth([], duration: 100), duration: .seconds(100))
        #expect(none.overall.broadcast == nil)
        let unjudged = Expectations(missedEventsAtMost: 0).verdicts(for: none)
        #expect(unjudged.map(\.judged) == [false] && unjudged.map(\.passed) == [false], "\(unjudged)")
    }
}
