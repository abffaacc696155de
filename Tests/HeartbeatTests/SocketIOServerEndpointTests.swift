import Heartbeat
import LabCore
import Testing

/// The composed server session both drivers run (the live server's sessions and the simulated
/// transport's server end), checked action by action.
@Suite("Socket.IO server endpoint")
struct SocketIOServerEndpointTests {
    typealias S = SocketIOFixtures

    static func connected(emitInterval: TimeSpan? = nil, encodesTicks: Bool = true) -> SocketIOServerEndpoint {
        var endpoint = SocketIOServerEndpoint(sid: "E", configuration: .init(emitInterval: emitInterval, encodesTicks: encodesTicks))
        _ = endpoint.opened(upgrades: [], at: S.s(0))
        _ = endpoint.received(.message("0"), at: S.ms(100))
        return endpoint
    }

    @Test func opensPingsAndConnectsTheNamespace() {
        var endpoint = SocketIOServerEndpoint(sid: "E", configuration: .init(emitInterval: .seconds(1)))
        let open = endpoint.opened(upgrades: [], at: S.s(0))
        #expect(open.first == .send(.open(EngineIOHandshake(sid: "E"))))
        #expect(open.contains(.arm(.heartbeat(.ping), at: S.s(25))))
        #expect(open.contains(.arm(.session(.connectTimeout), at: S.s(45))))
        #expect(endpoint.received(.message(#"0{"flatline":"c1"}"#), at: S.ms(100)) == [
            .cancel(.session(.connectTimeout)),
            .send(.message(#"0{"sid":"E#ns"}"#)),
            .note(.connected(auth: .object(["flatline": .string("c1")]))),
            .arm(.tick, at: S.ms(1_100)),
        ])
        #expect(endpoint.isConnected)
    }

    @Test func theAppAnswersEchoAndTheCustomPing() {
        var endpoint = Self.connected()
        #expect(endpoint.received(.message(#"21["echo",{"n":1}]"#), at: S.s(1)) == [
            .note(.eventReceived("echo")),
            .note(.eventSent("echo")),
            .send(.message(#"2["echo",{"n":1}]"#)),
            .send(.message(#"31[{"n":1}]"#)),
        ])
        #expect(endpoint.received(.message(#"2["ping",7]"#), at: S.s(2)) == [
            .note(.eventReceived("ping")),
            .note(.eventSent("pong")),
            .send(.message(#"2["pong",7]"#)),
        ])
    }

    @Test func askIsAnEmitWithAckWhoseAnswerIsLoggedByName() {
        var endpoint = Self.connected()
        let asked = endpoint.received(.message(#"2["ask","q"]"#), at: S.s(1))
        #expect(asked.contains(.note(.eventSent("question"))))
        #expect(asked.contains(.send(.message(#"20["question","q"]"#))))
        #expect(endpoint.received(.message(#"30["a"]"#), at: S.s(2)) == [.note(.ackReceived("question"))])
    }

    @Test func aPingTimeoutClosesWithoutTellingThePeer() {
        var endpoint = Self.connected()
        _ = endpoint.timerFired(.heartbeat(.ping), at: S.s(25))
        let closed = endpoint.timerFired(.heartbeat(.pingTimeout), at: S.s(45))
        #expect(closed == [.cancelAllTimers, .note(.disconnected(.pingTimeout)), .closeTransport])
        #expect(!endpoint.isOpen)
        #expect(endpoint.received(.message("1"), at: S.s(46)) == [])
    }

    @Test func theNamespaceReasonIsTheOneLoggedOnce() {
        var endpoint = Self.connected()
        // The client leaves the namespace; the Engine.IO session stays until its transport goes.
        #expect(endpoint.received(.message("1"), at: S.s(1)) == [.note(.disconnected(.clientNamespaceDisconnect))])
        #expect(endpoint.isOpen)
        #expect(endpoint.close(.transportClose, notifyPeer: false, at: S.s(2)) == [.cancelAllTimers, .closeTransport])
    }

    @Test func unencodedTicksLeaveTheEncodingToTheDriver() {
        var endpoint = Self.connected(emitInterval: .seconds(1), encodesTicks: false)
        #expect(endpoint.timerFired(.tick, at: S.ms(1_100)) == [
            .note(.eventSent("tick")), .sendUnencodedTick(sequence: 1), .arm(.tick, at: S.ms(2_100)),
        ])
        #expect(endpoint.batchedTick() == 2)
    }
}
