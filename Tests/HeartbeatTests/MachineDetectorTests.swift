import Testing
import Heartbeat
import LabCore

/// A `DetectorChoice` in the Engine.IO machines (`detector:` in a scenario): the client's silence
/// limit and the server's pong deadline follow the detector once it has learnt, start from the
/// stack's own limit, and close with the stack's own reason.
@Suite("Detectors in the Engine.IO machines")
struct MachineDetectorTests {
    static func at(_ ms: Int64) -> Instant { Instant.zero + .milliseconds(ms) }

    /// pingInterval 1 s, pingTimeout 5 s: the fixed client limit is 6 s.
    static let handshake = EngineIOHandshake(sid: "s", upgrades: [], pingInterval: .seconds(1), pingTimeout: .seconds(5))
    static let adaptive = DetectorChoice(kind: .adaptive, knob: 3600)

    /// The instant the client machine's armed timer is set for in `actions`.
    static func armed(_ actions: [EngineIOClientHeartbeat.Action]) -> Instant? {
        for case .arm(.pingTimeout, let at) in actions { return at }
        return nil
    }

    @Test("the client's limit starts as the stack's, then follows the detector, and its close is a ping timeout")
    func clientLearnsTheGaps() {
        var machine = EngineIOClientHeartbeat(configuration: .init(detector: Self.adaptive))
        let open = machine.received(.open(Self.handshake), at: .zero)
        #expect(Self.armed(open) == Self.at(6_000), "before any gap is known: pingInterval + pingTimeout")
        #expect(machine.detector != nil)
        // Pings every second, a few milliseconds of jitter.
        var t: Int64 = 0
        for i in 1...200 {
            t = Int64(i) * 1_000 + Int64((i * 7) % 11)
            _ = machine.received(.plainPing, at: Self.at(t))
        }
        let limit = machine.silenceLimit!
        #expect(limit > .milliseconds(1_007), "strictly past the largest gap seen: \(limit)")
        #expect(limit < .seconds(3), "learnt from regular pings, far below the fixed 6 s: \(limit)")
        #expect(machine.deadline == Self.at(t) + limit)
        // The server goes silent: the timer closes the session at the learnt deadline.
        let deadline = machine.deadline!
        #expect(machine.timerFired(.pingTimeout, at: deadline - .milliseconds(1)) == [])
        #expect(machine.timerFired(.pingTimeout, at: deadline) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
    }

    @Test("without a detector the client keeps pingInterval + pingTimeout whatever the gaps")
    func clientWithoutDetector() {
        var machine = EngineIOClientHeartbeat()
        _ = machine.received(.open(Self.handshake), at: .zero)
        for i in 1...60 { _ = machine.received(.plainPing, at: Self.at(Int64(i) * 1_000)) }
        #expect(machine.silenceLimit == .seconds(6))
        #expect(machine.detector == nil)
    }

    @Test("a longer gap the detector has seen lengthens the client's limit")
    func clientPricesAStall() {
        var machine = EngineIOClientHeartbeat(configuration: .init(detector: Self.adaptive))
        _ = machine.received(.open(Self.handshake), at: .zero)
        var t: Int64 = 0
        for i in 1...40 {
            t += i == 20 ? 4_000 : 1_000
            _ = machine.received(.plainPing, at: Self.at(t))
        }
        #expect(machine.silenceLimit! > .seconds(4), "a 4 s stall seen once is covered: \(machine.silenceLimit!)")
    }

    /// The server's ping-timeout arm in `actions`.
    static func pongDue(_ actions: [EngineIOServerHeartbeat.Action]) -> Instant? {
        for case .arm(.pingTimeout, let at) in actions { return at }
        return nil
    }

    @Test("the server's pong deadline starts at pingTimeout, then follows the pongs' gaps")
    func serverLearnsThePongs() {
        let configuration = EngineIOServerHeartbeat.Configuration(pingInterval: .seconds(1), pingTimeout: .seconds(5),
                                                                  detector: Self.adaptive)
        var machine = EngineIOServerHeartbeat(configuration: configuration)
        _ = machine.opened(sid: "s", at: .zero)
        var now = Self.at(1_000)
        let first = machine.timerFired(.ping, at: now)
        // Before any gap: the last heartbeat (the open) + pingInterval + pingTimeout, i.e. 5 s after the ping.
        #expect(Self.pongDue(first) == Self.at(6_000))
        var lastDue = Self.pongDue(first)!
        for i in 0..<200 {
            let rtt = Int64(20 + (i * 13) % 17)
            let pong = now + .milliseconds(rtt)
            _ = machine.received(.pong(""), at: pong)
            now = pong + .seconds(1)
            lastDue = Self.pongDue(machine.timerFired(.ping, at: now))!
        }
        let wait = lastDue - now
        #expect(wait > .milliseconds(36), "past the largest round trip seen: \(wait)")
        #expect(wait < .seconds(2), "learnt from the pongs, far below pingTimeout 5 s: \(wait)")
        #expect(machine.pongDeadline == lastDue)
        #expect(machine.timerFired(.pingTimeout, at: lastDue) == [.close(.pingTimeout), .observe(.closed(.pingTimeout))])
    }

    @Test("every kind builds for a period, and a knob a detector rejects names it")
    func choicesBuild() throws {
        for kind in DetectorChoice.Kind.allCases {
            let choice = DetectorChoice(kind: kind, knob: kind.defaultKnob(period: .seconds(25)))
            let detector = try choice.make(period: .seconds(25), initialTimeout: .seconds(45))
            #expect(detector.lastHeartbeat == nil, "\(choice)")
        }
        #expect(DetectorChoice(kind: .adaptive, knob: 3600).description == "adaptive price 3600s")
        #expect(DetectorChoice(kind: .phi, knob: 8.5).description == "phi threshold 8.5")
        #expect(throws: DetectorConfigurationError.self) { try DetectorChoice(kind: .phi, knob: -1).make(period: .seconds(1)) }
        do {
            _ = try DetectorChoice(kind: .adaptive, knob: -5).make(period: .seconds(1))
            Issue.record("a negative price was accepted")
        } catch {
            #expect(error.parameter == "mistakePrice")
        }
        #expect(throws: DetectorConfigurationError.self) { try DetectorChoice(kind: .fixed, knob: .infinity).make(period: .seconds(1)) }
    }
}
