import Heartbeat
import LabCore
import Testing

/// The reconnection manager and a client session run together on a `VirtualScheduler`, the way a
/// driver runs them: the manager decides when to open, each attempt gets a fresh session, and the
/// session's connect timeout decides when an attempt has failed.
@Suite("Reconnection under virtual time")
struct ReconnectionDriverTests {
    typealias S = SocketIOFixtures

    /// A minimal driver: a fake transport whose handshake takes `handshakeDelay(now)`, then a
    /// server that answers CONNECT after `serverDelay`.
    final class Driver {
        let scheduler = VirtualScheduler()
        var manager: ReconnectionManager
        let sessionOptions: SocketIOClientSession.Options
        let handshakeDelay: (Instant) -> TimeSpan
        let serverDelay = TimeSpan.milliseconds(50)
        var session: SocketIOClientSession?
        var transportOpen = false
        var generation = 0
        var timers: [SocketIOTimer: TimerToken] = [:]
        var managerTimer: TimerToken?
        var log: [String] = []

        init(manager: ReconnectionManager, sessionOptions: SocketIOClientSession.Options,
             handshakeDelay: @escaping (Instant) -> TimeSpan) {
            self.manager = manager
            self.sessionOptions = sessionOptions
            self.handshakeDelay = handshakeDelay
        }

        var now: Instant { scheduler.now }

        func note(_ text: String) { log.append("\(now) \(text)") }

        func start() { apply(manager.start(at: now)) }

        func apply(_ actions: [ReconnectionManager.Action]) {
            for action in actions {
                switch action {
                case .send(.openTransport(let attempt)):
                    note("open #\(attempt)")
                    openAttempt()
                case .send(.reconnected(let attempts)): note("reconnected after \(attempts)")
                case .send(.reconnectFailed): note("reconnect failed")
                case .arm(_, let at):
                    if let token = managerTimer { scheduler.cancel(token) }
                    managerTimer = scheduler.schedule(at: at) { [unowned self] in
                        apply(manager.timerFired(.reconnectDelay, at: now))
                    }
                case .cancel:
                    if let token = managerTimer { scheduler.cancel(token) }
                case .close(let reason):
                    note("abort attempt (\(reason.rawValue))")
                    dropSession()
                case .observe:
                    break
                }
            }
        }

        func openAttempt() {
            generation += 1
            let mine = generation
            session = SocketIOClientSession(options: sessionOptions)
            transportOpen = false
            applySession { $0.start(at: now) }
            scheduler.schedule(at: now + handshakeDelay(now)) { [unowned self] in
                guard mine == generation, session != nil else { return }
                transportOpen = true
                note("transport open")
                apply(manager.opened(at: now))
                applySession { $0.transportOpened(at: now) }
            }
        }

        func dropSession() {
            for token in timers.values { scheduler.cancel(token) }
            timers = [:]
            session = nil
            generation += 1
        }

        func applySession(_ input: (inout SocketIOClientSession) -> [SocketIOClientSession.Action]) {
            guard var current = session else { return }
            let actions = input(&current)
            session = current
            let mine = generation
            for action in actions {
                switch action {
                case .send(.message(let message)) where message.packet.type == .connect:
                    scheduler.schedule(at: now + serverDelay) { [unowned self] in
                        guard mine == generation else { return }
                        applySession { $0.receive(.text(#"0{"sid":"sid"}"#), at: now) }
                    }
                case .send(.connected(let sid)): note("connected \(sid)")
                case .send: break
                case .arm(let timer, let at):
                    if let token = timers[timer] { scheduler.cancel(token) }
                    timers[timer] = scheduler.schedule(at: at) { [unowned self] in
                        guard mine == generation else { return }
                        applySession { $0.timerFired(timer, at: now) }
                    }
                case .cancel(let timer):
                    if let token = timers.removeValue(forKey: timer) { scheduler.cancel(token) }
                case .close(let reason):
                    note("close \(reason.rawValue)")
                    let wasOpen = transportOpen
                    dropSession()
                    apply(wasOpen ? manager.disconnected(reason, at: now) : manager.openFailed(at: now))
                case .observe:
                    break
                }
            }
        }

        func run(until end: Instant) {
            scheduler.advance(to: end)
        }
    }

    /// A network whose handshakes take 7 s until t = 60 s (a stalled path), then 100 ms.
    private static func stalledUntil60(_ now: Instant) -> TimeSpan {
        now < S.s(60) ? .seconds(7) : .milliseconds(100)
    }

    @Test func fiveSecondConnectTimeoutLoopsUntilTheNetworkRecovers() {
        let manager = ReconnectionManager(options: ReconnectionOptions(randomizationFactor: 0), generator: SeededGenerator(seed: 1))
        let driver = Driver(manager: manager, sessionOptions: DashboardSettings.before.sessionOptions(),
                            handshakeDelay: Self.stalledUntil60)
        driver.start()
        driver.run(until: S.s(120))
        #expect(driver.log == [
            "@0s open #0", "@5s close connect timeout",
            "@6s open #1", "@11s close connect timeout",
            "@13s open #2", "@18s close connect timeout",
            "@22s open #3", "@27s close connect timeout",
            "@32s open #4", "@37s close connect timeout",
            "@42s open #5", "@47s close connect timeout",
            "@52s open #6", "@57s close connect timeout",
            "@62s open #7", "@62100ms transport open", "@62100ms reconnected after 7", "@62150ms connected sid",
        ])
    }

    @Test func twentySecondConnectTimeoutRidesOutTheStall() {
        let manager = ReconnectionManager(options: ReconnectionOptions(randomizationFactor: 0), generator: SeededGenerator(seed: 1))
        let driver = Driver(manager: manager, sessionOptions: DashboardSettings.after.sessionOptions(),
                            handshakeDelay: Self.stalledUntil60)
        driver.start()
        driver.run(until: S.s(120))
        #expect(driver.log == ["@0s open #0", "@7s transport open", "@7050ms connected sid"])
    }

    @Test func sameSeedSameRunDifferentSeedDifferentRun() {
        func run(seed: UInt64) -> [String] {
            let driver = Driver(manager: ReconnectionManager(generator: SeededGenerator(seed: seed)),
                                sessionOptions: DashboardSettings.before.sessionOptions(),
                                handshakeDelay: Self.stalledUntil60)
            driver.start()
            driver.run(until: S.s(120))
            return driver.log
        }
        let first = run(seed: 7)
        #expect(first.last?.hasSuffix("connected sid") == true)
        #expect(run(seed: 7) == first)
        #expect(run(seed: 8) != first)
    }

    @Test func giveUpAfterTheConfiguredAttempts() {
        let manager = ReconnectionManager(options: ReconnectionOptions(reconnectionAttempts: 2, randomizationFactor: 0),
                                          generator: SeededGenerator(seed: 1))
        let driver = Driver(manager: manager, sessionOptions: DashboardSettings.before.sessionOptions(),
                            handshakeDelay: { _ in .seconds(30) })
        driver.start()
        driver.run(until: S.s(300))
        #expect(driver.log == [
            "@0s open #0", "@5s close connect timeout",
            "@6s open #1", "@11s close connect timeout",
            "@13s open #2", "@18s close connect timeout",
            "@18s reconnect failed",
        ])
    }
}
