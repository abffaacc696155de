import Testing
import LabCore

private enum ConnectionFixture {
    static func s(_ seconds: Int64) -> Instant { Instant(nanoseconds: seconds * 1_000_000_000) }

    static func connection(openedAt: Instant, seed: UInt64 = 11,
                           upstream: [ActiveCondition] = [], downstream: [ActiveCondition] = []) -> ConnectionSchedule {
        var c = ConnectionSchedule(openedAt: openedAt, random: SeededGenerator(seed: seed))
        c.upstream.setConditions(upstream)
        c.downstream.setConditions(downstream)
        return c
    }

    static func reset(_ name: String, after: Int64, since: Instant, applies: Bool = true) -> ActiveCondition {
        ActiveCondition(name: name, condition: .reset(ResetCondition(after: .seconds(Double(after)))), since: since, applies: applies)
    }

    static func blackhole(_ name: String, closeAfter: Int64?, since: Instant) -> ActiveCondition {
        ActiveCondition(name: name, condition: .blackhole(BlackholeCondition(closeAfter: closeAfter.map { .seconds(Double($0)) })),
                        since: since)
    }

    static func idle(_ name: String, after: Int64, action: MiddleboxAction = .close, since: Instant) -> ActiveCondition {
        ActiveCondition(name: name, condition: .idleTimeout(IdleTimeoutCondition(after: .seconds(Double(after)), action: action)),
                        since: since)
    }

    static func slowConnect(_ name: String, ms: Int64, applies: Bool = true) -> ActiveCondition {
        ActiveCondition(name: name, condition: .slowConnect(SlowConnectCondition(delay: .milliseconds(ms))), since: .zero,
                        applies: applies)
    }
}

private typealias C = ConnectionFixture

@Suite("Connection schedule")
struct ConnectionScheduleTests {
    @Test("a new connection has no action, no connect delay, and both links pass through")
    func fresh() {
        let c = C.connection(openedAt: C.s(3))
        #expect(c.nextAction == nil)
        #expect(c.connectDelay == .zero)
        #expect(c.openedAt == C.s(3))
        #expect(c.lastActivity == C.s(3))
        #expect(c.upstream.isPassthrough && c.downstream.isPassthrough)
    }

    @Test("reset is due at since + after")
    func resetDue() {
        let c = C.connection(openedAt: C.s(10), upstream: [C.reset("rst", after: 5, since: C.s(12))])
        #expect(c.nextAction == DueAction(at: C.s(17), action: .reset, cause: "rst"))
    }

    @Test("reset counts from the connection's open when it opened after the condition started")
    func resetFromLaterOfConditionAndOpen() {
        // The condition started at 0 s; this connection opened at 10 s: reset at 15 s, not at 5 s.
        let c = C.connection(openedAt: C.s(10), downstream: [C.reset("rst", after: 5, since: .zero)])
        #expect(c.nextAction == DueAction(at: C.s(15), action: .reset, cause: "rst"))
        let immediate = C.connection(openedAt: C.s(10), upstream: [C.reset("now", after: 0, since: C.s(2))])
        #expect(immediate.nextAction == DueAction(at: C.s(10), action: .reset, cause: "now"))
    }

    @Test("a reset that does not apply to this connection is ignored")
    func resetNotApplying() {
        let c = C.connection(openedAt: .zero, upstream: [C.reset("rst", after: 5, since: .zero, applies: false)])
        #expect(c.nextAction == nil)
    }

    @Test("a blackhole's close deadline is not moved by activity")
    func blackholeDeadline() {
        var c = C.connection(openedAt: C.s(5), upstream: [C.blackhole("bh", closeAfter: 30, since: C.s(10))])
        #expect(c.nextAction == DueAction(at: C.s(40), action: .close, cause: "bh"))
        c.noteActivity(at: C.s(35))
        #expect(c.lastActivity == C.s(35))
        #expect(c.nextAction == DueAction(at: C.s(40), action: .close, cause: "bh"))
        // A blackhole created before the connection counts from the connection's open.
        let late = C.connection(openedAt: C.s(100), downstream: [C.blackhole("bh", closeAfter: 30, since: C.s(10))])
        #expect(late.nextAction == DueAction(at: C.s(130), action: .close, cause: "bh"))
    }

    @Test("a blackhole without a deadline asks for nothing")
    func blackholeForever() {
        let c = C.connection(openedAt: .zero, upstream: [C.blackhole("bh", closeAfter: nil, since: .zero)])
        #expect(c.nextAction == nil)
    }

    @Test("idle timeout is moved by activity and carries the configured action",
          arguments: [(MiddleboxAction.close, ConnectionAction.close), (.reset, .reset), (.blackhole, .blackhole)])
    func idleTimeout(action: MiddleboxAction, expected: ConnectionAction) {
        var c = C.connection(openedAt: .zero, upstream: [C.idle("nat", after: 60, action: action, since: .zero)])
        #expect(c.nextAction == DueAction(at: C.s(60), action: expected, cause: "nat"))
        c.noteActivity(at: C.s(30))
        #expect(c.nextAction == DueAction(at: C.s(90), action: expected, cause: "nat"))
        c.noteActivity(at: C.s(20))  // out of order: the clock never goes back
        #expect(c.lastActivity == C.s(30))
        #expect(c.nextAction == DueAction(at: C.s(90), action: expected, cause: "nat"))
        c.noteActivity(at: C.s(89))
        #expect(c.nextAction == DueAction(at: C.s(149), action: expected, cause: "nat"))
    }

    @Test("an idle timeout added later counts from when it started applying")
    func idleTimeoutAddedLater() {
        var c = C.connection(openedAt: .zero)
        c.noteActivity(at: C.s(30))
        c.downstream.setConditions([C.idle("proxy", after: 60, since: C.s(100))])
        #expect(c.nextAction == DueAction(at: C.s(160), action: .close, cause: "proxy"))
        c.noteActivity(at: C.s(120))
        #expect(c.nextAction == DueAction(at: C.s(180), action: .close, cause: "proxy"))
    }

    @Test("connectDelay adds the slow_connect delays that apply on a link, and takes the longer link")
    func connectDelay() {
        let c = C.connection(openedAt: .zero,
                             upstream: [C.slowConnect("a", ms: 100), C.slowConnect("a2", ms: 50),
                                        C.slowConnect("off", ms: 1_000, applies: false)],
                             downstream: [C.slowConnect("b", ms: 250), C.reset("rst", after: 1, since: .zero)])
        #expect(c.connectDelay == .milliseconds(250))
        // The same delay on both links (a scenario's `both:`) is one connect, waited for once.
        let both = C.connection(openedAt: .zero, upstream: [C.slowConnect("u", ms: 1_000)],
                                downstream: [C.slowConnect("d", ms: 1_000)])
        #expect(both.connectDelay == .milliseconds(1_000))
        let stacked = C.connection(openedAt: .zero, upstream: [C.slowConnect("a", ms: 100), C.slowConnect("a2", ms: 50)],
                                   downstream: [])
        #expect(stacked.connectDelay == .milliseconds(150))
    }

    @Test("nextAction picks the earliest due action")
    func earliest() {
        var c = C.connection(openedAt: .zero,
                             upstream: [C.reset("rst", after: 50, since: .zero), C.idle("idle", after: 60, since: .zero)],
                             downstream: [C.blackhole("bh", closeAfter: 40, since: .zero)])
        #expect(c.nextAction == DueAction(at: C.s(40), action: .close, cause: "bh"))
        c.downstream.setConditions([])
        #expect(c.nextAction == DueAction(at: C.s(50), action: .reset, cause: "rst"))
        c.upstream.setConditions([C.reset("rst", after: 50, since: .zero), C.idle("idle", after: 60, since: .zero),
                                  C.idle("short", after: 20, action: .reset, since: .zero)])
        #expect(c.nextAction == DueAction(at: C.s(20), action: .reset, cause: "short"))
        c.noteActivity(at: C.s(45))
        // short idle now due at 65 s, the reset at 50 s comes first.
        #expect(c.nextAction == DueAction(at: C.s(50), action: .reset, cause: "rst"))
    }

    @Test("link-level conditions do not produce connection actions")
    func dataConditionsIgnored() {
        let c = C.connection(openedAt: .zero, upstream: [
            ActiveCondition(name: "lat", condition: .latency(LatencyCondition(latency: .seconds(1))), since: .zero),
            ActiveCondition(name: "stall", condition: .stall(StallCondition(duration: .seconds(3))), since: .zero),
            ActiveCondition(name: "limit", condition: .limitData(LimitDataCondition(bytes: 0)), since: .zero),
        ])
        #expect(c.nextAction == nil)
        #expect(c.connectDelay == .zero)
    }

    @Test("the subscript reaches each link, and the two links draw from different streams")
    func linksByDirection() {
        let jitter = ActiveCondition(name: "lat", condition: .latency(LatencyCondition(latency: .milliseconds(100),
                                                                                      jitter: .milliseconds(50))),
                                     since: .zero)
        var c = ConnectionSchedule(openedAt: .zero, random: SeededGenerator(seed: 4))
        c[.upstream].setConditions([jitter])
        c[.downstream].setConditions([jitter])
        #expect(c.upstream.conditions == [jitter] && c.downstream.conditions == [jitter])
        var up: [Instant] = [], down: [Instant] = []
        for i in 0..<20 {
            let at = Instant.zero + .seconds(Double(i))
            if case .deliver(let p, _) = c[.upstream].admit(bytes: 1, at: at) { up.append(p[0].at) }
            if case .deliver(let p, _) = c[.downstream].admit(bytes: 1, at: at) { down.append(p[0].at) }
        }
        #expect(up.count == 20 && down.count == 20)
        #expect(up != down)
        #expect(c.upstream.bytesDelivered == 20 && c.downstream.bytesDelivered == 20)

        // Same seed, same draws.
        var again = ConnectionSchedule(openedAt: .zero, random: SeededGenerator(seed: 4))
        again[.upstream].setConditions([jitter])
        var upAgain: [Instant] = []
        for i in 0..<20 {
            let at = Instant.zero + .seconds(Double(i))
            if case .deliver(let p, _) = again[.upstream].admit(bytes: 1, at: at) { upAgain.append(p[0].at) }
        }
        #expect(upAgain == up)
    }
}
