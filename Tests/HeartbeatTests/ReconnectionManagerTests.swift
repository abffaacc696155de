import Heartbeat
import LabCore
import Testing

@Suite("Reconnection manager")
struct ReconnectionManagerTests {
    typealias S = SocketIOFixtures

    private static func noJitter(attempts: Int? = nil, reconnection: Bool = true) -> ReconnectionManager {
        ReconnectionManager(options: ReconnectionOptions(reconnection: reconnection, reconnectionAttempts: attempts,
                                                         randomizationFactor: 0),
                            generator: SeededGenerator(seed: 1))
    }

    private static func open(_ manager: inout ReconnectionManager) {
        _ = manager.start(at: S.s(0))
        _ = manager.opened(at: S.ms(100))
    }

    @Test func startOpensAndIsIdempotentWhileConnecting() {
        var manager = Self.noJitter()
        #expect(manager.start(at: S.s(0)) == [.send(.openTransport(attempt: 0))])
        #expect(manager.state == .opening(attempt: 0))
        #expect(manager.start(at: S.ms(10)) == [])
        #expect(manager.opened(at: S.ms(100)) == [])
        #expect(manager.state == .open)
        #expect(manager.start(at: S.ms(200)) == [])
    }

    /// randomizationFactor 0: exactly 1000, 2000, 4000, 5000, 5000 ms between a failure and the
    /// next attempt, at these instants.
    @Test func exactBackoffSequenceWithoutJitter() {
        var manager = Self.noJitter()
        Self.open(&manager)
        #expect(manager.disconnected(.transportClose, at: S.s(10)) == [.arm(.reconnectDelay, at: S.s(11))])
        #expect(manager.timerFired(.reconnectDelay, at: S.s(11)) == [.send(.openTransport(attempt: 1))])
        #expect(manager.openFailed(at: S.ms(11_200)) == [.arm(.reconnectDelay, at: S.ms(13_200))])
        #expect(manager.timerFired(.reconnectDelay, at: S.ms(13_200)) == [.send(.openTransport(attempt: 2))])
        #expect(manager.openFailed(at: S.ms(13_400)) == [.arm(.reconnectDelay, at: S.ms(17_400))])
        #expect(manager.timerFired(.reconnectDelay, at: S.ms(17_400)) == [.send(.openTransport(attempt: 3))])
        #expect(manager.openFailed(at: S.ms(17_600)) == [.arm(.reconnectDelay, at: S.ms(22_600))])
        #expect(manager.timerFired(.reconnectDelay, at: S.ms(22_600)) == [.send(.openTransport(attempt: 4))])
        #expect(manager.openFailed(at: S.ms(22_800)) == [.arm(.reconnectDelay, at: S.ms(27_800))])
        #expect(manager.timerFired(.reconnectDelay, at: S.ms(27_800)) == [.send(.openTransport(attempt: 5))])
        // Success resets the attempts...
        #expect(manager.opened(at: S.s(28)) == [.send(.reconnected(attempts: 5))])
        #expect(manager.backoff.attempts == 0)
        // ...so the next drop starts again at 1000 ms.
        #expect(manager.disconnected(.pingTimeout, at: S.s(100)) == [.arm(.reconnectDelay, at: S.s(101))])
    }

    @Test func seededJitterIsReproducibleAndMatchesBackoff() {
        func instants(seed: UInt64) -> [Instant] {
            var manager = ReconnectionManager(generator: SeededGenerator(seed: seed))
            Self.open(&manager)
            var out: [Instant] = []
            var actions = manager.disconnected(.transportClose, at: S.s(10))
            for _ in 0..<6 {
                guard case .arm(_, let at)? = actions.first else { break }
                out.append(at)
                _ = manager.timerFired(.reconnectDelay, at: at)
                actions = manager.openFailed(at: at)
            }
            return out
        }
        let seven = instants(seed: 7)
        // Each delay measured from the failure: backo2's sequence for seed 7.
        var previous = S.s(10)
        var delays: [Int64] = []
        for at in seven {
            delays.append((at - previous).nanoseconds / 1_000_000)
            previous = at
        }
        #expect(delays == [1350, 1722, 2321, 5000, 5000, 5000])
        #expect(instants(seed: 7) == seven)
        #expect(instants(seed: 8) != seven)
    }

    @Test func givesUpAfterReconnectionAttempts() {
        var manager = Self.noJitter(attempts: 3)
        _ = manager.start(at: S.s(0))
        // The first open fails: the loop starts.
        #expect(manager.openFailed(at: S.s(1)) == [.arm(.reconnectDelay, at: S.s(2))])
        #expect(manager.timerFired(.reconnectDelay, at: S.s(2)) == [.send(.openTransport(attempt: 1))])
        #expect(manager.openFailed(at: S.s(3)) == [.arm(.reconnectDelay, at: S.s(5))])
        #expect(manager.timerFired(.reconnectDelay, at: S.s(5)) == [.send(.openTransport(attempt: 2))])
        #expect(manager.openFailed(at: S.s(6)) == [.arm(.reconnectDelay, at: S.s(10))])
        #expect(manager.timerFired(.reconnectDelay, at: S.s(10)) == [.send(.openTransport(attempt: 3))])
        #expect(manager.openFailed(at: S.s(11)) == [.send(.reconnectFailed)])
        #expect(manager.state == .gaveUp)
        #expect(manager.backoff.attempts == 0)
        // Nothing more happens on its own...
        #expect(manager.timerFired(.reconnectDelay, at: S.s(20)) == [])
        #expect(manager.openFailed(at: S.s(20)) == [])
        // ...until the application starts again.
        #expect(manager.start(at: S.s(30)) == [.send(.openTransport(attempt: 0))])
    }

    @Test func infiniteAttemptsByDefault() {
        var manager = Self.noJitter()
        _ = manager.start(at: S.s(0))
        var now = S.s(0)
        var actions = manager.openFailed(at: now)
        for attempt in 1...200 {
            guard case .arm(_, let at)? = actions.first else {
                Issue.record("gave up at attempt \(attempt)")
                return
            }
            #expect(manager.timerFired(.reconnectDelay, at: at) == [.send(.openTransport(attempt: attempt))])
            now = at
            actions = manager.openFailed(at: now)
        }
        #expect(manager.backoff.attempts == 201)
    }

    /// socket.io-client reconnects after every disconnect reason except the two that destroy the
    /// socket: "io client disconnect" and "io server disconnect".
    @Test func everyCloseReasonReconnectsExceptTheTwoDeliberateOnes() {
        for reason in CloseReason.allCases {
            var manager = Self.noJitter()
            Self.open(&manager)
            let actions = manager.disconnected(reason, at: S.s(10))
            if reason == .ioClientDisconnect || reason == .ioServerDisconnect {
                #expect(actions == [], "\(reason)")
                #expect(manager.state == .stopped, "\(reason)")
                #expect(manager.timerFired(.reconnectDelay, at: S.s(11)) == [])
            } else {
                #expect(actions == [.arm(.reconnectDelay, at: S.s(11))], "\(reason)")
            }
        }
    }

    @Test func reconnectionOffStaysDown() {
        var manager = Self.noJitter(reconnection: false)
        Self.open(&manager)
        #expect(manager.disconnected(.transportClose, at: S.s(5)) == [])
        #expect(manager.state == .idle)
        var first = Self.noJitter(reconnection: false)
        _ = first.start(at: S.s(0))
        #expect(first.openFailed(at: S.s(1)) == [])
        #expect(first.state == .idle)
    }

    @Test func reconnectWhileConnecting() {
        var manager = Self.noJitter()
        Self.open(&manager)
        _ = manager.disconnected(.transportClose, at: S.s(10))
        // Already waiting: a start is ignored (socket.io-client skips open() while reconnecting).
        #expect(manager.start(at: S.ms(10_500)) == [])
        _ = manager.timerFired(.reconnectDelay, at: S.s(11))
        // The transport drops while the attempt is in flight: that attempt failed.
        #expect(manager.disconnected(.transportError, at: S.ms(11_300)) == [.arm(.reconnectDelay, at: S.ms(13_300))])
        _ = manager.timerFired(.reconnectDelay, at: S.ms(13_300))
        #expect(manager.state == .opening(attempt: 2))
        // A server DISCONNECT during the attempt stops everything.
        #expect(manager.disconnected(.ioServerDisconnect, at: S.ms(13_400)) == [])
        #expect(manager.state == .stopped)
    }

    /// A namespace connect timeout after Engine.IO opened may be reported either way: as a failed
    /// attempt or as a drop. Both reconnect with a fresh backoff.
    @Test func failureAfterTheTransportOpenedIsADrop() {
        var viaFailure = Self.noJitter()
        _ = viaFailure.start(at: S.s(0))
        _ = viaFailure.openFailed(at: S.s(1))
        _ = viaFailure.timerFired(.reconnectDelay, at: S.s(2))
        #expect(viaFailure.opened(at: S.ms(2100)) == [.send(.reconnected(attempts: 1))])
        #expect(viaFailure.openFailed(at: S.s(7)) == [.arm(.reconnectDelay, at: S.s(8))])

        var viaDisconnect = Self.noJitter()
        Self.open(&viaDisconnect)
        #expect(viaDisconnect.disconnected(.connectTimeout, at: S.s(20)) == [.arm(.reconnectDelay, at: S.s(21))])
    }

    @Test func stopCancelsWhateverIsPending() {
        var waiting = Self.noJitter()
        Self.open(&waiting)
        _ = waiting.disconnected(.transportClose, at: S.s(10))
        #expect(waiting.stop(at: S.ms(10_500)) == [.cancel(.reconnectDelay)])
        #expect(waiting.timerFired(.reconnectDelay, at: S.s(11)) == [])

        var opening = Self.noJitter()
        _ = opening.start(at: S.s(0))
        #expect(opening.stop(at: S.ms(50)) == [.close(.forcedClose)])
        // Input after the stop is ignored.
        #expect(opening.opened(at: S.ms(60)) == [])
        #expect(opening.openFailed(at: S.ms(60)) == [])
        #expect(opening.disconnected(.transportClose, at: S.ms(70)) == [])
        #expect(opening.state == .stopped)
    }

    @Test func staleOrEarlyTimersAreIgnored() {
        var manager = Self.noJitter()
        Self.open(&manager)
        #expect(manager.timerFired(.reconnectDelay, at: S.s(1)) == [])
        _ = manager.disconnected(.transportClose, at: S.s(10))
        #expect(manager.timerFired(.reconnectDelay, at: S.ms(10_999)) == [])
        #expect(manager.timerFired(.reconnectDelay, at: S.s(11)) == [.send(.openTransport(attempt: 1))])
        #expect(manager.timerFired(.reconnectDelay, at: S.s(11)) == [])
    }
}
