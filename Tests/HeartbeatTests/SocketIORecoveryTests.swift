import Heartbeat
import LabCore
import Testing

/// Connection state recovery (socket.io 4.6+) in the sans-IO machines: the store, and the client and
/// server sessions across a disconnect, as socket.io's in-memory adapter (packages/socket.io-adapter
/// lib/in-memory-adapter.ts, SessionAwareAdapter), server Socket/Namespace and client Socket do it.
@Suite("Socket.IO connection state recovery")
struct SocketIORecoveryTests {
    typealias S = SocketIOFixtures

    private static func store(max: TimeSpan = .seconds(120), broadcastEvery: TimeSpan? = nil) -> SocketIORecoveryStore {
        SocketIORecoveryStore(options: .init(maxDisconnectionDuration: max),
                              broadcast: broadcastEvery.map { .init(interval: $0, origin: .zero, size: 64) },
                              origin: .zero, seed: 1)
    }

    // MARK: The store

    @Test func eachEventGetsAnIncreasingOffsetAsItsLastArgument() {
        let store = Self.store()
        #expect(store.record("tick", [.integer(1)], to: .socket("A"), at: S.s(1)) == [.integer(1), .string("1")])
        #expect(store.record("tick", [.integer(2)], to: .socket("B"), at: S.s(2)) == [.integer(2), .string("2")])
        #expect(store.keptEvents == 2)
    }

    @Test func aKeptSessionGetsBackWhatWasMeantForItAfterItsOffset() throws {
        let store = Self.store()
        _ = store.record("a", [], to: .socket("A"), at: S.s(1))  // offset 1
        _ = store.record("b", [], to: .socket("A"), at: S.s(2))  // offset 2
        store.persist(pid: "P", sid: "A", at: S.s(3))
        _ = store.record("other", [], to: .socket("B"), at: S.s(4))  // another socket's
        _ = store.record("c", [], to: .everyone, at: S.s(5))
        let restored = try #require(store.restore(pid: "P", offset: "1", at: S.s(6)))
        #expect(restored.sid == "A")
        #expect(restored.missed.map(\.event) == ["b", "c"])
        #expect(restored.missed.map(\.arguments) == [[.string("2")], [.string("4")]], "offset 3 was the other socket's")
    }

    @Test func nothingComesBackForAnUnknownSessionAnUnknownOffsetOrAnExpiredSession() {
        let store = Self.store(max: .seconds(10))
        _ = store.record("a", [], to: .socket("A"), at: S.s(1))
        store.persist(pid: "P", sid: "A", at: S.s(2))
        #expect(store.restore(pid: "Q", offset: "1", at: S.s(3)) == nil, "never kept")
        #expect(store.restore(pid: "P", offset: "99", at: S.s(3)) == nil, "an offset never handed out")
        #expect(store.restore(pid: "P", offset: "x", at: S.s(3)) == nil)
        #expect(store.restore(pid: "P", offset: "1", at: S.s(12)) != nil, "exactly at the limit it is still kept")
        #expect(store.restore(pid: "P", offset: "1", at: S.s(12) + .nanoseconds(1)) == nil, "past maxDisconnectionDuration")
        #expect(store.restore(pid: "P", offset: "1", at: S.s(5)) == nil, "an expired session is dropped for good")
    }

    @Test func theMinuteSweepDropsOldEventsSoAnOffsetTooOldIsNotFound() {
        let store = Self.store(max: .seconds(30))
        _ = store.record("old", [], to: .socket("A"), at: S.s(1))  // offset 1
        _ = store.record("new", [], to: .socket("A"), at: S.s(50))  // offset 2
        store.persist(pid: "P", sid: "A", at: S.s(55))
        // The sweep at 60 s drops what was sent before 30 s.
        #expect(store.restore(pid: "P", offset: "1", at: S.s(61)) == nil)
        #expect(store.restore(pid: "P", offset: "2", at: S.s(61))?.missed == [])
        #expect(store.keptEvents == 1)
    }

    @Test func theBroadcastStreamIsProducedOnTheServersClockEvenWithNobodyConnected() throws {
        let store = Self.store(broadcastEvery: .seconds(1))
        // Event 1 is due at 1 s; a session sending it then gets the stream's offset for it.
        let first = try #require(store.broadcastArguments(sequence: 1, at: S.s(1)))
        #expect(first.last == .string("1"))
        store.persist(pid: "P", sid: "A", at: S.ms(1500))
        // Nobody sends events 2, 3 and 4; they are kept all the same, with the socket's own event between.
        _ = store.record("echo", [], to: .socket("A"), at: S.ms(3500))
        let restored = try #require(store.restore(pid: "P", offset: "1", at: S.ms(4200)))
        #expect(restored.missed.map { $0.broadcastSequence } == [2, 3, nil, 4])
        #expect(restored.missed.map(\.event) == ["broadcast", "broadcast", "echo", "broadcast"])
        #expect(restored.missed.compactMap { $0.arguments.last } == [.string("2"), .string("3"), .string("4"), .string("5")])
    }

    @Test func aRestartedServerRemembersNothing() {
        let store = Self.store()
        _ = store.record("a", [], to: .socket("A"), at: S.s(1))
        store.persist(pid: "P", sid: "A", at: S.s(2))
        store.clear(at: S.s(3))
        #expect(store.restore(pid: "P", offset: "1", at: S.s(4)) == nil)
        #expect(store.keptEvents == 0)
    }

    @Test func onlyTransportFailuresAndHeartbeatTimeoutsAreRecoverable() {
        let recoverable = CloseReason.allCases.filter(SocketIORecoveryOptions.isRecoverable)
        #expect(Set(recoverable) == [.pingTimeout, .transportClose, .transportError, .forcedClose])
    }

    @Test func theClientsConnectPayloadIsPidAndOffsetUnderItsAuth() {
        let token = SocketIORecoveryToken(pid: "P", offset: "7")
        #expect(token.connectPayload(auth: nil) == ["pid": .string("P"), "offset": .string("7")])
        #expect(token.connectPayload(auth: ["flatline": .string("c1"), "offset": .string("mine")])
            == ["pid": .string("P"), "offset": .string("mine"), "flatline": .string("c1")], "the application's auth wins")
        #expect(SocketIORecoveryToken(pid: "P").connectPayload(auth: nil) == ["pid": .string("P")], "no offset yet: none sent")
        #expect(SocketIORecoveryToken(pid: nil, offset: "7").connectPayload(auth: ["a": .integer(1)]) == ["a": .integer(1)])
    }

    // MARK: Client and server sessions across a disconnect

    /// A client session and a server session wired back to back, with what each handed its application.
    private struct Pair {
        var client: SocketIOClientSession
        var server: SocketIOServerSession
        var clientSeen: [SocketIOClientOutput] = []
        var serverSeen: [SocketIOServerOutput] = []
        /// Every message the server wrote, in order, as text.
        var wire: [String] = []

        init(token: SocketIORecoveryToken?, sid: String, store: SocketIORecoveryStore?,
             options: SocketIOServerSession.Options = .init(), at now: Instant) {
            client = SocketIOClientSession(options: .init(auth: ["flatline": .string("c1")]), resuming: token)
            server = SocketIOServerSession(sid: sid, options: options, recovery: store)
            _ = server.start(at: now)
            toServer(client.start(at: now), at: now)
            toServer(client.transportOpened(at: now), at: now)
        }

        mutating func toServer(_ actions: [SocketIOClientSession.Action], at now: Instant) {
            for case .send(let output) in actions {
                if case .message(let message) = output {
                    for frame in message.frames { fromServer(server.receive(frame, at: now), at: now) }
                } else {
                    clientSeen.append(output)
                }
            }
        }

        mutating func fromServer(_ actions: [SocketIOServerSession.Action], at now: Instant) {
            for case .send(let output) in actions {
                if case .message(let message) = output {
                    for frame in message.frames {
                        if case .text(let text) = frame { wire.append(text) }
                        toServer(client.receive(frame, at: now), at: now)
                    }
                } else {
                    serverSeen.append(output)
                }
            }
        }

        /// The events the client's application got, by name and first argument.
        var clientEvents: [String] {
            clientSeen.compactMap { output in
                guard case .event(let event) = output else { return nil }
                if case .integer(let n)? = event.arguments.first { return "\(event.name) \(n)" }
                return event.name
            }
        }
    }

    @Test func aClientThatLostItsTransportGetsItsSocketIdAndTheEventsItMissed() throws {
        let store = Self.store()
        var first = Pair(token: nil, sid: "SID1", store: store, at: S.s(0))
        #expect(first.wire.first?.hasPrefix(#"0{"sid":"SID1","pid":""#) == true, "CONNECT carries the private id: \(first.wire)")
        let pid = try #require(first.client.recoveryToken?.pid)
        #expect(first.server.pid == pid && !first.client.recovered)

        first.fromServer(try first.server.emit("tick", [.integer(1)], at: S.s(1)), at: S.s(1))
        #expect(first.wire.last == #"2["tick",1,"1"]"#, "the offset is the last argument")
        #expect(first.client.recoveryToken == SocketIORecoveryToken(pid: pid, offset: "1"))
        // Event 2 goes into a dead link; the server then times the client out.
        _ = try first.server.emit("tick", [.integer(2)], at: S.s(2))
        _ = first.server.transportClosed(.pingTimeout, at: S.s(30))
        _ = first.client.transportClosed(.pingTimeout, at: S.s(31))
        #expect(first.clientEvents == ["tick 1"])

        // Socket.IO's Socket outlives its attempts: the next session carries the token.
        var second = Pair(token: first.client.recoveryToken, sid: "SID2", store: store, at: S.s(33))
        #expect(second.server.recovered && second.server.sid == "SID1")
        #expect(second.client.recovered && second.client.state == .connected(sid: "SID1"))
        // Missed events go out before the CONNECT answer (socket.io's Socket constructor); the client
        // buffers them and hands them over after it connects.
        #expect(second.wire.map { String($0.prefix(10)) } == [#"2["tick",2"#, #"0{"sid":"S"#])
        #expect(second.clientEvents == ["tick 2"])
        #expect(second.client.recoveryToken?.offset == "2")
        let connect = second.serverSeen.first { if case .connected = $0 { true } else { false } }
        guard case .connected(let auth)? = connect, case .object(let fields)? = auth else {
            Issue.record("the server's application did not see the connect: \(second.serverSeen)")
            return
        }
        #expect(fields["pid"] == .string(pid) && fields["offset"] == .string("1") && fields["flatline"] == .string("c1"))
        #expect(second.serverSeen.contains { if case .replayed = $0 { true } else { false } })
    }

    @Test func aNamespaceDisconnectEndsTheSessionForGood() throws {
        let store = Self.store()
        var first = Pair(token: nil, sid: "SID1", store: store, at: S.s(0))
        first.fromServer(try first.server.emit("tick", [.integer(1)], at: S.s(1)), at: S.s(1))
        _ = first.server.receive(.text("1"), at: S.s(2))  // the client's DISCONNECT
        var second = Pair(token: first.client.recoveryToken, sid: "SID2", store: store, at: S.s(3))
        #expect(!second.server.recovered && second.server.sid == "SID2")
        #expect(!second.client.recovered)
        #expect(second.client.recoveryToken?.pid != first.client.recoveryToken?.pid, "a new private id")
        #expect(second.client.recoveryToken?.offset == "1", "socket.io-client keeps its last offset until the next event")
        second.fromServer(try second.server.emit("tick", [.integer(5)], at: S.s(4)), at: S.s(4))
        #expect(second.client.recoveryToken?.offset == "2")
    }

    @Test func aClientThatNeverGotAnEventCannotRecover() throws {
        let store = Self.store()
        var first = Pair(token: nil, sid: "SID1", store: store, at: S.s(0))
        _ = first.server.transportClosed(.transportClose, at: S.s(1))
        #expect(first.client.recoveryToken?.offset == nil)
        let second = Pair(token: first.client.recoveryToken, sid: "SID2", store: store, at: S.s(2))
        #expect(!second.server.recovered && !second.client.recovered, "socket.io asks the adapter only with a string offset")
    }

    @Test func eventsWithAnAckCarryNoOffset() throws {
        let store = Self.store()
        var pair = Pair(token: nil, sid: "SID1", store: store, at: S.s(0))
        pair.fromServer(try pair.server.emitWithAck("question", [.integer(1)], timeout: nil, at: S.s(1)).actions, at: S.s(1))
        #expect(pair.wire.last == #"20["question",1]"#)
        #expect(store.keptEvents == 0)
        #expect(pair.client.recoveryToken?.offset == nil)
    }

    @Test func withoutAStoreNothingChanges() throws {
        var pair = Pair(token: nil, sid: "SID1", store: nil, at: S.s(0))
        #expect(pair.wire == [#"0{"sid":"SID1"}"#])
        pair.fromServer(try pair.server.emit("tick", [.integer(1)], at: S.s(1)), at: S.s(1))
        #expect(pair.wire.last == #"2["tick",1]"#)
        #expect(pair.client.recoveryToken == nil)
    }

    @Test func aRecoveredConnectSkipsTheAcceptanceStepUnlessToldNotTo() throws {
        for skip in [true, false] {
            let store = SocketIORecoveryStore(options: .init(skipMiddlewares: skip), broadcast: nil, origin: .zero, seed: 1)
            var first = Pair(token: nil, sid: "SID1", store: store, options: .init(), at: S.s(0))
            first.fromServer(try first.server.emit("tick", [.integer(1)], at: S.s(1)), at: S.s(1))
            _ = try first.server.emit("tick", [.integer(2)], at: S.s(2))  // into a dead link
            _ = first.server.transportClosed(.transportError, at: S.s(2))
            var second = Pair(token: first.client.recoveryToken, sid: "SID2", store: store,
                              options: .init(requiresAcceptance: true), at: S.s(3))
            if skip {
                #expect(second.client.recovered && second.clientEvents == ["tick 2"])
            } else {
                #expect(second.serverSeen.first.map { if case .connectRequested = $0 { true } else { false } } == true)
                #expect(!second.client.isConnected && second.wire.isEmpty, "the replay waits for the decision")
                second.fromServer(second.server.accept(at: S.s(4)), at: S.s(4))
                #expect(second.client.recovered && second.clientEvents == ["tick 2"])
            }
        }
    }

    // MARK: The application's own replay

    @Test func aReplayCarriesAtMostItsLengthOfTheEventsAfterSince() {
        let replay = BroadcastReplay(last: 5, mode: .push)
        #expect(replay.sequences(current: 20, since: 0) == 16...20)
        #expect(replay.sequences(current: 20, since: 17) == 18...20)
        #expect(replay.sequences(current: 3, since: 0) == 1...3)
        #expect(replay.sequences(current: 20, since: 20) == nil)
        #expect(replay.sequences(current: 0, since: 0) == nil)
        let request = SocketIOEvent(name: "history", arguments: BroadcastReplay.requestArguments(since: 7), ackID: nil, attachments: [])
        #expect(BroadcastReplay.since(in: request) == 7)
        #expect(BroadcastReplay.since(in: SocketIOEvent(name: "echo", arguments: [], ackID: nil, attachments: [])) == nil)
    }
}
