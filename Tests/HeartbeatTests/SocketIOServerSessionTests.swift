import Heartbeat
import LabCore
import Testing

@Suite("Socket.IO server session")
struct SocketIOServerSessionTests {
    typealias S = SocketIOFixtures
    typealias Action = SocketIOServerSession.Action

    private static func wire(_ text: String) -> Action {
        .send(.message(SocketIOMessage(try! SocketIOPacket(decoding: text))))
    }

    private static func joined(_ options: SocketIOServerSession.Options = .init()) -> SocketIOServerSession {
        var session = SocketIOServerSession(sid: "SID", options: options)
        _ = session.start(at: S.s(0))
        _ = session.receive(.text(options.namespace == "/" ? "0" : "0\(options.namespace),"), at: S.ms(100))
        return session
    }

    @Test func answersConnectWithTheSid() {
        var session = SocketIOServerSession(sid: "SID")
        #expect(session.start(at: S.s(0)) == [.arm(.connectTimeout, at: S.s(45))])
        #expect(session.receive(.text(#"0{"token":"t"}"#), at: S.ms(50)) == [
            .observe(.opened), .cancel(.connectTimeout), Self.wire(#"0{"sid":"SID"}"#),
            .send(.connected(auth: .object(["token": .string("t")]))),
        ])
        #expect(session.isConnected)
    }

    @Test func answersInItsNamespace() {
        var session = SocketIOServerSession(sid: "SID", options: .init(namespace: "/admin", connectTimeout: nil))
        #expect(session.start(at: S.s(0)) == [])
        #expect(session.receive(.text("0"), at: S.s(1)) == [])
        #expect(session.receive(.text("0/admin,"), at: S.s(1))
            == [.observe(.opened), Self.wire(#"0/admin,{"sid":"SID"}"#), .send(.connected(auth: nil))])
    }

    @Test func manualAcceptanceAndRejection() {
        var session = SocketIOServerSession(sid: "SID", options: .init(requiresAcceptance: true))
        _ = session.start(at: S.s(0))
        #expect(session.receive(.text(#"0{"token":"bad"}"#), at: S.s(1))
            == [.send(.connectRequested(auth: .object(["token": .string("bad")])))])
        #expect(session.reject(message: "Not authorized", data: .object(["code": .integer(401)]), at: S.s(1))
            == [Self.wire(#"4{"message":"Not authorized","data":{"code":401}}"#)])
        #expect(session.state == .awaitingConnect)
        _ = session.receive(.text(#"0{"token":"good"}"#), at: S.s(2))
        #expect(session.accept(at: S.s(2)) == [
            .observe(.opened), .cancel(.connectTimeout), Self.wire(#"0{"sid":"SID"}"#),
            .send(.connected(auth: .object(["token": .string("good")]))),
        ])
        #expect(session.accept(at: S.s(3)) == [])
    }

    @Test func clientThatNeverJoinsIsClosedAfterTheConnectTimeout() {
        var session = SocketIOServerSession(sid: "SID")
        _ = session.start(at: S.s(10))
        #expect(session.timerFired(.connectTimeout, at: S.ms(54_999)) == [])
        #expect(session.timerFired(.connectTimeout, at: S.s(55)) == [.close(.connectTimeout), .observe(.closed(.connectTimeout))])

        var atDeadline = SocketIOServerSession(sid: "SID")
        _ = atDeadline.start(at: S.s(10))
        #expect(atDeadline.receive(.text("0"), at: S.s(55))
            == [.cancel(.connectTimeout), .close(.connectTimeout), .observe(.closed(.connectTimeout))])
    }

    @Test func ignoresEverythingButConnectBeforeJoining() throws {
        var session = SocketIOServerSession(sid: "SID")
        _ = session.start(at: S.s(0))
        #expect(session.receive(.text(#"2["early"]"#), at: S.s(1)) == [])
        #expect(session.receive(.text("1"), at: S.s(1)) == [])
        #expect(try session.emit("x", at: S.s(1)) == [])
        #expect(try session.emitWithAck("x", timeout: nil, at: S.s(1)).ackID == nil)
    }

    @Test func eventsAndAcksBothWays() throws {
        var session = Self.joined()
        #expect(session.receive(.text(#"23["ping",1]"#), at: S.s(1))
            == [.send(.event(SocketIOEvent(name: "ping", arguments: [.integer(1)], ackID: 3)))])
        #expect(session.ack(3, [.string("pong")], at: S.s(1)) == [Self.wire(#"33["pong"]"#)])
        #expect(session.ack(3, at: S.s(1)) == [])
        #expect(try session.emit("news", [.integer(1)], at: S.s(2)) == [Self.wire(#"2["news",1]"#)])
        let sent = try session.emitWithAck("confirm", timeout: .seconds(10), at: S.s(2))
        #expect(sent.ackID == 0)
        #expect(sent.actions == [.arm(.ackTimeout(0), at: S.s(12)), Self.wire(#"20["confirm"]"#)])
        #expect(session.receive(.text(#"30["yes"]"#), at: S.s(12)) == [.cancel(.ackTimeout(0)), .send(.ackFailed(id: 0, .timedOut))])
        let again = try session.emitWithAck("confirm", timeout: .seconds(10), at: S.s(20))
        #expect(session.receive(.text(#"31["yes"]"#), at: S.s(21))
            == [.cancel(.ackTimeout(1)), .send(.ackReceived(SocketIOAck(id: 1, arguments: [.string("yes")])))])
        #expect(again.ackID == 1)
        #expect(session.timerFired(.ackTimeout(1), at: S.s(30)) == [])
    }

    @Test func clientNamespaceDisconnectLeavesTheTransportToTheClient() throws {
        var session = Self.joined()
        _ = try session.emitWithAck("q", timeout: nil, at: S.s(1))
        #expect(session.receive(.text("1"), at: S.s(2))
            == [.observe(.closed(.clientNamespaceDisconnect)), .send(.ackFailed(id: 0, .disconnected))])
    }

    @Test func serverDisconnectSendsDisconnectAndClosesOnlyWhenAsked() {
        var keep = Self.joined()
        #expect(keep.disconnect(at: S.s(1)) == [Self.wire("1"), .observe(.closed(.serverNamespaceDisconnect))])
        var close = Self.joined()
        #expect(close.disconnect(closeTransport: true, at: S.s(1))
            == [Self.wire("1"), .close(.serverNamespaceDisconnect), .observe(.closed(.serverNamespaceDisconnect))])
    }

    @Test func parseErrorAndTransportCloseEndTheSession() {
        var garbage = Self.joined()
        #expect(garbage.receive(.text("2{"), at: S.s(1)) == [.close(.parseError), .observe(.closed(.parseError))])
        for reason in CloseReason.allCases {
            var session = Self.joined()
            #expect(session.transportClosed(reason, at: S.s(1)) == [.observe(.closed(reason))])
        }
    }

    @Test func inputAfterCloseIsIgnored() throws {
        var session = Self.joined()
        _ = session.disconnect(at: S.s(1))
        #expect(session.start(at: S.s(2)) == [])
        #expect(session.receive(.text("0"), at: S.s(2)) == [])
        #expect(session.receive(.text(#"2["x"]"#), at: S.s(2)) == [])
        #expect(try session.emit("x", at: S.s(2)) == [])
        #expect(session.accept(at: S.s(2)) == [])
        #expect(session.reject(message: "no", at: S.s(2)) == [])
        #expect(session.disconnect(at: S.s(2)) == [])
        #expect(session.transportClosed(.pingTimeout, at: S.s(2)) == [])
        #expect(session.timerFired(.connectTimeout, at: S.s(60)) == [])
    }

    @Test func socketIDsAreDrawnFromTheSeed() {
        var a = SeededGenerator(seed: 42)
        var b = SeededGenerator(seed: 42)
        let first = SocketIOServerSession.makeSocketID(using: &a)
        #expect(first == SocketIOServerSession.makeSocketID(using: &b))
        #expect(first.count == 20)
        #expect(first.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(SocketIOServerSession.makeSocketID(using: &a) != first)
    }

    /// A client and a server session wired back to back over a perfect transport.
    @Test func clientAndServerSessionsTalk() throws {
        var client = SocketIOClientSession(options: .init(namespace: "/chat", auth: ["user": .string("ada")]))
        var server = SocketIOServerSession(sid: "S1", options: .init(namespace: "/chat"))
        var clientSeen: [SocketIOClientOutput] = []
        var serverSeen: [SocketIOServerOutput] = []

        func toServer(_ actions: [SocketIOClientSession.Action], at now: Instant) {
            for case .send(let output) in actions {
                if case .message(let message) = output {
                    for frame in message.frames { deliverToServer(server.receive(frame, at: now), at: now) }
                } else {
                    clientSeen.append(output)
                }
            }
        }
        func deliverToServer(_ actions: [SocketIOServerSession.Action], at now: Instant) {
            for case .send(let output) in actions {
                if case .message(let message) = output {
                    for frame in message.frames { toServer(client.receive(frame, at: now), at: now) }
                } else {
                    serverSeen.append(output)
                }
            }
        }

        _ = server.start(at: S.s(0))
        toServer(client.start(at: S.s(0)), at: S.s(0))
        toServer(client.transportOpened(at: S.ms(10)), at: S.ms(10))
        #expect(client.state == .connected(sid: "S1"))
        #expect(serverSeen == [.connected(auth: .object(["user": .string("ada")]))])
        #expect(clientSeen == [.connected(sid: "S1")])

        toServer(try client.emitWithAck("hello", [.string("hi")], timeout: .seconds(1), at: S.ms(20)).actions, at: S.ms(20))
        guard case .event(let event)? = serverSeen.last, let id = event.ackID else {
            Issue.record("server did not see the event")
            return
        }
        deliverToServer(server.ack(id, [.string("welcome")], at: S.ms(25)), at: S.ms(25))
        #expect(clientSeen.last == .ackReceived(SocketIOAck(id: 0, arguments: [.string("welcome")])))

        deliverToServer(try server.emit("file", [SocketIOPacket.placeholder(0)], attachments: [[7, 7]], at: S.ms(30)), at: S.ms(30))
        #expect(clientSeen.last == .event(SocketIOEvent(name: "file", arguments: [SocketIOPacket.placeholder(0)], attachments: [[7, 7]])))

        toServer(client.disconnect(at: S.ms(40)), at: S.ms(40))
        #expect(client.state == .closed(.ioClientDisconnect))
        #expect(server.state == .closed(.clientNamespaceDisconnect))
    }
}
