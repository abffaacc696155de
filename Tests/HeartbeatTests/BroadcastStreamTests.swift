import Heartbeat
import LabCore
import Testing

/// The broadcast stream on the server's clock (`workload.broadcast`): event k at k·interval after
/// the server's start, to every connected session, numbered; clients log it by number.
@Suite struct BroadcastStreamTests {
    typealias S = SocketIOFixtures

    static func endpoint(connectAt ms: Int64) -> (SocketIOServerEndpoint, [SocketIOServerEndpoint.Action]) {
        var configuration = SocketIOServerEndpoint.Configuration()
        configuration.broadcastInterval = .seconds(1)
        configuration.broadcastSize = 64
        configuration.broadcastOrigin = S.s(0)
        var endpoint = SocketIOServerEndpoint(sid: "E", configuration: configuration)
        _ = endpoint.opened(upgrades: [], at: S.ms(ms - 10))
        let connected = endpoint.received(.message("0"), at: S.ms(ms))
        return (endpoint, connected)
    }

    @Test func eventsFollowTheServersClockNotTheConnect() throws {
        var (endpoint, connected) = Self.endpoint(connectAt: 2_500)
        // The next slot of the server's clock, not a full interval after the connect.
        #expect(connected.contains(.arm(.broadcast, at: S.s(3))), "\(connected)")
        let fired = endpoint.timerFired(.broadcast, at: S.s(3))
        #expect(fired.contains(.note(.eventSent("broadcast 3"))), "\(fired)")
        #expect(fired.contains(.arm(.broadcast, at: S.s(4))))
        let sent = fired.compactMap { action -> String? in
            if case .send(.message(let text)) = action { return text }
            return nil
        }
        #expect(sent.count == 1 && sent[0].hasPrefix(#"2["broadcast",{"#) && sent[0].contains(#""seq":3"#), "\(sent)")
        // A timer delivered late still numbers the slot that was due.
        let late = endpoint.timerFired(.broadcast, at: S.ms(4_040))
        #expect(late.contains(.note(.eventSent("broadcast 4"))) && late.contains(.arm(.broadcast, at: S.s(5))))
    }

    @Test func twoSessionsConnectedAtDifferentTimesGetTheSameNumbers() {
        var (a, _) = Self.endpoint(connectAt: 200)
        var (b, _) = Self.endpoint(connectAt: 1_700)
        #expect(a.timerFired(.broadcast, at: S.s(2)).contains(.note(.eventSent("broadcast 2"))))
        #expect(b.timerFired(.broadcast, at: S.s(2)).contains(.note(.eventSent("broadcast 2"))))
    }

    @Test func aDisconnectedSessionSendsNothing() {
        var (endpoint, _) = Self.endpoint(connectAt: 500)
        _ = endpoint.close(.transportClose, notifyPeer: false, at: S.ms(900))
        #expect(endpoint.timerFired(.broadcast, at: S.s(1)) == [])
    }

    @Test func clientsLogABroadcastByItsNumberAndOtherEventsByName() {
        #expect(BuiltinSocketIOApp.logName(of: SocketIOEvent(name: "broadcast", arguments: [.object(["seq": .integer(17)])])) == "broadcast 17")
        #expect(BuiltinSocketIOApp.logName(of: SocketIOEvent(name: "broadcast", arguments: [.string("x")])) == "broadcast")
        #expect(BuiltinSocketIOApp.logName(of: SocketIOEvent(name: "tick", arguments: [.object(["seq": .integer(1)])])) == "tick")
    }
}
