import Heartbeat
import LabCore
import Testing

/// The composed client both drivers run, checked action by action: what it opens, sends, closes,
/// arms and logs for a scripted trace of inputs.
@Suite("Socket.IO client stack")
struct SocketIOClientStackTests {
    typealias S = SocketIOFixtures
    typealias A = SocketIOClientStack.Action

    static func stack(reconnection: ReconnectionOptions = ReconnectionOptions(randomizationFactor: 0),
                      connectTimeout: TimeSpan? = .seconds(20)) -> SocketIOClientStack {
        SocketIOClientStack(configuration: .init(namespace: .init(connectTimeout: connectTimeout), reconnection: reconnection),
                            generator: SeededGenerator(seed: 1))
    }

    static let handshake = EngineIOHandshake(sid: "e1", pingInterval: .seconds(25), pingTimeout: .seconds(20))

    @Test func aConnectionOpensConnectsAndAnswersPings() {
        var stack = Self.stack()
        #expect(stack.start(at: S.s(0)) == [.arm(.session(.connectTimeout), at: S.s(20)), .openTransport(attempt: 0)])
        #expect(stack.hasTransport)
        #expect(stack.received(.open(Self.handshake), at: S.ms(100)) == [
            .arm(.heartbeat(.pingTimeout), at: S.ms(45_100)),
            .send(.message("0")),
        ])
        #expect(stack.received(.message(#"0{"sid":"n1"}"#), at: S.ms(200)) == [
            .cancel(.session(.connectTimeout)),
            .note(.connected),
        ])
        #expect(stack.isConnected)
        #expect(stack.received(.ping(""), at: S.ms(25_100)) == [
            .send(.pong("")),
            .arm(.heartbeat(.pingTimeout), at: S.ms(70_100)),
            .note(.ping),
        ])
    }

    @Test func aConnectTimeoutIsOneConnectErrorThenABackoff() {
        var stack = Self.stack()
        _ = stack.start(at: S.s(0))
        _ = stack.received(.open(Self.handshake), at: S.ms(100))
        // No CONNECT answer: the session gives up at 20 s.
        let actions = stack.timerFired(.session(.connectTimeout), at: S.s(20))
        #expect(actions.filter { if case .note(.connectError) = $0 { true } else { false } } == [.note(.connectError(.timedOut))])
        #expect(actions.contains(.closeTransport))
        #expect(actions.contains(.note(.disconnected(.connectTimeout))))
        // The transport had opened, so this is a drop with a fresh backoff: 1 s.
        #expect(actions.contains(.arm(.reconnect(.reconnectDelay), at: S.s(21))))
        #expect(!stack.hasTransport)
    }

    /// socket.io-client's `socket.disconnect()` while a reconnect attempt is in flight: the
    /// attempt's transport is closed (engine.close()), no "disconnect" is emitted for a socket that
    /// never connected, nothing reconnects, and whatever the abandoned transport delivers later is
    /// ignored. Both drivers run this stack, so both behave so.
    @Test func stoppingMidAttemptAbandonsIt() {
        var stack = Self.stack()
        _ = stack.start(at: S.s(0))
        _ = stack.received(.open(Self.handshake), at: S.ms(100))
        _ = stack.received(.message(#"0{"sid":"n1"}"#), at: S.ms(200))
        // The server goes quiet: the ping timeout drops the connection, a reconnect is scheduled.
        let drop = stack.timerFired(.heartbeat(.pingTimeout), at: S.ms(45_100))
        #expect(drop.contains(.note(.disconnected(.pingTimeout))))
        #expect(drop.last == .arm(.reconnect(.reconnectDelay), at: S.ms(46_100)))
        // Attempt 1 starts; its handshake never completes.
        #expect(stack.timerFired(.reconnect(.reconnectDelay), at: S.ms(46_100)) == [
            .note(.reconnectAttempt(1)),
            .arm(.session(.connectTimeout), at: S.ms(66_100)),
            .openTransport(attempt: 1),
        ])
        // The application stops mid-attempt.
        #expect(stack.stop(at: S.s(50)) == [
            .cancel(.session(.connectTimeout)),
            .cancel(.emit),
            .cancel(.heartbeat(.pingTimeout)),
            .closeTransport,
            .cancelAllTimers,
        ])
        #expect(!stack.hasTransport)
        // The abandoned attempt's late open and any timer reach nothing.
        #expect(stack.received(.open(Self.handshake), at: S.s(51)) == [])
        #expect(stack.timerFired(.reconnect(.reconnectDelay), at: S.s(52)) == [])
        #expect(stack.transportClosed(at: S.s(53)) == [])
    }

    @Test func stoppingWhileWaitingCancelsTheBackoff() {
        var stack = Self.stack()
        _ = stack.start(at: S.s(0))
        _ = stack.received(.open(Self.handshake), at: S.ms(100))
        _ = stack.received(.message(#"0{"sid":"n1"}"#), at: S.ms(200))
        _ = stack.transportClosed(at: S.s(10))
        #expect(stack.stop(at: S.s(10)) == [.cancel(.reconnect(.reconnectDelay)), .cancelAllTimers])
    }

    @Test func stoppingAConnectedClientSaysGoodbye() {
        var stack = Self.stack()
        _ = stack.start(at: S.s(0))
        _ = stack.received(.open(Self.handshake), at: S.ms(100))
        _ = stack.received(.message(#"0{"sid":"n1"}"#), at: S.ms(200))
        let actions = stack.stop(at: S.s(5))
        #expect(actions.first == .send(.message("1")))
        #expect(actions.contains(.closeTransport))
        #expect(actions.contains(.note(.disconnected(.ioClientDisconnect))))
        #expect(!actions.contains { if case .arm(.reconnect, _) = $0 { true } else { false } })
    }

    @Test func aRefusedConnectStopsReconnecting() {
        var stack = Self.stack()
        _ = stack.start(at: S.s(0))
        _ = stack.received(.open(Self.handshake), at: S.ms(100))
        let actions = stack.received(.message(#"4{"message":"no"}"#), at: S.ms(200))
        #expect(actions.contains(.note(.connectError(.refused))))
        #expect(actions.contains(.closeTransport))
        // The close schedules a reconnect; the refusal then stops the manager, which cancels it.
        let reconnects = actions.filter { if case .arm(.reconnect, _) = $0 { true } else if case .cancel(.reconnect) = $0 { true } else { false } }
        #expect(reconnects.last == .cancel(.reconnect(.reconnectDelay)))
        #expect(stack.reconnection.state == .stopped)
    }
}
