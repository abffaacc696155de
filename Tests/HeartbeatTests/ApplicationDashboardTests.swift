import Heartbeat
import LabCore
import Testing

/// The motivating case in virtual time: a dashboard client running the custom ping and the health
/// check over a Socket.IO connection whose server answers pongs after 50 ms and sends Engine.IO
/// pings every 25 s (which the dashboard's health check cannot see), with no other traffic.
@Suite("Application layer of the motivating dashboard")
struct ApplicationDashboardTests {
    typealias S = SocketIOFixtures

    final class DashboardRun {
        let scheduler = VirtualScheduler()
        var ping: CustomPing
        var health: HealthCheck
        var pingTimers: [CustomPingTimer: TimerToken] = [:]
        var healthTimer: TimerToken?
        var closes: [(at: Instant, reason: CloseReason)] = []
        var rtts: [TimeSpan] = []
        var isConnected = false
        var epoch = 0
        let serverDiesAt: Instant
        let roundTrip = TimeSpan.milliseconds(50)
        let reconnectDelay = TimeSpan.seconds(1)

        init(_ settings: DashboardSettings, serverDiesAt: Instant = .distantFuture) {
            ping = CustomPing(options: settings.customPing)
            health = HealthCheck(options: settings.healthCheck)
            self.serverDiesAt = serverDiesAt
        }

        var now: Instant { scheduler.now }
        var serverAlive: Bool { now < serverDiesAt }

        func connect() {
            isConnected = true
            epoch += 1
            applyPing(ping.connected(at: now))
            applyHealth(health.connected(at: now))
            scheduleEngineIOPing(epoch: epoch)
        }

        func scheduleEngineIOPing(epoch mine: Int) {
            scheduler.schedule(at: now + .seconds(25)) { [unowned self] in
                guard mine == epoch, serverAlive else { return }
                applyHealth(health.received(.heartbeat, at: now))
                scheduleEngineIOPing(epoch: mine)
            }
        }

        func applyPing(_ actions: [CustomPing.Action]) {
            let mine = epoch
            for action in actions {
                switch action {
                case .send(let emit):
                    guard serverAlive, case .integer(let sequence)? = emit.arguments.first else { continue }
                    scheduler.schedule(at: now + roundTrip) { [unowned self] in
                        guard mine == epoch else { return }
                        applyPing(ping.received(event: "pong", arguments: [.integer(sequence)], at: now))
                        applyHealth(health.received(.message, at: now))
                    }
                case .arm(let timer, let at):
                    if let token = pingTimers[timer] { scheduler.cancel(token) }
                    pingTimers[timer] = scheduler.schedule(at: at) { [unowned self] in
                        applyPing(ping.timerFired(timer, at: now))
                    }
                case .cancel(let timer):
                    if let token = pingTimers.removeValue(forKey: timer) { scheduler.cancel(token) }
                case .close(let reason):
                    drop(reason)
                case .observe(.pongReceived(let rtt)):
                    rtts.append(rtt)
                case .observe:
                    break
                }
            }
        }

        func applyHealth(_ actions: [HealthCheck.Action]) {
            for action in actions {
                switch action {
                case .arm(_, let at):
                    if let token = healthTimer { scheduler.cancel(token) }
                    healthTimer = scheduler.schedule(at: at) { [unowned self] in
                        applyHealth(health.timerFired(.check, at: now))
                    }
                case .cancel:
                    if let token = healthTimer { scheduler.cancel(token) }
                case .close(let reason):
                    drop(reason)
                case .observe, .send:
                    break
                }
            }
        }

        func drop(_ reason: CloseReason) {
            guard isConnected else { return }
            isConnected = false
            epoch += 1
            closes.append((now, reason))
            applyPing(ping.disconnected(at: now))
            applyHealth(health.disconnected(at: now))
            guard serverAlive else { return }
            scheduler.schedule(at: now + reconnectDelay) { [unowned self] in connect() }
        }
    }

    @Test func beforeTheHealthCheckKillsAnIdleDashboardEvery31Seconds() {
        let run = DashboardRun(.before)
        run.connect()
        run.scheduler.advance(to: S.s(600))
        // 30 s of silence with pings only every 45 s: stale at 30 s, reconnect at 31 s, again...
        #expect(run.closes.count == 19)
        #expect(run.closes.allSatisfy { $0.reason == .healthCheckStale })
        #expect(run.closes.map(\.at).prefix(3) == [S.s(30), S.s(61), S.s(92)])
        // The custom ping never even fires.
        #expect(run.rtts.isEmpty)
    }

    @Test func afterTheIdleDashboardStaysUp() {
        let run = DashboardRun(.after)
        run.connect()
        run.scheduler.advance(to: S.s(3600))
        #expect(run.closes.isEmpty)
        // Pings at 45 s, 90 s, ... 3600 s; the last pong lands at 3600.05 s, after the run.
        #expect(run.rtts.count == 79)
        #expect(run.rtts.allSatisfy { $0 == .milliseconds(50) })
    }

    @Test func afterADeadServerIsStillDetectedByTheCustomPing() {
        // Pongs at 45.05 and 90.05 s; the server dies at 100 s; the ping at 135 s is never
        // answered, so the custom ping forces the close at 155 s, before the health check's 180.05 s.
        let run = DashboardRun(.after, serverDiesAt: S.s(100))
        run.connect()
        run.scheduler.advance(to: S.s(600))
        #expect(run.closes.count == 1)
        #expect(run.closes.first?.at == S.s(155))
        #expect(run.closes.first?.reason == .forcedClose)
    }

    @Test func presetsHoldTheMotivatingNumbers() {
        #expect(DashboardSettings.before.healthCheck.staleAfter == .seconds(30))
        #expect(DashboardSettings.before.customPing.interval == .seconds(45))
        #expect(DashboardSettings.before.customPing.timeout == .seconds(20))
        #expect(DashboardSettings.before.connectTimeout == .seconds(5))
        #expect(DashboardSettings.after.healthCheck.staleAfter == .seconds(90))
        #expect(DashboardSettings.after.customPing.interval == .seconds(45))
        #expect(DashboardSettings.after.customPing.timeout == .seconds(20))
        #expect(DashboardSettings.after.connectTimeout == .seconds(20))
        #expect(DashboardSettings.after.sessionOptions(namespace: "/dash").connectTimeout == .seconds(20))
    }

    /// Every close reason is either originated by a machine of this layer (checked here through
    /// the machine that produces it, client and server side) or comes from below (Engine.IO,
    /// WebSocket keepalive) and is passed through by the session unchanged.
    @Test func everyCloseReasonIsProducedOrPassedThrough() throws {
        func closes<T, O>(_ actions: [HeartbeatAction<T, O>]) -> [CloseReason] {
            actions.compactMap { if case .close(let reason) = $0 { reason } else { nil } }
        }
        var produced: Set<CloseReason> = []

        var timedOut = SocketIOClientSession()
        _ = timedOut.start(at: S.s(0))
        produced.formUnion(closes(timedOut.timerFired(.connectTimeout, at: S.s(20))))

        var garbled = SocketIOClientSession()
        _ = garbled.transportOpened(at: S.s(0))
        produced.formUnion(closes(garbled.receive(.text("?"), at: S.s(1))))

        var refused = SocketIOClientSession()
        _ = refused.transportOpened(at: S.s(0))
        produced.formUnion(closes(refused.receive(.text(#"4{"message":"no"}"#), at: S.s(1))))

        var kicked = SocketIOClientSession()
        _ = kicked.transportOpened(at: S.s(0))
        _ = kicked.receive(.text(#"0{"sid":"a"}"#), at: S.s(1))
        produced.formUnion(closes(kicked.receive(.text("1"), at: S.s(2))))

        var leaving = SocketIOClientSession()
        _ = leaving.transportOpened(at: S.s(0))
        produced.formUnion(closes(leaving.disconnect(at: S.s(1))))

        var ping = CustomPing()
        _ = ping.connected(at: S.s(0))
        _ = ping.timerFired(.interval, at: S.s(45))
        produced.formUnion(closes(ping.timerFired(.pongTimeout, at: S.s(65))))

        var health = HealthCheck()
        _ = health.connected(at: S.s(0))
        produced.formUnion(closes(health.timerFired(.check, at: S.s(30))))

        #expect(produced == [.connectTimeout, .parseError, .forcedClose, .ioServerDisconnect, .ioClientDisconnect,
                             .healthCheckStale])

        var serverSide: Set<CloseReason> = []
        var left = SocketIOServerSession(sid: "s")
        _ = left.start(at: S.s(0))
        _ = left.receive(.text("0"), at: S.s(1))
        for case .observe(.closed(let reason)) in left.receive(.text("1"), at: S.s(2)) { serverSide.insert(reason) }
        var dropped = SocketIOServerSession(sid: "s")
        _ = dropped.start(at: S.s(0))
        _ = dropped.receive(.text("0"), at: S.s(1))
        serverSide.formUnion(closes(dropped.disconnect(closeTransport: true, at: S.s(2))))
        var silent = SocketIOServerSession(sid: "s")
        _ = silent.start(at: S.s(0))
        serverSide.formUnion(closes(silent.timerFired(.connectTimeout, at: S.s(45))))
        #expect(serverSide == [.clientNamespaceDisconnect, .serverNamespaceDisconnect, .connectTimeout])

        let fromBelow = Set(CloseReason.allCases).subtracting(produced).subtracting(serverSide)
        #expect(fromBelow == [.pingTimeout, .transportClose, .transportError, .keepalivePingTimeout])
        for reason in fromBelow {
            var session = SocketIOClientSession()
            _ = session.transportOpened(at: S.s(0))
            #expect(session.transportClosed(reason, at: S.s(1)).contains(.observe(.closed(reason))))
        }
    }
}
