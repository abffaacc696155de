import EventLoopTime
import LabCore
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

/// `EventLoopScheduler`: LabCore's `Scheduler` on a loop's clock and timers, virtual on testing loops.
@Suite("Event-loop scheduler")
struct EventLoopSchedulerTests {
    private static func ms(_ value: Int64) -> Instant { Instant(nanoseconds: value * 1_000_000) }

    @Test("on an EmbeddedEventLoop: now is the loop's virtual time, timers fire in deadline order, a cancelled one never")
    func embedded() throws {
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        let scheduler = EventLoopScheduler(loop: loop)
        #expect(scheduler.now == .zero)
        var fired: [(String, Instant)] = []
        scheduler.schedule(at: Self.ms(10)) { fired.append(("b", scheduler.now)) }
        scheduler.schedule(at: Self.ms(5)) { fired.append(("a", scheduler.now)) }
        let cancelled = scheduler.schedule(at: Self.ms(7)) { fired.append(("never", scheduler.now)) }
        scheduler.cancel(cancelled)
        loop.advanceTime(to: NIODeadline(Self.ms(9)))
        #expect(fired.map(\.0) == ["a"])
        loop.advanceTime(by: .milliseconds(1))
        #expect(fired.map(\.0) == ["a", "b"])
        #expect(fired.map(\.1) == [Self.ms(5), Self.ms(10)])
        #expect(scheduler.now == Self.ms(10))
        // Cancelling one that ran is a no-op; a deadline in the past runs on the loop's next tick.
        scheduler.cancel(cancelled)
        scheduler.schedule(at: Self.ms(1)) { fired.append(("late", scheduler.now)) }
        loop.run()
        #expect(fired.map(\.0) == ["a", "b", "late"])
    }

    @Test("on a NIOAsyncTestingEventLoop: timers fire as the test advances its time")
    func asyncTesting() async throws {
        let loop = NIOAsyncTestingEventLoop()
        let fired = NIOLockedValueBox<[Instant]>([])
        try await loop.submit {
            let scheduler = EventLoopScheduler(loop: loop)
            scheduler.schedule(at: Self.ms(250)) { fired.withLockedValue { $0.append(scheduler.now) } }
        }.get()
        await loop.advanceTime(by: .milliseconds(249))
        #expect(fired.withLockedValue { $0 } == [])
        await loop.advanceTime(by: .milliseconds(1))
        #expect(fired.withLockedValue { $0 } == [Self.ms(250)])
        await loop.shutdownGracefully()
    }

    @Test("on a real event loop: instants are NIO's monotonic clock, and a timer fires no earlier than its deadline")
    func realLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let before = Instant(NIODeadline.now())
        let (start, fired) = try await loop.submit { () -> EventLoopFuture<(Instant, Instant)> in
            let scheduler = EventLoopScheduler(loop: loop)
            let start = scheduler.now
            let promise = loop.makePromise(of: (Instant, Instant).self)
            scheduler.schedule(at: start + .milliseconds(20)) { promise.succeed((start, scheduler.now)) }
            return promise.futureResult
        }.flatMap { $0 }.get()
        #expect(start >= before && start - before < .seconds(1))
        #expect(fired >= start + .milliseconds(20))
        try await group.shutdownGracefully()
    }

    /// Issue 12, latency accuracy: timers armed early by the learned wake-up lateness still never
    /// run before their deadline, and a cancelled one never runs, whichever stage it was in.
    @Test("on a real loop, precise timers run at or after their deadline, never before")
    func preciseTimersNeverRunEarly() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let results: [Int64] = try loop.submit { () -> EventLoopFuture<[Int64]> in
            let scheduler = EventLoopScheduler(loop: loop, precise: true)
            let done = loop.makePromise(of: [Int64].self)
            var early: [Int64] = []
            var remaining = 60
            func next() {
                let deadline = scheduler.now + .milliseconds(2)
                // A timer cancelled before it fires never runs, even when armed early.
                let cancelled = scheduler.schedule(at: deadline) { early.append(-1) }
                scheduler.cancel(cancelled)
                scheduler.schedule(at: deadline) {
                    let now = scheduler.now
                    if now < deadline { early.append(deadline.nanoseconds - now.nanoseconds) }
                    remaining -= 1
                    if remaining == 0 { done.succeed(early) } else { next() }
                }
            }
            next()
            return done.futureResult
        }.flatMap { $0 }.wait()
        #expect(results.isEmpty, "timers ran early (ns before the deadline; -1 a cancelled one): \(results)")
    }

    /// A timer cancelled just before its deadline never runs, whether it was still armed or had
    /// woken early and was finishing its last stretch; the loop serves other work meanwhile.
    @Test("on a real loop, a timer cancelled in its last stretch never runs")
    func cancelledInTheLastStretchNeverRuns() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.next()
        let ran: Int = try loop.submit { () -> EventLoopFuture<Int> in
            let scheduler = EventLoopScheduler(loop: loop, precise: true)
            let done = loop.makePromise(of: Int.self)
            var ran = 0, remaining = 50
            func next() {
                let deadline = scheduler.now + .milliseconds(3)
                let victim = scheduler.schedule(at: deadline) { ran += 1 }
                scheduler.schedule(at: deadline - .microseconds(30)) { scheduler.cancel(victim) }
                scheduler.schedule(at: deadline + .milliseconds(1)) {
                    remaining -= 1
                    if remaining == 0 { done.succeed(ran) } else { next() }
                }
            }
            next()
            return done.futureResult
        }.flatMap { $0 }.wait()
        #expect(ran == 0, "\(ran) cancelled timers ran")
    }
}
