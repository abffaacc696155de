import Heartbeat
import LabCore
import Testing

private func ms(_ value: Int64) -> Instant { .zero + .milliseconds(value) }
private typealias Action = WebSocketKeepalive.Action

private let timeoutFailure: [Action] = [
    .send(.close(code: 1011, reason: "keepalive ping timeout")),
    .observe(.closed(.keepalivePingTimeout)),
    .close(.keepalivePingTimeout),
]

@Suite struct WebSocketKeepaliveTests {
    @Test func defaultsAreWebsockets() throws {
        let machine = try WebSocketKeepalive()
        #expect(machine.configuration.pingInterval == .seconds(20))
        #expect(machine.configuration.pingTimeout == .seconds(20))
        #expect(machine.configuration.schedule == .asyncio)
        #expect(machine.latency == .zero)
    }

    @Test func pingsGoOutAtExactInstantsAndPongsAreObserved() throws {
        var machine = try WebSocketKeepalive()
        #expect(machine.opened(at: ms(5000)) == [.observe(.opened), .arm(.ping, at: ms(25_000))])

        #expect(machine.timerFired(.ping, at: ms(25_000)) == [
            .send(.ping([0, 0, 0, 0])), .observe(.pingSent), .arm(.pongTimeout, at: ms(45_000)),
        ])
        #expect(machine.outstandingPings == 1)
        // asyncio sleeps ping_interval − latency after the pong: the next ping is 20 s after this one.
        #expect(machine.pongReceived([0, 0, 0, 0], at: ms(25_050)) == [
            .observe(.pongReceived(rtt: .milliseconds(50))), .cancel(.pongTimeout), .arm(.ping, at: ms(45_000)),
        ])
        #expect(machine.latency == .milliseconds(50))
        #expect(machine.outstandingPings == 0)

        #expect(machine.timerFired(.ping, at: ms(45_000)) == [
            .send(.ping([0, 0, 0, 1])), .observe(.pingSent), .arm(.pongTimeout, at: ms(65_000)),
        ])
    }

    @Test func legacyScheduleSleepsAFullIntervalAfterThePong() throws {
        var machine = try WebSocketKeepalive(configuration: .init(schedule: .legacy))
        _ = machine.opened(at: ms(0))
        _ = machine.timerFired(.ping, at: ms(20_000))
        #expect(machine.pongReceived([0, 0, 0, 0], at: ms(20_050)).last == .arm(.ping, at: ms(40_050)))
    }

    @Test func aPongSlowerThanTheIntervalTriggersTheNextPingAtOnce() throws {
        var machine = try WebSocketKeepalive(configuration: .init(pingInterval: .seconds(5), pingTimeout: .seconds(20)))
        _ = machine.opened(at: ms(0))
        _ = machine.timerFired(.ping, at: ms(5000))
        #expect(machine.pongReceived([0, 0, 0, 0], at: ms(12_000)).last == .arm(.ping, at: ms(12_000)))
    }

    @Test func noPongFailsTheConnectionAtPingPlusTimeoutWithClose1011() throws {
        var machine = try WebSocketKeepalive()
        _ = machine.opened(at: ms(0))
        _ = machine.timerFired(.ping, at: ms(20_000))
        #expect(machine.timerFired(.pongTimeout, at: ms(40_000) - .nanoseconds(1)) == [])  // early: ignored
        #expect(machine.timerFired(.pongTimeout, at: ms(40_000)) == timeoutFailure)
        #expect(!machine.isOpen)
        #expect(machine.pingReceived([9], at: ms(40_001)) == [])
        #expect(machine.closed(at: ms(40_002)) == [])
    }

    @Test func theCloseFrameCarries1011AndTheReasonOnTheWire() {
        let frame = WebSocketControl.close(code: WebSocketCloseCode.internalError, reason: WebSocketKeepalive.timeoutCloseReason)
        #expect(frame.opcode == 0x8)
        #expect(frame.payload == [0x03, 0xF3] + Array("keepalive ping timeout".utf8))
        #expect(WebSocketControl.ping([1, 2]).opcode == 0x9)
        #expect(WebSocketControl.pong([1, 2]).opcode == 0xA)
        #expect(WebSocketControl.pong([1, 2]).payload == [1, 2])
    }

    /// The rule at the deadline: a pong must arrive strictly before ping + ping_timeout. At the
    /// deadline the timeout wins whichever input the driver delivers first.
    @Test func aPongExactlyAtTheDeadlineIsTooLateInEitherOrder() throws {
        var pongFirst = try WebSocketKeepalive()
        _ = pongFirst.opened(at: ms(0))
        _ = pongFirst.timerFired(.ping, at: ms(20_000))
        var timerFirst = pongFirst

        #expect(pongFirst.pongReceived([0, 0, 0, 0], at: ms(40_000)) == [
            .send(.close(code: 1011, reason: "keepalive ping timeout")),
            .cancel(.pongTimeout),
            .observe(.closed(.keepalivePingTimeout)),
            .close(.keepalivePingTimeout),
        ])
        #expect(pongFirst.timerFired(.pongTimeout, at: ms(40_000)) == [])

        #expect(timerFirst.timerFired(.pongTimeout, at: ms(40_000)) == timeoutFailure)
        #expect(timerFirst.pongReceived([0, 0, 0, 0], at: ms(40_000)) == [])
    }

    @Test func aPongOneNanosecondBeforeTheDeadlineIsInTime() throws {
        var machine = try WebSocketKeepalive()
        _ = machine.opened(at: ms(0))
        _ = machine.timerFired(.ping, at: ms(20_000))
        #expect(machine.pongReceived([0, 0, 0, 0], at: ms(40_000) - .nanoseconds(1)) == [
            .observe(.pongReceived(rtt: .seconds(20) - .nanoseconds(1))),
            .cancel(.pongTimeout),
            .arm(.ping, at: ms(40_000)),
        ])
        #expect(machine.isOpen)
    }

    @Test func aPongForAnUnknownPayloadIsIgnored() throws {
        var machine = try WebSocketKeepalive()
        _ = machine.opened(at: ms(0))
        _ = machine.timerFired(.ping, at: ms(20_000))
        #expect(machine.pongReceived([0, 0, 0, 7], at: ms(20_010)) == [])
        #expect(machine.pongReceived([], at: ms(20_020)) == [])
        #expect(machine.outstandingPings == 1)
        #expect(machine.timerFired(.pongTimeout, at: ms(40_000)) == timeoutFailure)
    }

    @Test func thePeersPingsAreAnsweredWithTheSameData() throws {
        var machine = try WebSocketKeepalive()
        #expect(machine.pingReceived([1, 2, 3], at: ms(0)) == [])  // not open yet
        _ = machine.opened(at: ms(0))
        #expect(machine.pingReceived([1, 2, 3], at: ms(3000)) == [.send(.pong([1, 2, 3])), .observe(.pingReceived)])
        #expect(machine.pingReceived([], at: ms(3001)) == [.send(.pong([])), .observe(.pingReceived)])
    }

    @Test func closingDisarmsWhicheverTimerIsArmed() throws {
        var waiting = try WebSocketKeepalive()
        _ = waiting.opened(at: ms(0))
        #expect(waiting.closed(at: ms(1000)) == [.cancel(.ping), .observe(.closed(.transportClose))])
        #expect(waiting.timerFired(.ping, at: ms(20_000)) == [])

        var awaiting = try WebSocketKeepalive()
        _ = awaiting.opened(at: ms(0))
        _ = awaiting.timerFired(.ping, at: ms(20_000))
        #expect(awaiting.closed(at: ms(21_000), reason: .transportError) == [
            .cancel(.pongTimeout), .observe(.closed(.transportError)),
        ])
        #expect(awaiting.pongReceived([0, 0, 0, 0], at: ms(21_001)) == [])
    }

    @Test func staleTimersAndInputsBeforeOpeningAreIgnored() throws {
        var machine = try WebSocketKeepalive()
        #expect(machine.timerFired(.ping, at: ms(30_000)) == [])
        _ = machine.opened(at: ms(0))
        #expect(machine.opened(at: ms(1)) == [])
        #expect(machine.timerFired(.ping, at: ms(19_999)) == [])
        #expect(machine.timerFired(.pongTimeout, at: ms(50_000)) == [])
    }

    @Test func withoutAPingTimeoutPingsKeepTheirPaceAndAPongAcknowledgesEarlierPings() throws {
        var machine = try WebSocketKeepalive(configuration: .init(pingTimeout: nil))
        _ = machine.opened(at: ms(0))
        #expect(machine.timerFired(.ping, at: ms(20_000)) == [.send(.ping([0, 0, 0, 0])), .observe(.pingSent), .arm(.ping, at: ms(40_000))])
        #expect(machine.timerFired(.ping, at: ms(40_000)) == [.send(.ping([0, 0, 0, 1])), .observe(.pingSent), .arm(.ping, at: ms(60_000))])
        #expect(machine.outstandingPings == 2)
        #expect(machine.pongReceived([0, 0, 0, 1], at: ms(40_300)) == [.observe(.pongReceived(rtt: .milliseconds(300)))])
        #expect(machine.outstandingPings == 0)
        #expect(machine.pongReceived([0, 0, 0, 0], at: ms(40_400)) == [])  // already acknowledged
    }

    @Test func withoutAPingIntervalKeepaliveIsOffButPingsAreAnswered() throws {
        var machine = try WebSocketKeepalive(configuration: .init(pingInterval: nil))
        #expect(machine.opened(at: ms(0)) == [.observe(.opened)])
        #expect(machine.pingReceived([4], at: ms(10)) == [.send(.pong([4])), .observe(.pingReceived)])
        #expect(machine.closed(at: ms(20)) == [.observe(.closed(.transportClose))])
    }

    @Test func pingPayloadsAreAFourByteBigEndianCounter() throws {
        #expect(WebSocketKeepalive.pingPayload(0x0102_0304) == [1, 2, 3, 4])
        var machine = try WebSocketKeepalive(configuration: .init(pingTimeout: nil), firstPingNumber: .max)
        _ = machine.opened(at: ms(0))
        #expect(machine.timerFired(.ping, at: ms(20_000)).first == .send(.ping([0xFF, 0xFF, 0xFF, 0xFF])))
        #expect(machine.timerFired(.ping, at: ms(40_000)).first == .send(.ping([0, 0, 0, 0])))
    }

    @Test func invalidSettingsAreErrors() {
        #expect(throws: WebSocketKeepalive.ConfigurationError.self) {
            try WebSocketKeepalive(configuration: .init(pingInterval: .zero))
        }
        #expect(throws: WebSocketKeepalive.ConfigurationError.self) {
            try WebSocketKeepalive(configuration: .init(pingTimeout: .seconds(-1)))
        }
    }
}

/// The machine driven on LabCore's VirtualScheduler the way the simulator will: actions become
/// scheduled callbacks, and a peer answers pings after a fixed round trip until it dies.
@Suite struct WebSocketKeepaliveDriverTests {
    private final class Driver {
        let scheduler = VirtualScheduler()
        var machine: WebSocketKeepalive
        var tokens: [WebSocketKeepalive.Timer: TimerToken] = [:]
        var pings: [Instant] = []
        var closes: [(Instant, CloseReason)] = []
        var sentClose: WebSocketControl?
        let rtt: TimeSpan
        let peerDiesAt: Instant

        init(machine: WebSocketKeepalive, rtt: TimeSpan, peerDiesAt: Instant) {
            self.machine = machine
            self.rtt = rtt
            self.peerDiesAt = peerDiesAt
        }

        func apply(_ actions: [WebSocketKeepalive.Action]) {
            for action in actions {
                switch action {
                case let .arm(timer, at):
                    if let token = tokens[timer] { scheduler.cancel(token) }
                    tokens[timer] = scheduler.schedule(at: at) { [unowned self] in
                        tokens[timer] = nil
                        apply(machine.timerFired(timer, at: scheduler.now))
                    }
                case let .cancel(timer):
                    if let token = tokens.removeValue(forKey: timer) { scheduler.cancel(token) }
                case let .send(.ping(payload)):
                    pings.append(scheduler.now)
                    if scheduler.now < peerDiesAt {
                        scheduler.schedule(at: scheduler.now + rtt) { [unowned self] in
                            apply(machine.pongReceived(payload, at: scheduler.now))
                        }
                    }
                case let .send(control):
                    sentClose = control
                case let .close(reason):
                    closes.append((scheduler.now, reason))
                case .observe:
                    break
                }
            }
        }
    }

    @Test func oneVirtualHourPingsEveryTwentySecondsThenDetectsTheDeadPeer() throws {
        let driver = Driver(machine: try WebSocketKeepalive(), rtt: .milliseconds(80), peerDiesAt: ms(1_810_000))
        driver.apply(driver.machine.opened(at: .zero))
        driver.scheduler.advance(to: ms(3_600_000))

        // Pings at 20 s, 40 s, ... 1800 s answered; the one at 1820 s is not, and fails at 1840 s.
        #expect(driver.pings == (1...91).map { ms(Int64($0) * 20_000) })
        #expect(driver.closes.count == 1)
        #expect(driver.closes.first?.0 == ms(1_840_000))
        #expect(driver.closes.first?.1 == .keepalivePingTimeout)
        #expect(driver.sentClose == .close(code: 1011, reason: "keepalive ping timeout"))
        #expect(driver.scheduler.pendingCount == 0)
    }
}
