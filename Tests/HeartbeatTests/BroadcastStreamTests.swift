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

    // MARK: Per-room streams

    static func roomEndpoint(store: SocketIORecoveryStore? = nil) -> SocketIOServerEndpoint {
        var configuration = SocketIOServerEndpoint.Configuration()
        configuration.broadcastInterval = .seconds(1)
        configuration.broadcastSize = 64
        configuration.broadcastRooms = true
        configuration.recovery = store
        var endpoint = SocketIOServerEndpoint(sid: "E", configuration: configuration)
        _ = endpoint.opened(upgrades: [], at: S.ms(10))
        _ = endpoint.received(.message("0"), at: S.ms(20))
        return endpoint
    }

    static func sent(_ actions: [SocketIOServerEndpoint.Action]) -> [String] {
        actions.compactMap { action -> String? in
            if case .send(.message(let text)) = action { return text }
            return nil
        }
    }

    @Test func aSessionGetsTheStreamsOfTheRoomsItJoinedOnly() {
        var endpoint = Self.roomEndpoint()
        #expect(Self.sent(endpoint.timerFired(.broadcast, at: S.s(1))).isEmpty, "in no room yet")
        _ = endpoint.received(.message(#"2["join",{"room":"r2"}]"#), at: S.ms(1_100))
        let second = Self.sent(endpoint.timerFired(.broadcast, at: S.s(2)))
        #expect(second.count == 1 && second[0].contains(#""seq":2"#) && second[0].contains(#""room":"r2""#), "\(second)")
        _ = endpoint.received(.message(#"2["join",{"room":"r1"}]"#), at: S.ms(2_100))
        let third = Self.sent(endpoint.timerFired(.broadcast, at: S.s(3)))
        #expect(third.count == 2 && third[0].contains(#""room":"r1""#) && third[1].contains(#""room":"r2""#), "\(third)")
    }

    @Test func aRecoveredSessionIsBackInItsRoomsAndGetsOnlyTheirMissedEvents() throws {
        let store = SocketIORecoveryStore(options: .init(), broadcast: .init(interval: .seconds(1), origin: .zero, size: 64, rooms: ["r1", "r2"]),
                                          origin: .zero, seed: 1)
        _ = store.record("hello", [], to: .socket("A"), at: S.ms(500))  // offset 1
        store.persist(pid: "P", sid: "A", rooms: ["r2"], at: S.ms(600))
        let restored = try #require(store.restore(pid: "P", offset: "1", at: S.ms(3_500)))
        #expect(restored.rooms == ["r2"])
        // Slots 1, 2 and 3 of each room were produced; only r2's come back.
        #expect(restored.missed.map(\.room) == ["r2", "r2", "r2"] && restored.missed.map(\.broadcastSequence) == [1, 2, 3])
    }
}
