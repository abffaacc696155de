import Testing
import Heartbeat
import LabCore

/// `EngineIOServerHeartbeat` on explicit instants: exact ping and timeout instants, the tie rule at
/// the deadline in both orders, every close reason, and silence after a close.
@Suite("Engine.IO server heartbeat")
struct EngineIOServerHeartbeatTests {
    typealias Machine = EngineIOServerHeartbeat

    static func at(_ ms: Int64) -> Instant { Instant.zero + .milliseconds(ms) }

    /// A machine opened at 0 with the default 25 s / 20 s.
    static func opened(_ configuration: Machine.Configuration = .engineIO) -> Machine {
        var machine = Machine(configuration: configuration)
        _ = machine.opened(sid: "abc", upgrades: ["websocket"], at: .zero)
        return machine
    }

    /// A machine whose first ping went out at 25 s, so the pong is due at 45 s.
    static func awaitingPong(_ configuration: Machine.Configuration = .engineIO) -> Machine {
        var machine = opened(configuration)
        _ = machine.timerFired(.ping, at: at(25_000))
        return machine
    }

    @Test("open: sends the handshake with the configured settings and schedules the first ping")
    func open() {
        var machine = Machine(configuration: .init(pingInterval: .milliseconds(300), pingTimeout: .milliseconds(200),
                                                   maxPayload: 5_000))
        let actions = machine.opened(sid: "abc", upgrades: ["websocket"], at: Self.at(1_000))
        let handshake = EngineIOHandshake(sid: "abc", upgrades: ["websocket"], pingInterval: .milliseconds(300),
                                          pingTimeout: .milliseconds(200), maxPayload: 5_000)
        #expect(actions == [.send(.open(handshake)), .observe(.opened), .arm(.ping, at: Self.at(1_300))])
        guard case .send(let packet) = actions[0] else { return }
        #expect(packet.encodedText == #"0{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":5000}"#)
        #expect(machine.phase == .idle)
        #expect(machine.opened(sid: "again", at: Self.at(2_000)) == [])
    }

    @Test("ping at the interval, pong due pingTimeout later, next ping an interval after the pong")
    func cycle() {
        var machine = Self.opened()
        #expect(machine.timerFired(.ping, at: Self.at(25_000))
                == [.send(.plainPing), .observe(.pingSent), .arm(.pingTimeout, at: Self.at(45_000))])
        #expect(machine.phase == .awaitingPong)
        #expect(machine.pongDeadline == Self.at(45_000))
        #expect(machine.received(.plainPong, at: Self.at(25_080))
                == [.cancel(.pingTimeout), .observe(.pongReceived(rtt: .milliseconds(80))), .arm(.ping, at: Self.at(50_080))])
        #expect(machine.phase == .idle)
        #expect(machine.nextPingAt == Self.at(50_080))
        #expect(machine.timerFired(.ping, at: Self.at(50_080))
                == [.send(.plainPing), .observe(.pingSent), .arm(.pingTimeout, at: Self.at(70_080))])
    }

    @Test("no pong: the timeout timer at ping + pingTimeout closes with ping timeout")
    func timeout() {
        var machine = Self.awaitingPong()
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
        #expect(machine.phase == .closed(.pingTimeout))
    }

    @Test("python-engineio's service task: an overdue pong is noticed at the next sweep after the deadline")
    func serviceSweep() {
        var configuration = Machine.Configuration.pythonEngineIO
        configuration.serviceSweepOrigin = Self.at(3_000)  // sweeps at 3 s + k·20 s
        var machine = Self.awaitingPong(configuration)     // ping at 25 s, deadline 45 s
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [.arm(.pingTimeout, at: Self.at(63_000))])
        #expect(machine.phase == .awaitingPong)
        #expect(machine.timerFired(.pingTimeout, at: Self.at(63_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
        // A sweep exactly at the deadline does not close (the check is strict): the next one does.
        var onTheDeadline = Machine.Configuration.pythonEngineIO
        onTheDeadline.serviceSweepOrigin = Self.at(5_000)  // sweeps at 5, 25, 45, 65 s
        var strict = Self.awaitingPong(onTheDeadline)
        #expect(strict.timerFired(.pingTimeout, at: Self.at(45_000)) == [.arm(.pingTimeout, at: Self.at(65_000))])
        // A pong before the sweep still saves the session.
        var saved = Self.awaitingPong(configuration)
        _ = saved.timerFired(.pingTimeout, at: Self.at(45_000))
        _ = saved.received(.plainPong, at: Self.at(50_000))
        #expect(saved.timerFired(.pingTimeout, at: Self.at(63_000)) == [])
        #expect(saved.phase == .idle)
    }

    @Test("a throttled timer delivered late still closes, at the late instant")
    func lateTimer() {
        var machine = Self.awaitingPong()
        #expect(machine.timerFired(.pingTimeout, at: Self.at(90_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
    }

    @Test("tie at the deadline, pong first: the pong wins and the stale timer is ignored")
    func tiePongFirst() {
        var machine = Self.awaitingPong()
        #expect(machine.received(.plainPong, at: Self.at(45_000))
                == [.cancel(.pingTimeout), .observe(.pongReceived(rtt: .milliseconds(20_000))), .arm(.ping, at: Self.at(70_000))])
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [])
        #expect(machine.phase == .idle)
    }

    @Test("tie at the deadline, timer first: the session closes and the pong is ignored")
    func tieTimerFirst() {
        var machine = Self.awaitingPong()
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
        #expect(machine.received(.plainPong, at: Self.at(45_000)) == [])
    }

    @Test("one nanosecond before the deadline the pong is in time; a timer delivered early is ignored")
    func justInTime() {
        var machine = Self.awaitingPong()
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000) - .nanoseconds(1)) == [])
        let actions = machine.received(.plainPong, at: Self.at(45_000) - .nanoseconds(1))
        #expect(actions.first == .cancel(.pingTimeout))
    }

    @Test("stale and early ping timers are ignored")
    func staleTimers() {
        var machine = Self.opened()
        #expect(machine.timerFired(.ping, at: Self.at(24_999)) == [])
        #expect(machine.timerFired(.pingTimeout, at: Self.at(60_000)) == [])
        _ = machine.timerFired(.ping, at: Self.at(25_000))
        #expect(machine.timerFired(.ping, at: Self.at(25_000)) == [], "no second ping while one is out")
    }

    @Test("a pong with no ping outstanding restarts the interval, as engine.io's refresh() does")
    func unsolicitedPong() {
        var machine = Self.opened()
        #expect(machine.received(.plainPong, at: Self.at(10_000)) == [.arm(.ping, at: Self.at(35_000))])
        #expect(machine.timerFired(.ping, at: Self.at(25_000)) == [], "the old schedule is stale")
        #expect(machine.timerFired(.ping, at: Self.at(35_000)).first == .send(.plainPing))
    }

    @Test("messages do not count as pongs unless anyPacketProvesLiveness is on")
    func messagesAreNotPongs() {
        var strict = Self.awaitingPong()
        #expect(strict.received(.message("hi"), at: Self.at(44_000)) == [])
        #expect(strict.timerFired(.pingTimeout, at: Self.at(45_000)).first == .close(.pingTimeout))

        var lenient = Self.awaitingPong(.init(anyPacketProvesLiveness: true))
        #expect(lenient.received(.message("hi"), at: Self.at(40_000)) == [])
        #expect(lenient.timerFired(.pingTimeout, at: Self.at(45_000)) == [.arm(.pingTimeout, at: Self.at(60_000))])
        #expect(lenient.timerFired(.pingTimeout, at: Self.at(60_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
    }

    @Test("anyPacketProvesLiveness ignores packets from before the ping")
    func livenessCountsOnlyRecentPackets() {
        var machine = Self.opened(.init(anyPacketProvesLiveness: true))
        _ = machine.received(.message("early"), at: Self.at(24_000))
        _ = machine.timerFired(.ping, at: Self.at(25_000))
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)).first == .close(.pingTimeout))
    }

    @Test("python-engineio's lazy check is strict: not at the deadline, one nanosecond after")
    func lazyCheck() {
        var machine = Self.awaitingPong(.pythonEngineIO)
        #expect(machine.checkPingTimeout(at: Self.at(44_000)) == [])
        #expect(machine.checkPingTimeout(at: Self.at(45_000)) == [])
        #expect(machine.checkPingTimeout(at: Self.at(45_000) + .nanoseconds(1))
                == [.cancel(.pingTimeout), .close(.pingTimeout), .observe(.closed(.pingTimeout))])

        var idle = Self.opened(.pythonEngineIO)
        #expect(idle.checkPingTimeout(at: Self.at(1_000_000)) == [], "no ping out, nothing overdue")
    }

    @Test("a ping from the client: engine.io closes (invalid heartbeat direction), python-engineio ignores it")
    func clientPing() {
        var node = Self.opened(.engineIO)
        #expect(node.received(.plainPing, at: Self.at(1_000))
                == [.cancel(.ping), .close(.transportError), .observe(.closed(.transportError))])
        var python = Self.opened(.pythonEngineIO)
        #expect(python.received(.plainPing, at: Self.at(1_000)) == [])
        #expect(python.phase == .idle)
    }

    /// Every way the server closes, from both waiting states, with the reason and what it cancels.
    @Test("every close reason the machine produces")
    func closeReasons() {
        typealias Input = (inout Machine) -> [Machine.Action]
        let inputs: [(String, Input, CloseReason, [EngineIOPacket])] = [
            ("close packet", { $0.received(.close, at: Self.at(30_000)) }, .transportClose, []),
            ("malformed", { $0.receivedMalformed(EngineIOParseError(.unknownType("9")), at: Self.at(30_000)) }, .parseError, []),
            ("transport closed", { $0.transportClosed(at: Self.at(30_000)) }, .transportClose, []),
            ("transport error", { $0.transportError(at: Self.at(30_000)) }, .transportError, []),
            ("client ping", { $0.received(.plainPing, at: Self.at(30_000)) }, .transportError, []),
            ("server close", { $0.close(at: Self.at(30_000)) }, .forcedClose, [.close]),
        ]
        for (name, input, reason, sent) in inputs {
            var idle = Self.opened()
            _ = idle.received(.plainPong, at: Self.at(26_000))  // idle, next ping at 51 s
            #expect(input(&idle) == sent.map { .send($0) } + [.cancel(.ping), .close(reason), .observe(.closed(reason))], "\(name)")
            #expect(idle.phase == .closed(reason))

            var waiting = Self.awaitingPong()
            #expect(input(&waiting) == sent.map { .send($0) } + [.cancel(.pingTimeout), .close(reason), .observe(.closed(reason))], "\(name)")
        }
        var timedOut = Self.awaitingPong()
        #expect(timedOut.timerFired(.pingTimeout, at: Self.at(45_000)).contains(.close(.pingTimeout)))

        var unopened = Machine()
        #expect(unopened.close(at: .zero) == [.close(.forcedClose), .observe(.closed(.forcedClose))])
    }

    @Test("after a close every input returns nothing")
    func closedIgnoresInput() {
        var machine = Self.awaitingPong()
        _ = machine.transportClosed(at: Self.at(30_000))
        let t = Self.at(50_000)
        #expect(machine.received(.plainPong, at: t) == [])
        #expect(machine.received(.plainPing, at: t) == [])
        #expect(machine.received(.close, at: t) == [])
        #expect(machine.receivedMalformed(EngineIOParseError(.empty), at: t) == [])
        #expect(machine.timerFired(.ping, at: t) == [])
        #expect(machine.timerFired(.pingTimeout, at: t) == [])
        #expect(machine.checkPingTimeout(at: t) == [])
        #expect(machine.transportClosed(at: t) == [])
        #expect(machine.transportError(at: t) == [])
        #expect(machine.close(at: t) == [])
        #expect(machine.opened(sid: "x", at: t) == [])
        #expect(machine.phase == .closed(.transportClose))
    }

    @Test("before open, packets and timers are ignored")
    func beforeOpen() {
        var machine = Machine()
        #expect(machine.received(.plainPong, at: .zero) == [])
        #expect(machine.timerFired(.ping, at: Self.at(25_000)) == [])
        #expect(machine.phase == .awaitingOpen)
    }
}
