import Heartbeat
import LabCore
import Testing

/// `SocketIOClientStack` (the composition both the live and the simulated client run) on a
/// `VirtualScheduler`, over a fake transport: the reconnection manager decides when to open, each
/// attempt gets a fresh session, and the session's connect timeout decides when an attempt failed.
@Suite("Reconnection under virtual time")
struct ReconnectionDriverTests {
    typealias S = SocketIOFixtures

    /// A minimal driver: a fake transport whose handshake takes `handshakeDelay(now)`, then a
    /// server that answers CONNECT after `serverDelay` (and pings too rarely to matter here).
    final class Driver {
        let scheduler = VirtualScheduler()
        var stack: SocketIOClientStack
        let handshakeDelay: (Instant) -> TimeSpan
        let serverDelay = TimeSpan.milliseconds(50)
        var generation = 0
        var timers: [SocketIOClientStack.Timer: TimerToken] = [:]
        var log: [String] = []

        init(reconnection: ReconnectionOptions, seed: UInt64 = 1, sessionOptions: SocketIOClientSession.Options,
             handshakeDelay: @escaping (Instant) -> TimeSpan) {
            stack = SocketIOClientStack(configuration: .init(namespace: sessionOptions, reconnection: reconnection),
                                        generator: SeededGenerator(seed: seed))
            self.handshakeDelay = handshakeDelay
        }

        var now: Instant { scheduler.now }

        func note(_ text: String) { log.append("\(now) \(text)") }

        func start() { perform(stack.start(at: now)) }

        func perform(_ actions: [SocketIOClientStack.Action]) {
            for action in actions {
                switch action {
                case .openTransport(let attempt):
                    note("open #\(attempt)")
                    generation += 1
                    let mine = generation
                    scheduler.schedule(at: now + handshakeDelay(now)) { [unowned self] in
                        guard mine == generation else { return }
                        note("transport open")
                        let handshake = EngineIOHandshake(sid: "e", pingInterval: .seconds(1000), pingTimeout: .seconds(1000))
                        perform(stack.received(.open(handshake), at: now))
                    }
                case .send(.message(let text)) where text.hasPrefix("0"):
                    let mine = generation
                    scheduler.schedule(at: now + serverDelay) { [unowned self] in
                        guard mine == generation else { return }
                        perform(stack.received(.message(#"0{"sid":"sid"}"#), at: now))
                    }
                case .send: break
                case .closeTransport: generation += 1
                case .arm(let timer, let at):
                    if let token = timers[timer] { scheduler.cancel(token) }
                    timers[timer] = scheduler.schedule(at: at) { [unowned self] in
                        timers[timer] = nil
                        perform(stack.timerFired(timer, at: now))
                    }
                case .cancel(let timer):
                    if let token = timers.removeValue(forKey: timer) { scheduler.cancel(token) }
                case .cancelAllTimers:
                    for token in timers.values { scheduler.cancel(token) }
                    timers = [:]
                case .note(.disconnected(let reason)): note("close \(reason.rawValue)")
                case .note(.connected): note("connected")
                case .note(.reconnected(let n, _)): note("reconnected after \(n)")
                case .note(.reconnectFailed): note("reconnect failed")
                case .note: break
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
        let driver = Driver(reconnection: ReconnectionOptions(randomizationFactor: 0), sessionOptions: DashboardSettings.before.sessionOptions(),
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
            "@62s open #7", "@62100ms transport open", "@62150ms reconnected after 7",
        ])
    }

    @Test func twentySecondConnectTimeoutRidesOutTheStall() {
        let driver = Driver(reconnection: ReconnectionOptions(randomizationFactor: 0), sessionOptions: DashboardSettings.after.sessionOptions(),
                            handshakeDelay: Self.stalledUntil60)
        driver.start()
        driver.run(until: S.s(120))
        #expect(driver.log == ["@0s open #0", "@7s transport open", "@7050ms connected"])
    }

    @Test func sameSeedSameRunDifferentSeedDifferentRun() {
        func run(seed: UInt64) -> [String] {
            let driver = Driver(reconnection: ReconnectionOptions(), seed: seed,
                                sessionOptions: DashboardSettings.before.sessionOptions(),
                                handshakeDelay: Self.stalledUntil60)
            driver.start()
            driver.run(until: S.s(120))
            return driver.log
        }
        let first = run(seed: 7)
        #expect(first.last?.contains("reconnected after") == true || first.last?.hasSuffix("connected") == true, "\(first)")
        #expect(run(seed: 7) == first)
        #expect(run(seed: 8) != first)
    }

    @Test func giveUpAfterTheConfiguredAttempts() {
        let driver = Driver(reconnection: ReconnectionOptions(reconnectionAttempts: 2, randomizationFactor: 0),
                            sessionOptions: DashboardSettings.before.sessionOptions(),
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
