import Heartbeat
import LabCore
import Testing

@Suite("Application health check")
struct ApplicationHealthCheckTests {
    typealias S = SocketIOFixtures
    static let stale: [HealthCheck.Action] = [.cancel(.check), .close(.healthCheckStale), .observe(.closed(.healthCheckStale))]

    @Test func staleExactlyStaleAfterTheLastTraffic() {
        var check = HealthCheck()  // 30 s
        #expect(check.connected(at: S.s(0)) == [.arm(.check, at: S.s(30))])
        #expect(check.received(.message, at: S.s(10)) == [])
        #expect(check.lastTraffic == S.s(10))
        // The timer finds recent traffic and moves on to 10 + 30.
        #expect(check.timerFired(.check, at: S.s(30)) == [.arm(.check, at: S.s(40))])
        #expect(check.timerFired(.check, at: S.ms(39_999)) == [])
        #expect(check.timerFired(.check, at: S.s(40)) == Self.stale)
        #expect(check.state == .idle)
    }

    /// The deadline rule: traffic arriving exactly at the deadline is too late, before or after
    /// the timer; a nanosecond earlier it keeps the connection.
    @Test func trafficExactlyAtTheDeadlineIsTooLate() {
        var late = HealthCheck()
        _ = late.connected(at: S.s(0))
        #expect(late.received(.message, at: S.s(30)) == Self.stale)
        #expect(late.timerFired(.check, at: S.s(30)) == [])

        var early = HealthCheck()
        _ = early.connected(at: S.s(0))
        #expect(early.received(.message, at: S.s(30) - .nanoseconds(1)) == [])
        #expect(early.timerFired(.check, at: S.s(30)) == [.arm(.check, at: S.s(60) - .nanoseconds(1))])
    }

    @Test func heartbeatsCountOnlyWhenConfigured() {
        var blind = HealthCheck()
        _ = blind.connected(at: S.s(0))
        _ = blind.received(.heartbeat, at: S.s(25))
        #expect(blind.timerFired(.check, at: S.s(30)) == Self.stale)

        var seeing = HealthCheck(options: .init(staleAfter: .seconds(30), heartbeatsCount: true))
        _ = seeing.connected(at: S.s(0))
        _ = seeing.received(.heartbeat, at: S.s(25))
        #expect(seeing.timerFired(.check, at: S.s(30)) == [.arm(.check, at: S.s(55))])
    }

    @Test func pollingNoticesStalenessOnItsOwnTicks() {
        var check = HealthCheck(options: .init(staleAfter: .seconds(30), checkInterval: .seconds(5)))
        #expect(check.connected(at: S.s(0)) == [.arm(.check, at: S.s(5))])
        _ = check.received(.message, at: S.s(3))
        for tick in stride(from: 5, through: 30, by: 5) {
            #expect(check.timerFired(.check, at: S.s(Int64(tick))) == [.arm(.check, at: S.s(Int64(tick + 5)))])
        }
        // 33 s of silence is only seen at the 35 s tick.
        #expect(check.timerFired(.check, at: S.s(35)) == Self.stale)
    }

    @Test func pollingTickSeesOnlyTrafficBeforeIt() {
        var check = HealthCheck(options: .init(staleAfter: .seconds(10), checkInterval: .seconds(10)))
        _ = check.connected(at: S.s(0))
        // Traffic delivered at the tick instant before the timer: the tick runs first and finds 10 s of silence.
        #expect(check.received(.message, at: S.s(10)) == Self.stale)

        var later = HealthCheck(options: .init(staleAfter: .seconds(15), checkInterval: .seconds(10)))
        _ = later.connected(at: S.s(0))
        #expect(later.received(.message, at: S.s(10)) == [.arm(.check, at: S.s(20))])
        #expect(later.timerFired(.check, at: S.s(10)) == [])
        #expect(later.timerFired(.check, at: S.s(20)) == [.arm(.check, at: S.s(30))])
        // A timer that fires late keeps the setInterval grid (next tick at 40 s, not 43 s).
        _ = later.received(.message, at: S.s(25))
        #expect(later.timerFired(.check, at: S.s(33)) == [.arm(.check, at: S.s(40))])
        #expect(later.timerFired(.check, at: S.s(40)) == Self.stale)
    }

    @Test func inputAfterTheVerdictIsIgnoredUntilReconnected() {
        var check = HealthCheck()
        _ = check.connected(at: S.s(0))
        _ = check.timerFired(.check, at: S.s(30))
        #expect(check.received(.message, at: S.s(31)) == [])
        #expect(check.timerFired(.check, at: S.s(60)) == [])
        #expect(check.disconnected(at: S.s(61)) == [])
        #expect(check.connected(at: S.s(62)) == [.arm(.check, at: S.s(92))])
    }

    @Test func disconnectStopsWatching() {
        var check = HealthCheck()
        _ = check.connected(at: S.s(0))
        #expect(check.disconnected(at: S.s(5)) == [.cancel(.check)])
        #expect(check.timerFired(.check, at: S.s(30)) == [])
    }
}
