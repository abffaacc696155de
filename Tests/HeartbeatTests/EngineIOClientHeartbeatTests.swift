import Testing
import Heartbeat
import LabCore

/// `EngineIOClientHeartbeat` on explicit instants: the interval + timeout deadline, pongs, the tie
/// rule, engine.io-client's wall-clock expiry check, python-engineio's any-packet rule, every close
/// reason, and silence after a close.
@Suite("Engine.IO client heartbeat")
struct EngineIOClientHeartbeatTests {
    typealias Machine = EngineIOClientHeartbeat

    static func at(_ ms: Int64) -> Instant { Instant.zero + .milliseconds(ms) }

    static let handshake = EngineIOHandshake(sid: "abc", upgrades: ["websocket"],
                                             pingInterval: .milliseconds(25_000), pingTimeout: .milliseconds(20_000))

    /// A machine that received the open packet at 0: deadline 45 s.
    static func opened(_ configuration: Machine.Configuration = .engineIOClient) -> Machine {
        var machine = Machine(configuration: configuration)
        _ = machine.received(.open(handshake), at: .zero)
        return machine
    }

    @Test("the open packet arms the deadline at pingInterval + pingTimeout")
    func open() {
        var machine = Machine()
        #expect(machine.received(.open(Self.handshake), at: Self.at(100))
                == [.observe(.opened), .arm(.pingTimeout, at: Self.at(45_100))])
        #expect(machine.handshake == Self.handshake)
        #expect(machine.silenceLimit == .milliseconds(45_000))
        #expect(machine.deadline == Self.at(45_100))
        #expect(machine.received(.open(Self.handshake), at: Self.at(200)) == [], "a second open is ignored")
    }

    @Test("before the open packet nothing is armed and pings are not answered")
    func beforeOpen() {
        var machine = Machine()
        #expect(machine.received(.plainPing, at: .zero) == [])
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [])
        #expect(machine.checkExpired(at: Self.at(999_000)) == [])
        #expect(machine.hasExpired(at: Self.at(999_000)) == false)
        #expect(machine.phase == .awaitingOpen)
    }

    @Test("each ping is answered and pushes the deadline to ping + interval + timeout")
    func pings() {
        var machine = Self.opened()
        #expect(machine.received(.plainPing, at: Self.at(25_040))
                == [.send(.plainPong), .observe(.pingReceived), .arm(.pingTimeout, at: Self.at(70_040))])
        #expect(machine.received(.plainPing, at: Self.at(50_100))
                == [.send(.plainPong), .observe(.pingReceived), .arm(.pingTimeout, at: Self.at(95_100))])
        #expect(machine.deadline == Self.at(95_100))
    }

    @Test("engine.io-client answers with a bare pong; python-engineio echoes the ping's data")
    func pongData() {
        var node = Self.opened(.engineIOClient)
        #expect(node.received(.ping("x"), at: Self.at(1_000)).first == .send(.plainPong))
        var python = Self.opened(.pythonEngineIO)
        #expect(python.received(.ping("x"), at: Self.at(1_000)).first == .send(.pong("x")))
        var echoing = Self.opened(.init(echoesPingData: true))
        #expect(echoing.received(.plainPing, at: Self.at(1_000)).first == .send(.plainPong))
    }

    @Test("silence: the timer at the deadline closes with ping timeout")
    func timeout() {
        var machine = Self.opened()
        _ = machine.received(.plainPing, at: Self.at(25_000))
        #expect(machine.timerFired(.pingTimeout, at: Self.at(70_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
        #expect(machine.phase == .closed(.pingTimeout))
    }

    @Test("tie at the deadline, ping first: the ping wins, re-arms, and the stale timer is ignored")
    func tiePingFirst() {
        var machine = Self.opened()
        #expect(machine.received(.plainPing, at: Self.at(45_000)).last == .arm(.pingTimeout, at: Self.at(90_000)))
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [])
        #expect(machine.phase == .open)
    }

    @Test("tie at the deadline, timer first: the session closes and the ping is not answered")
    func tieTimerFirst() {
        var machine = Self.opened()
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
        #expect(machine.received(.plainPing, at: Self.at(45_000)) == [])
    }

    @Test("checkExpired (engine.io-client's _hasPingExpired) is strict: not at the deadline, 1 ns after")
    func wallClockCheck() {
        var machine = Self.opened()
        #expect(machine.checkExpired(at: Self.at(44_999)) == [])
        #expect(machine.hasExpired(at: Self.at(45_000)) == false)
        #expect(machine.checkExpired(at: Self.at(45_000)) == [])
        #expect(machine.hasExpired(at: Self.at(45_000) + .nanoseconds(1)))
        #expect(machine.checkExpired(at: Self.at(45_000) + .nanoseconds(1))
                == [.cancel(.pingTimeout), .close(.pingTimeout), .observe(.closed(.pingTimeout))])
        #expect(machine.hasExpired(at: Self.at(45_000)), "once closed, every send finds it expired")
    }

    @Test("a throttled timer: the laptop sleeps through the deadline and the first send closes at once")
    func throttledTimer() {
        var machine = Self.opened()
        _ = machine.received(.plainPing, at: Self.at(25_000))
        // The timer (due 70 s) is not delivered; the application sends at 300 s.
        #expect(machine.checkExpired(at: Self.at(300_000)).contains(.close(.pingTimeout)))
        #expect(machine.timerFired(.pingTimeout, at: Self.at(300_001)) == [], "the late timer finds it closed")
    }

    @Test("python-engineio: any packet pushes the deadline back; silence closes with transport error")
    func pythonAnyPacket() {
        var machine = Self.opened(.pythonEngineIO)
        #expect(machine.received(.message("tick"), at: Self.at(40_000)) == [])
        #expect(machine.effectiveDeadline == Self.at(85_000))
        #expect(machine.checkExpired(at: Self.at(60_000)) == [])
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [.arm(.pingTimeout, at: Self.at(85_000))])
        #expect(machine.timerFired(.pingTimeout, at: Self.at(85_000))
                == [.close(.transportError), .observe(.closed(.transportError))])
    }

    @Test("engine.io-client as released: messages do not push the deadline back")
    func messagesDoNotCount() {
        var machine = Self.opened()
        #expect(machine.received(.message("tick"), at: Self.at(40_000)) == [])
        #expect(machine.received(.noop, at: Self.at(41_000)) == [])
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)).first == .close(.pingTimeout))
    }

    @Test("every close reason the machine produces")
    func closeReasons() {
        typealias Input = (inout Machine) -> [Machine.Action]
        let inputs: [(String, Input, CloseReason, [EngineIOPacket])] = [
            ("close packet", { $0.received(.close, at: Self.at(1_000)) }, .transportClose, []),
            ("malformed", { $0.receivedMalformed(EngineIOParseError(.badBase64), at: Self.at(1_000)) }, .transportError, []),
            ("transport closed", { $0.transportClosed(at: Self.at(1_000)) }, .transportClose, []),
            ("transport error", { $0.transportError(at: Self.at(1_000)) }, .transportError, []),
            ("client close", { $0.close(at: Self.at(1_000)) }, .forcedClose, [.close]),
            ("expired", { $0.checkExpired(at: Self.at(46_000)) }, .pingTimeout, []),
        ]
        for (name, input, reason, sent) in inputs {
            var machine = Self.opened()
            #expect(input(&machine) == sent.map { .send($0) } + [.cancel(.pingTimeout), .close(reason), .observe(.closed(reason))],
                    "\(name)")
            #expect(machine.phase == .closed(reason))
        }
        var timedOut = Self.opened()
        #expect(timedOut.timerFired(.pingTimeout, at: Self.at(45_000)) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
        var python = Self.opened(.pythonEngineIO)
        #expect(python.timerFired(.pingTimeout, at: Self.at(45_000)).first == .close(.transportError))
        var unopened = Machine()
        #expect(unopened.close(at: .zero) == [.close(.forcedClose), .observe(.closed(.forcedClose))])
    }

    @Test("after a close every input returns nothing")
    func closedIgnoresInput() {
        var machine = Self.opened()
        _ = machine.transportError(at: Self.at(1_000))
        let t = Self.at(2_000)
        #expect(machine.received(.plainPing, at: t) == [])
        #expect(machine.received(.open(Self.handshake), at: t) == [])
        #expect(machine.received(.close, at: t) == [])
        #expect(machine.receivedMalformed(EngineIOParseError(.empty), at: t) == [])
        #expect(machine.timerFired(.pingTimeout, at: Self.at(45_000)) == [])
        #expect(machine.checkExpired(at: Self.at(99_000)) == [])
        #expect(machine.transportClosed(at: t) == [])
        #expect(machine.transportError(at: t) == [])
        #expect(machine.close(at: t) == [])
        #expect(machine.phase == .closed(.transportError))
    }
}
