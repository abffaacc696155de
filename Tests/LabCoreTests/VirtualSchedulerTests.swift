import LabCore
import Testing

@Suite("Virtual scheduler") struct VirtualSchedulerTests {
    @Test func runsByDeadlineThenInsertionOrder() {
        let s = VirtualScheduler()
        var log: [String] = []
        s.schedule(at: Instant(nanoseconds: 20)) { log.append("b@20") }
        s.schedule(at: Instant(nanoseconds: 10)) { log.append("a@10") }
        s.schedule(at: Instant(nanoseconds: 20)) { log.append("c@20") }
        while s.step() {}
        #expect(log == ["a@10", "b@20", "c@20"])
        #expect(s.now == Instant(nanoseconds: 20))
    }

    @Test func cancelledCallbacksDoNotRunAndPastDeadlinesRunNow() {
        let s = VirtualScheduler(start: Instant(nanoseconds: 100))
        var log: [Int] = []
        let t = s.schedule(at: Instant(nanoseconds: 150)) { log.append(150) }
        s.schedule(at: Instant(nanoseconds: 50)) { log.append(50) }
        s.cancel(t)
        s.advance(by: .nanoseconds(100))
        #expect(log == [50])
        #expect(s.now == Instant(nanoseconds: 200))
        #expect(s.pendingCount == 0)
    }

    @Test("a cancelled entry before the deadline never lets a later callback run early")
    func cancelledEntryDoesNotPullLaterCallbacksIn() {
        let s = VirtualScheduler()
        var log: [Int] = []
        let early = s.schedule(at: Instant(nanoseconds: 10)) { log.append(10) }
        s.schedule(at: Instant(nanoseconds: 50)) { log.append(50) }
        s.cancel(early)
        s.advance(to: Instant(nanoseconds: 20))
        #expect(log.isEmpty)
        #expect(s.now == Instant(nanoseconds: 20))
        #expect(s.nextDeadline == Instant(nanoseconds: 50))
        s.advance(to: Instant(nanoseconds: 50))
        #expect(log == [50])
    }

    @Test("slots are reused, and a stale token cannot cancel the callback now in its slot")
    func staleTokensAreHarmless() {
        let s = VirtualScheduler()
        var log: [Int] = []
        let first = s.schedule(at: Instant(nanoseconds: 1)) { log.append(1) }
        s.advance(to: Instant(nanoseconds: 1))
        let second = s.schedule(at: Instant(nanoseconds: 5)) { log.append(5) }
        #expect(second.slot == first.slot, "the freed slot is reused")
        s.cancel(first)
        s.advance(to: Instant(nanoseconds: 10))
        #expect(log == [1, 5])
        #expect(s.pendingCount == 0)
    }

    @Test func callbacksMayScheduleMoreWithinTheSameAdvance() {
        let s = VirtualScheduler()
        var fired: [Instant] = []
        func tick() {
            fired.append(s.now)
            if fired.count < 3 { s.schedule(at: s.now + .milliseconds(10), tick) }
        }
        s.schedule(at: Instant(nanoseconds: 0), tick)
        s.advance(to: Instant(nanoseconds: 25_000_000))
        #expect(fired == [.zero, Instant(nanoseconds: 10_000_000), Instant(nanoseconds: 20_000_000)])
    }
}

@Suite("TimeSpan constructors") struct TimeSpanConstructorTests {
    @Test func hugeMillisecondsSaturateInsteadOfTrapping() {
        #expect(TimeSpan.milliseconds(.max).nanoseconds == .max)
        #expect(TimeSpan.microseconds(.min).nanoseconds == .min)
        #expect(TimeSpan.milliseconds(1500) == .seconds(1.5))
    }
}
