import Heartbeat
import LabCore
import Testing

@Suite("Socket.IO client session")
struct SocketIOClientSessionTests {
    typealias S = SocketIOFixtures
    typealias Action = SocketIOClientSession.Action

    private static func wire(_ text: String) -> Action {
        .send(.message(SocketIOMessage(try! SocketIOPacket(decoding: text))))
    }

    /// A session connected as "abc" at 200 ms.
    private static func connected(_ options: SocketIOClientSession.Options = .init()) -> SocketIOClientSession {
        var session = SocketIOClientSession(options: options)
        _ = session.start(at: S.ms(0))
        _ = session.transportOpened(at: S.ms(100))
        _ = session.receive(.text(options.namespace == "/" ? #"0{"sid":"abc"}"# : "0\(options.namespace),{\"sid\":\"abc\"}"),
                            at: S.ms(200))
        return session
    }

    // MARK: Connect and connect timeout

    @Test func connectsWithTheServersSid() {
        var session = SocketIOClientSession()
        #expect(session.start(at: S.ms(0)) == [.arm(.connectTimeout, at: S.s(20))])
        #expect(session.state == .openingTransport)
        #expect(session.transportOpened(at: S.ms(120)) == [Self.wire("0")])
        #expect(session.state == .connecting)
        #expect(session.receive(.text(#"0{"sid":"abc"}"#), at: S.ms(180))
            == [.observe(.opened), .cancel(.connectTimeout), .send(.connected(sid: "abc"))])
        #expect(session.state == .connected(sid: "abc"))
        #expect(session.isConnected)
    }

    @Test func sendsAuthAndJoinsItsNamespace() {
        var session = SocketIOClientSession(options: .init(namespace: "/admin", auth: ["token": .string("t")]))
        #expect(session.transportOpened(at: S.s(2)) == [.arm(.connectTimeout, at: S.s(22)), Self.wire(#"0/admin,{"token":"t"}"#)])
        // The answer for another namespace is not ours.
        #expect(session.receive(.text(#"0{"sid":"root"}"#), at: S.ms(2100)) == [])
        #expect(session.receive(.text(#"0/admin,{"sid":"adm"}"#), at: S.ms(2200)).last == .send(.connected(sid: "adm")))
    }

    @Test func connectTimeoutFiresAtItsExactInstant() {
        var session = SocketIOClientSession()
        #expect(session.start(at: S.ms(1000)) == [.arm(.connectTimeout, at: S.s(21))])
        _ = session.transportOpened(at: S.ms(1500))
        // Early or stale firings do nothing.
        #expect(session.timerFired(.connectTimeout, at: S.ms(20_999)) == [])
        #expect(session.timerFired(.connectTimeout, at: S.s(21))
            == [.close(.connectTimeout), .observe(.closed(.connectTimeout)), .send(.connectFailed(.timedOut))])
        #expect(session.state == .closed(.connectTimeout))
    }

    @Test func connectTimeoutCoversASlowTransportOpen() {
        var session = SocketIOClientSession(options: .init(connectTimeout: .seconds(5)))
        _ = session.start(at: S.s(0))
        #expect(session.timerFired(.connectTimeout, at: S.s(5))
            == [.close(.connectTimeout), .observe(.closed(.connectTimeout)), .send(.connectFailed(.timedOut))])
        // The transport opening afterwards changes nothing.
        #expect(session.transportOpened(at: S.s(6)) == [])
    }

    /// The deadline rule: an answer at the deadline instant is late even if the timer has not been
    /// delivered yet; one nanosecond earlier it is on time.
    @Test func answerExactlyAtTheDeadlineIsLate() {
        var late = SocketIOClientSession()
        _ = late.start(at: S.s(0))
        _ = late.transportOpened(at: S.s(1))
        #expect(late.receive(.text(#"0{"sid":"abc"}"#), at: S.s(20))
            == [.cancel(.connectTimeout), .close(.connectTimeout), .observe(.closed(.connectTimeout)),
                .send(.connectFailed(.timedOut))])
        // The timer then arrives and is ignored.
        #expect(late.timerFired(.connectTimeout, at: S.s(20)) == [])

        var onTime = SocketIOClientSession()
        _ = onTime.start(at: S.s(0))
        _ = onTime.transportOpened(at: S.s(1))
        #expect(onTime.receive(.text(#"0{"sid":"abc"}"#), at: S.s(20) - .nanoseconds(1)).last == .send(.connected(sid: "abc")))
    }

    @Test func transportOpeningAfterTheDeadlineTimesOut() {
        var session = SocketIOClientSession(options: .init(connectTimeout: .seconds(5)))
        _ = session.start(at: S.s(0))
        #expect(session.transportOpened(at: S.s(5))
            == [.cancel(.connectTimeout), .close(.connectTimeout), .observe(.closed(.connectTimeout)),
                .send(.connectFailed(.timedOut))])
    }

    @Test func noConnectTimeoutWaitsForever() {
        var session = SocketIOClientSession(options: .init(connectTimeout: nil))
        #expect(session.start(at: S.s(0)) == [])
        #expect(session.transportOpened(at: S.s(1)) == [Self.wire("0")])
        #expect(session.receive(.text(#"0{"sid":"x"}"#), at: S.s(3600)) == [.observe(.opened), .send(.connected(sid: "x"))])
    }

    @Test func beforeAndAfterConnectTimeoutsOfTheMotivatingCase() {
        // A handshake that takes 7 s (a Wi-Fi stall): 5 s gives up, 20 s connects.
        for (settings, connects) in [(DashboardSettings.before, false), (DashboardSettings.after, true)] {
            var session = SocketIOClientSession(options: settings.sessionOptions())
            let arm = session.start(at: S.s(100))
            #expect(arm == [.arm(.connectTimeout, at: S.s(100) + settings.connectTimeout)])
            _ = session.transportOpened(at: S.ms(100_300))
            if !connects { _ = session.timerFired(.connectTimeout, at: S.s(105)) }
            _ = session.receive(.text(#"0{"sid":"abc"}"#), at: S.s(107))
            #expect(session.isConnected == connects)
        }
    }

    @Test func aV2ServerAnswerIsAConnectErrorAndTheSessionKeepsWaiting() {
        var session = SocketIOClientSession()
        _ = session.transportOpened(at: S.s(0))
        #expect(session.receive(.text("0"), at: S.s(1)) == [.send(.connectFailed(.incompatibleServer))])
        #expect(session.state == .connecting)
    }

    @Test func connectErrorDestroysTheSocket() {
        var session = SocketIOClientSession()
        _ = session.transportOpened(at: S.s(0))
        #expect(session.receive(.text(#"4{"message":"Not authorized","data":{"code":401}}"#), at: S.s(1))
            == [.cancel(.connectTimeout), .close(.forcedClose), .observe(.closed(.forcedClose)),
                .send(.connectFailed(.refused(.object(["message": .string("Not authorized"),
                                                       "data": .object(["code": .integer(401)])]))))])
        #expect(session.state == .closed(.forcedClose))
    }

    // MARK: Events and acks

    @Test func deliversEventsAndAnswersAcksOnce() {
        var session = Self.connected()
        #expect(session.receive(.text(#"2["news",{"a":1}]"#), at: S.s(1))
            == [.send(.event(SocketIOEvent(name: "news", arguments: [.object(["a": .integer(1)])])))])
        #expect(session.receive(.text(#"212["question","x"]"#), at: S.s(2))
            == [.send(.event(SocketIOEvent(name: "question", arguments: [.string("x")], ackID: 12)))])
        #expect(session.ack(12, [.string("answer")], at: S.s(3)) == [Self.wire(#"312["answer"]"#)])
        #expect(session.ack(12, [.string("again")], at: S.s(4)) == [])
        #expect(session.ack(99, at: S.s(4)) == [])
    }

    @Test func emitsEventsWithAndWithoutAcks() throws {
        var session = Self.connected(.init(namespace: "/admin"))
        #expect(try session.emit("hello", [.string("world")], at: S.s(1)) == [Self.wire(#"2/admin,["hello","world"]"#)])
        let first = try session.emitWithAck("save", [.integer(1)], timeout: nil, at: S.s(1))
        #expect(first.ackID == 0)
        #expect(first.actions == [Self.wire(#"2/admin,0["save",1]"#)])
        let second = try session.emitWithAck("save", [.integer(2)], timeout: .seconds(5), at: S.s(2))
        #expect(second.ackID == 1)
        #expect(second.actions == [.arm(.ackTimeout(1), at: S.s(7)), Self.wire(#"2/admin,1["save",2]"#)])
        #expect(session.receive(.text(#"3/admin,0["ok"]"#), at: S.s(3))
            == [.send(.ackReceived(SocketIOAck(id: 0, arguments: [.string("ok")])))])
        // An ack for an id that is not pending (already answered) is ignored.
        #expect(session.receive(.text(#"3/admin,0["again"]"#), at: S.s(3)) == [])
    }

    @Test func optionsAckTimeoutIsTheDefault() throws {
        var session = Self.connected(.init(ackTimeout: .milliseconds(2500)))
        let sent = try session.emitWithAck("q", at: S.s(10))
        #expect(sent.actions == [.arm(.ackTimeout(0), at: S.ms(12_500)), Self.wire(#"20["q"]"#)])
    }

    /// The ack rule: the callback gets `.timedOut` when the ack is not in strictly before the
    /// deadline; an ack at the deadline instant, before or after the timer, is a timeout.
    @Test func ackTimeoutAgainstAnAckAtTheDeadline() throws {
        var onTime = Self.connected()
        _ = try onTime.emitWithAck("q", timeout: .seconds(5), at: S.s(1))
        #expect(onTime.receive(.text(#"30["a"]"#), at: S.s(6) - .nanoseconds(1))
            == [.cancel(.ackTimeout(0)), .send(.ackReceived(SocketIOAck(id: 0, arguments: [.string("a")])))])
        #expect(onTime.timerFired(.ackTimeout(0), at: S.s(6)) == [])

        var ackFirst = Self.connected()
        _ = try ackFirst.emitWithAck("q", timeout: .seconds(5), at: S.s(1))
        #expect(ackFirst.receive(.text(#"30["a"]"#), at: S.s(6)) == [.cancel(.ackTimeout(0)), .send(.ackFailed(id: 0, .timedOut))])
        #expect(ackFirst.timerFired(.ackTimeout(0), at: S.s(6)) == [])

        var timerFirst = Self.connected()
        _ = try timerFirst.emitWithAck("q", timeout: .seconds(5), at: S.s(1))
        #expect(timerFirst.timerFired(.ackTimeout(0), at: S.ms(5999)) == [])
        #expect(timerFirst.timerFired(.ackTimeout(0), at: S.s(6)) == [.send(.ackFailed(id: 0, .timedOut))])
        #expect(timerFirst.receive(.text(#"30["a"]"#), at: S.s(6)) == [])
        #expect(timerFirst.isConnected)
    }

    @Test func emitsBeforeConnectAreBufferedAndFlushedInOrder() throws {
        var session = SocketIOClientSession()
        _ = session.start(at: S.s(0))
        #expect(try session.emit("early", at: S.ms(10)) == [])
        let withAck = try session.emitWithAck("early-ack", timeout: .seconds(1), at: S.ms(20))
        #expect(withAck.actions == [.arm(.ackTimeout(0), at: S.ms(1020))])
        let expiring = try session.emitWithAck("expires", timeout: .milliseconds(50), at: S.ms(30))
        #expect(expiring.ackID == 1)
        // The second ack times out while still buffered: it is dropped from the buffer.
        #expect(session.timerFired(.ackTimeout(1), at: S.ms(80)) == [.send(.ackFailed(id: 1, .timedOut))])
        _ = session.transportOpened(at: S.ms(100))
        // An event that arrives before CONNECT is buffered too.
        #expect(session.receive(.text(#"2["pre"]"#), at: S.ms(150)) == [])
        #expect(session.receive(.text(#"0{"sid":"abc"}"#), at: S.ms(200)) == [
            .observe(.opened), .cancel(.connectTimeout),
            .send(.event(SocketIOEvent(name: "pre"))),
            Self.wire(#"2["early"]"#), Self.wire(#"20["early-ack"]"#),
            .send(.connected(sid: "abc")),
        ])
    }

    @Test func binaryEventsGoBothWays() throws {
        var session = Self.connected()
        let sent = try session.emit("upload", [SocketIOPacket.placeholder(0)], attachments: [[1, 2, 3]], at: S.s(1))
        guard case .send(.message(let message))? = sent.first else {
            Issue.record("expected a message")
            return
        }
        #expect(message.frames == [.text(#"51-["upload",{"_placeholder":true,"num":0}]"#), .binary([1, 2, 3])])
        #expect(session.receive(.text(#"51-7["file",{"_placeholder":true,"num":0}]"#), at: S.s(2)) == [])
        #expect(session.receive(.binary([0xFF]), at: S.s(2))
            == [.send(.event(SocketIOEvent(name: "file", arguments: [SocketIOPacket.placeholder(0)], ackID: 7,
                                           attachments: [[0xFF]])))])
        #expect(session.ack(7, [SocketIOPacket.placeholder(0)], attachments: [[1]], at: S.s(3))
            == [.send(.message(SocketIOMessage(.ack(id: 7, [SocketIOPacket.placeholder(0)]), attachments: [[1]])))])
    }

    @Test func reservedEventNamesCannotBeEmitted() {
        var session = Self.connected()
        #expect(throws: SocketIOEmitError.reservedEventName("disconnect")) {
            try session.emit("disconnect", at: S.s(1))
        }
        #expect(throws: SocketIOEmitError.reservedEventName("connect")) {
            try session.emitWithAck("connect", timeout: nil, at: S.s(1))
        }
    }

    // MARK: Close reasons

    @Test func serverDisconnectIsIoServerDisconnectAndFailsPendingAcks() throws {
        var session = Self.connected()
        _ = try session.emitWithAck("a", timeout: nil, at: S.s(1))
        _ = try session.emitWithAck("b", timeout: .seconds(30), at: S.s(2))
        #expect(session.receive(.text("1"), at: S.s(3)) == [
            .cancel(.ackTimeout(1)), .close(.ioServerDisconnect), .observe(.closed(.ioServerDisconnect)),
            .send(.ackFailed(id: 0, .disconnected)), .send(.ackFailed(id: 1, .disconnected)),
        ])
        #expect(session.state == .closed(.ioServerDisconnect))
    }

    @Test func clientDisconnectIsIoClientDisconnect() {
        var connected = Self.connected()
        #expect(connected.disconnect(at: S.s(1)) == [Self.wire("1"), .close(.ioClientDisconnect), .observe(.closed(.ioClientDisconnect))])

        var connecting = SocketIOClientSession()
        _ = connecting.start(at: S.s(0))
        _ = connecting.transportOpened(at: S.s(1))
        // Not connected yet: no DISCONNECT packet, as socket.io-client.
        #expect(connecting.disconnect(at: S.s(2))
            == [.cancel(.connectTimeout), .close(.ioClientDisconnect), .observe(.closed(.ioClientDisconnect))])

        var idle = SocketIOClientSession()
        #expect(idle.disconnect(at: S.s(0)) == [.observe(.closed(.ioClientDisconnect))])
    }

    @Test func undecodablePacketIsAParseError() {
        var session = Self.connected()
        #expect(session.receive(.text("9garbage"), at: S.s(1)) == [.close(.parseError), .observe(.closed(.parseError))])
        var binary = Self.connected()
        #expect(binary.receive(.binary([1]), at: S.s(1)) == [.close(.parseError), .observe(.closed(.parseError))])
    }

    @Test func everyTransportReasonEndsTheSessionWithThatReason() {
        for reason in CloseReason.allCases {
            var session = Self.connected()
            #expect(session.transportClosed(reason, at: S.s(1)) == [.observe(.closed(reason))], "\(reason)")
            #expect(session.state == .closed(reason))
        }
        var connecting = SocketIOClientSession()
        _ = connecting.start(at: S.s(0))
        #expect(connecting.transportClosed(.transportError, at: S.s(1))
            == [.cancel(.connectTimeout), .observe(.closed(.transportError))])
    }

    @Test func inputAfterCloseIsIgnored() throws {
        var session = Self.connected()
        _ = try session.emitWithAck("a", timeout: .seconds(1), at: S.s(1))
        _ = session.receive(.text("1"), at: S.s(2))
        #expect(session.start(at: S.s(3)) == [])
        #expect(session.transportOpened(at: S.s(3)) == [])
        #expect(session.receive(.text(#"0{"sid":"again"}"#), at: S.s(3)) == [])
        #expect(session.receive(.text(#"2["late"]"#), at: S.s(3)) == [])
        #expect(session.receive(.text("garbage"), at: S.s(3)) == [])
        #expect(try session.emit("x", at: S.s(3)) == [])
        let dropped = try session.emitWithAck("x", timeout: .seconds(1), at: S.s(3))
        #expect(dropped.ackID == nil && dropped.actions.isEmpty)
        #expect(session.ack(0, at: S.s(3)) == [])
        #expect(session.disconnect(at: S.s(3)) == [])
        #expect(session.transportClosed(.transportClose, at: S.s(3)) == [])
        #expect(session.timerFired(.ackTimeout(0), at: S.s(5)) == [])
        #expect(session.timerFired(.connectTimeout, at: S.s(30)) == [])
        #expect(session.state == .closed(.ioServerDisconnect))
    }

    @Test func packetsForOtherNamespacesAreIgnored() {
        var session = Self.connected()
        #expect(session.receive(.text("1/admin,"), at: S.s(1)) == [])
        #expect(session.receive(.text(#"2/admin,["x"]"#), at: S.s(1)) == [])
        #expect(session.isConnected)
    }
}
