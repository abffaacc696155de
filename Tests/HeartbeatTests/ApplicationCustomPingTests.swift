import Heartbeat
import LabCore
import Testing

@Suite("Application custom ping")
struct ApplicationCustomPingTests {
    typealias S = SocketIOFixtures

    private static func ping(_ n: Int64) -> CustomPing.Action {
        .send(ApplicationEmit(event: "ping", arguments: [.integer(n)]))
    }

    @Test func pingsEveryIntervalAndMeasuresTheRoundTrip() {
        var ping = CustomPing()  // 45 s / 20 s
        #expect(ping.connected(at: S.s(0)) == [.arm(.interval, at: S.s(45))])
        #expect(ping.timerFired(.interval, at: S.ms(44_999)) == [])
        #expect(ping.timerFired(.interval, at: S.s(45))
            == [Self.ping(1), .observe(.pingSent), .arm(.pongTimeout, at: S.s(65)), .arm(.interval, at: S.s(90))])
        #expect(ping.outstandingCount == 1)
        #expect(ping.received(event: "pong", arguments: [.integer(1)], at: S.ms(45_080))
            == [.observe(.pongReceived(rtt: .milliseconds(80))), .cancel(.pongTimeout)])
        #expect(ping.outstandingCount == 0)
        // A stale pong timer is ignored.
        #expect(ping.timerFired(.pongTimeout, at: S.s(65)) == [])
        #expect(ping.timerFired(.interval, at: S.s(90))
            == [Self.ping(2), .observe(.pingSent), .arm(.pongTimeout, at: S.s(110)), .arm(.interval, at: S.s(135))])
        // Other events are not pongs.
        #expect(ping.received(event: "news", at: S.s(91)) == [])
    }

    @Test func missingPongForcesAReconnect() {
        var ping = CustomPing()
        _ = ping.connected(at: S.s(0))
        _ = ping.timerFired(.interval, at: S.s(45))
        #expect(ping.timerFired(.pongTimeout, at: S.ms(64_999)) == [])
        #expect(ping.timerFired(.pongTimeout, at: S.s(65))
            == [.cancel(.interval), .cancel(.pongTimeout), .close(.forcedClose), .observe(.closed(.forcedClose))])
        #expect(ping.state == .idle)
    }

    /// The deadline rule: a pong exactly at `sentAt + timeout` is late, before or after the timer.
    @Test func pongExactlyAtTheDeadlineIsLate() {
        var ping = CustomPing()
        _ = ping.connected(at: S.s(0))
        _ = ping.timerFired(.interval, at: S.s(45))
        #expect(ping.pongReceived(at: S.s(65))
            == [.cancel(.interval), .cancel(.pongTimeout), .close(.forcedClose), .observe(.closed(.forcedClose))])

        var justInTime = CustomPing()
        _ = justInTime.connected(at: S.s(0))
        _ = justInTime.timerFired(.interval, at: S.s(45))
        #expect(justInTime.pongReceived(at: S.s(65) - .nanoseconds(1))
            == [.observe(.pongReceived(rtt: .seconds(20) - .nanoseconds(1))), .cancel(.pongTimeout)])
    }

    @Test func inputAfterTheForcedCloseIsIgnoredUntilReconnected() {
        var ping = CustomPing()
        _ = ping.connected(at: S.s(0))
        _ = ping.timerFired(.interval, at: S.s(45))
        _ = ping.timerFired(.pongTimeout, at: S.s(65))
        #expect(ping.pongReceived(sequence: 1, at: S.s(66)) == [])
        #expect(ping.timerFired(.interval, at: S.s(90)) == [])
        #expect(ping.timerFired(.pongTimeout, at: S.s(90)) == [])
        #expect(ping.disconnected(at: S.s(66)) == [])
        // The next connection starts afresh.
        #expect(ping.connected(at: S.s(70)) == [.arm(.interval, at: S.s(115))])
        #expect(ping.timerFired(.interval, at: S.s(115)).first == Self.ping(1))
    }

    @Test func disconnectStopsPinging() {
        var ping = CustomPing()
        _ = ping.connected(at: S.s(0))
        _ = ping.timerFired(.interval, at: S.s(45))
        #expect(ping.disconnected(at: S.s(50)) == [.cancel(.interval), .cancel(.pongTimeout)])
        #expect(ping.timerFired(.pongTimeout, at: S.s(65)) == [])
    }

    @Test func overlappingPingsKeepTheOldestDeadline() {
        var ping = CustomPing(options: .init(interval: .seconds(10), timeout: .seconds(25), firstPingAfter: .seconds(1)))
        #expect(ping.connected(at: S.s(0)) == [.arm(.interval, at: S.s(1))])
        _ = ping.timerFired(.interval, at: S.s(1))
        // The second ping does not push the deadline out.
        #expect(ping.timerFired(.interval, at: S.s(11)) == [Self.ping(2), .observe(.pingSent), .arm(.interval, at: S.s(21))])
        _ = ping.timerFired(.interval, at: S.s(21))
        #expect(ping.outstandingCount == 3)
        // A pong echoing 2 answers pings 1 and 2; ping 3 (sent at 21 s) now sets the deadline.
        #expect(ping.received(event: "pong", arguments: [.integer(2)], at: S.s(12))
            == [.observe(.pongReceived(rtt: .seconds(1))), .arm(.pongTimeout, at: S.s(46))])
        #expect(ping.outstandingCount == 1)
        // A pong without a sequence answers the oldest.
        #expect(ping.pongReceived(at: S.s(22)) == [.observe(.pongReceived(rtt: .seconds(1))), .cancel(.pongTimeout)])
    }

    @Test func customEventNames() {
        var ping = CustomPing(options: .init(interval: .seconds(5), timeout: .seconds(2), pingEvent: "hb", pongEvent: "hb-ack"))
        _ = ping.connected(at: S.s(0))
        #expect(ping.timerFired(.interval, at: S.s(5)).first == .send(ApplicationEmit(event: "hb", arguments: [.integer(1)])))
        #expect(ping.received(event: "pong", at: S.s(6)) == [])
        #expect(ping.received(event: "hb-ack", at: S.s(6)) == [.observe(.pongReceived(rtt: .seconds(1))), .cancel(.pongTimeout)])
    }
}
