import Testing
import Heartbeat
import LabCore

/// Both heartbeat machines driven by LabCore's `VirtualScheduler` over a fixed-latency link, with
/// every packet going through the text codec: exact ping instants over many cycles, detection of
/// a blackholed link on both sides at the computed instants, and how the scheduler orders a tie.
@Suite("Engine.IO session on a virtual clock")
struct EngineIOSessionTests {
    /// A minimal driver: carries out the machines' actions on the scheduler, as the simulator will.
    final class Session {
        typealias ServerAction = EngineIOServerHeartbeat.Action
        typealias ClientAction = EngineIOClientHeartbeat.Action

        let scheduler = VirtualScheduler()
        var server: EngineIOServerHeartbeat
        var client = EngineIOClientHeartbeat()
        let latency: TimeSpan
        /// Packets sent at or after this instant are dropped in both directions (a blackhole).
        var blackholeFrom = Instant.distantFuture
        private var serverTimers: [EngineIOServerHeartbeat.Timer: TimerToken] = [:]
        private var clientTimers: [EngineIOClientHeartbeat.Timer: TimerToken] = [:]

        var pingsSent: [Instant] = []
        var rtts: [TimeSpan] = []
        var closes: [(side: String, reason: CloseReason, at: Instant)] = []

        init(configuration: EngineIOServerHeartbeat.Configuration, latency: TimeSpan) {
            server = EngineIOServerHeartbeat(configuration: configuration)
            self.latency = latency
        }

        func open() {
            runServer(server.opened(sid: "s", at: scheduler.now))
        }

        private func transmit(_ packet: EngineIOPacket, toClient: Bool) {
            guard scheduler.now < blackholeFrom else { return }
            let text = packet.encodedText
            scheduler.schedule(at: scheduler.now + latency) { [unowned self] in
                let now = scheduler.now
                do throws(EngineIOParseError) {
                    let decoded = try EngineIOPacket(text: text)
                    if toClient { runClient(client.received(decoded, at: now)) } else { runServer(server.received(decoded, at: now)) }
                } catch {
                    if toClient { runClient(client.receivedMalformed(error, at: now)) } else { runServer(server.receivedMalformed(error, at: now)) }
                }
            }
        }

        func runServer(_ actions: [ServerAction]) {
            for action in actions {
                switch action {
                case .send(let packet):
                    if packet == .plainPing { pingsSent.append(scheduler.now) }
                    transmit(packet, toClient: true)
                case .arm(let timer, let at):
                    if let token = serverTimers[timer] { scheduler.cancel(token) }
                    serverTimers[timer] = scheduler.schedule(at: at) { [unowned self] in
                        serverTimers[timer] = nil
                        runServer(server.timerFired(timer, at: scheduler.now))
                    }
                case .cancel(let timer):
                    if let token = serverTimers.removeValue(forKey: timer) { scheduler.cancel(token) }
                case .close(let reason):
                    closes.append(("server", reason, scheduler.now))
                case .observe(.pongReceived(let rtt)):
                    rtts.append(rtt)
                case .observe:
                    break
                }
            }
        }

        func runClient(_ actions: [ClientAction]) {
            for action in actions {
                switch action {
                case .send(let packet):
                    transmit(packet, toClient: false)
                case .arm(let timer, let at):
                    if let token = clientTimers[timer] { scheduler.cancel(token) }
                    clientTimers[timer] = scheduler.schedule(at: at) { [unowned self] in
                        clientTimers[timer] = nil
                        runClient(client.timerFired(timer, at: scheduler.now))
                    }
                case .cancel(let timer):
                    if let token = clientTimers.removeValue(forKey: timer) { scheduler.cancel(token) }
                case .close(let reason):
                    closes.append(("client", reason, scheduler.now))
                case .observe:
                    break
                }
            }
        }
    }

    static func at(_ ms: Int64) -> Instant { Instant.zero + .milliseconds(ms) }

    @Test("pings every interval after the pong; a blackhole is detected at ping + pingTimeout and last ping + 45 s")
    func cyclesAndBlackhole() {
        let session = Session(configuration: .engineIO, latency: .milliseconds(50))
        session.open()
        session.blackholeFrom = Self.at(110_000)
        session.scheduler.advance(to: Self.at(1_000_000))

        // Each cycle is 25 s plus the 100 ms round trip: 25.0, 50.1, 75.2, 100.3; 125.4 is lost.
        #expect(session.pingsSent == [25_000, 50_100, 75_200, 100_300, 125_400].map(Self.at))
        #expect(session.rtts == Array(repeating: .milliseconds(100), count: 4))
        // Server: the lost ping's pong was due 20 s later. Client: the last ping arrived at 100.35 s.
        #expect(session.closes.map(\.side) == ["client", "server"])
        #expect(session.closes.map(\.reason) == [.pingTimeout, .pingTimeout])
        #expect(session.closes.map(\.at) == [Self.at(145_350), Self.at(145_400)])
        #expect(session.scheduler.pendingCount == 0, "every timer was cancelled or fired")
    }

    @Test("a day of pings on the virtual clock stays exact and never closes")
    func longRun() {
        let session = Session(configuration: .init(pingInterval: .milliseconds(25_000), pingTimeout: .milliseconds(20_000)),
                              latency: .milliseconds(7))
        session.open()
        session.scheduler.advance(to: Self.at(86_400_000))
        #expect(session.closes.isEmpty)
        #expect(session.pingsSent.count == 3_454)
        #expect(session.pingsSent.last == Self.at(25_000) + .milliseconds(25_014) * 3_453)
        #expect(session.rtts.allSatisfy { $0 == .milliseconds(14) })
    }

    /// With a 10 s one-way latency the pong reaches the server exactly at its 20 s deadline. The
    /// scheduler runs equal deadlines in the order they were scheduled: the timeout was armed when
    /// the ping left (25 s), the pong's delivery only when the client answered (35 s), so the
    /// timer runs first and the pong finds the session closed: at the deadline, the timer wins.
    @Test("a pong landing exactly on the deadline loses on the virtual clock: the timer was scheduled first")
    func tieOnTheScheduler() {
        let session = Session(configuration: .engineIO, latency: .milliseconds(10_000))
        session.open()
        session.scheduler.advance(to: Self.at(60_000))
        #expect(session.pingsSent == [Self.at(25_000)])
        #expect(session.rtts == [])
        #expect(session.closes.first?.side == "server")
        #expect(session.closes.first?.at == Self.at(45_000))
        #expect(session.closes.first?.reason == .pingTimeout)

        // One nanosecond less latency each way and the pong is in time.
        let inTime = Session(configuration: .engineIO, latency: .milliseconds(10_000) - .nanoseconds(1))
        inTime.open()
        inTime.scheduler.advance(to: Self.at(60_000))
        #expect(inTime.rtts == [.milliseconds(20_000) - .nanoseconds(2)])
        #expect(inTime.closes.isEmpty)
    }
}
