import Testing
import Heartbeat
import LabCore

/// The polling -> WebSocket upgrade machines on explicit instants: the probe exchange, the "6"
/// that ends a pending poll, the upgrade timeout, failures, and a ping that arrives mid-upgrade.
@Suite("Engine.IO upgrade")
struct EngineIOUpgradeTests {
    static func at(_ ms: Int64) -> Instant { Instant.zero + .milliseconds(ms) }

    // MARK: - Server

    @Test("server: probe, 3probe and a 6 for the pending poll, then 5 switches the session")
    func serverHappyPath() {
        var server = EngineIOServerUpgrade()
        #expect(server.pollRequested(at: .zero) == [], "no upgrade yet: polls are the driver's business")
        #expect(server.probeOpened(at: Self.at(1_000)) == [.arm(.upgradeTimeout, at: Self.at(11_000))])
        #expect(server.phase == .awaitingProbe)
        #expect(server.receivedOnProbe(.ping("probe"), at: Self.at(1_050))
                == [.send(.pong("probe"), on: .probe), .send(.noop, on: .current)])
        #expect(server.phase == .probed)
        #expect(server.pollRequested(at: Self.at(1_060)) == [.send(.noop, on: .current)])
        #expect(server.receivedOnProbe(.upgrade, at: Self.at(1_100)) == [.cancel(.upgradeTimeout), .upgraded])
        #expect(server.phase == .upgraded)
        #expect(server.pollRequested(at: Self.at(1_200)) == [])
        #expect(server.timerFired(.upgradeTimeout, at: Self.at(11_000)) == [])
        #expect(server.receivedOnProbe(.plainPong, at: Self.at(1_300)) == [], "after the switch packets go to the heartbeat")
    }

    @Test("server: no 5 within upgradeTimeout closes the probe; the session stays on polling")
    func serverTimeout() {
        var server = EngineIOServerUpgrade(upgradeTimeout: .milliseconds(10_000))
        _ = server.probeOpened(at: .zero)
        _ = server.receivedOnProbe(.ping("probe"), at: Self.at(100))
        #expect(server.timerFired(.upgradeTimeout, at: Self.at(9_999)) == [], "early delivery ignored")
        #expect(server.timerFired(.upgradeTimeout, at: Self.at(10_000)) == [.closeProbe, .failed(.timeout)])
        #expect(server.phase == .failed(.timeout))
        #expect(server.receivedOnProbe(.upgrade, at: Self.at(10_001)) == [])
        #expect(server.probeOpened(at: Self.at(10_002)) == [], "one upgrade per session")
    }

    @Test("server: the 5 at exactly the timeout instant wins only when delivered before the timer")
    func serverTie() {
        var first = EngineIOServerUpgrade()
        _ = first.probeOpened(at: .zero)
        _ = first.receivedOnProbe(.ping("probe"), at: Self.at(100))
        #expect(first.receivedOnProbe(.upgrade, at: Self.at(10_000)) == [.cancel(.upgradeTimeout), .upgraded])
        #expect(first.timerFired(.upgradeTimeout, at: Self.at(10_000)) == [])

        var second = EngineIOServerUpgrade()
        _ = second.probeOpened(at: .zero)
        _ = second.receivedOnProbe(.ping("probe"), at: Self.at(100))
        #expect(second.timerFired(.upgradeTimeout, at: Self.at(10_000)) == [.closeProbe, .failed(.timeout)])
        #expect(second.receivedOnProbe(.upgrade, at: Self.at(10_000)) == [])
    }

    @Test("server: python-engineio has no upgrade timer")
    func serverWithoutTimeout() {
        var server = EngineIOServerUpgrade(upgradeTimeout: nil)
        #expect(server.probeOpened(at: .zero) == [])
        #expect(server.timerFired(.upgradeTimeout, at: Self.at(1_000_000)) == [])
        #expect(server.receivedOnProbe(.ping("probe"), at: Self.at(500_000)).count == 2)
        #expect(server.receivedOnProbe(.upgrade, at: Self.at(600_000)) == [.upgraded])
    }

    @Test("server: anything but the probe exchange abandons the upgrade", arguments: [
        [EngineIOPacket.upgrade],                  // 5 without a probe (python-engineio's rule)
        [.plainPing],                              // a ping without "probe"
        [.ping("probe"), .message("early")],       // data before the 5
        [.ping("probe"), .plainPong],              // a heartbeat pong on the probe before the 5
    ])
    func serverProbeErrors(packets: [EngineIOPacket]) {
        var server = EngineIOServerUpgrade()
        _ = server.probeOpened(at: .zero)
        var last: [EngineIOUpgradeAction] = []
        for packet in packets { last = server.receivedOnProbe(packet, at: Self.at(100)) }
        #expect(last == [.cancel(.upgradeTimeout), .closeProbe, .failed(.probeError)])
        #expect(server.phase == .failed(.probeError))
    }

    @Test("server: the probe closing, or the session closing, abandons the upgrade")
    func serverAbandon() {
        var closedProbe = EngineIOServerUpgrade()
        _ = closedProbe.probeOpened(at: .zero)
        #expect(closedProbe.probeClosed(at: Self.at(10)) == [.cancel(.upgradeTimeout), .failed(.probeClosed)])
        #expect(closedProbe.sessionClosed(at: Self.at(20)) == [])

        var closedSession = EngineIOServerUpgrade()
        _ = closedSession.probeOpened(at: .zero)
        _ = closedSession.receivedOnProbe(.ping("probe"), at: Self.at(5))
        #expect(closedSession.sessionClosed(at: Self.at(10)) == [.cancel(.upgradeTimeout), .closeProbe, .failed(.sessionClosed)])

        var idle = EngineIOServerUpgrade()
        #expect(idle.sessionClosed(at: .zero) == [])
        #expect(idle.probeClosed(at: .zero) == [])
    }

    // MARK: - Client

    @Test("client: open the probe, 2probe, on 3probe pause polling, then 5 and switch")
    func clientHappyPath() {
        var client = EngineIOClientUpgrade()
        #expect(client.start(upgrades: ["websocket"], at: .zero) == [.openProbe])
        #expect(client.phase == .opening)
        #expect(client.probeOpened(at: Self.at(30)) == [.send(.ping("probe"), on: .probe)])
        #expect(client.outbound(.message("before"), at: Self.at(40)) == [.send(.message("before"), on: .current)])
        #expect(client.receivedOnProbe(.pong("probe"), at: Self.at(60)) == [.pauseCurrent])
        #expect(client.phase == .pausing)
        #expect(client.outbound(.message("held"), at: Self.at(70)) == [])
        #expect(client.held == [.message("held")])
        #expect(client.currentPaused(at: Self.at(90))
                == [.send(.upgrade, on: .probe), .upgraded, .send(.message("held"), on: .current)])
        #expect(client.phase == .upgraded)
        #expect(client.held == [])
        #expect(client.outbound(.message("after"), at: Self.at(100)) == [.send(.message("after"), on: .current)])
    }

    @Test("client: no websocket in the handshake's upgrades, no upgrade")
    func clientUnavailable() {
        var client = EngineIOClientUpgrade()
        #expect(client.start(upgrades: [], at: .zero) == [])
        #expect(client.phase == .unavailable)
        #expect(client.probeOpened(at: .zero) == [])
        #expect(client.outbound(.plainPong, at: .zero) == [.send(.plainPong, on: .current)])
    }

    @Test("client: a first packet other than 3probe is a probe error; the probe closes", arguments: [
        EngineIOPacket.plainPong, .pong("prob"), .message("probe"), .noop, .plainPing,
    ])
    func clientProbeError(packet: EngineIOPacket) {
        var client = EngineIOClientUpgrade()
        _ = client.start(upgrades: ["websocket"], at: .zero)
        _ = client.probeOpened(at: Self.at(10))
        #expect(client.receivedOnProbe(packet, at: Self.at(20)) == [.closeProbe, .failed(.probeError)])
        #expect(client.outbound(.plainPong, at: Self.at(30)) == [.send(.plainPong, on: .current)])
    }

    @Test("client: a failure while polling pauses resumes polling and releases held packets there")
    func clientFailureWhilePausing() {
        var client = EngineIOClientUpgrade(probeTimeout: .milliseconds(5_000))
        #expect(client.start(upgrades: ["polling", "websocket"], at: .zero) == [.openProbe, .arm(.upgradeTimeout, at: Self.at(5_000))])
        _ = client.probeOpened(at: Self.at(10))
        _ = client.receivedOnProbe(.pong("probe"), at: Self.at(20))
        _ = client.outbound(.plainPong, at: Self.at(30))
        #expect(client.probeClosed(at: Self.at(40))
                == [.cancel(.upgradeTimeout), .failed(.probeClosed), .resumeCurrent, .send(.plainPong, on: .current)])
        #expect(client.currentPaused(at: Self.at(50)) == [])
    }

    @Test("client: an optional probe timeout; the session closing drops held packets")
    func clientTimeoutAndSessionClose() {
        var timed = EngineIOClientUpgrade(probeTimeout: .milliseconds(5_000))
        _ = timed.start(upgrades: ["websocket"], at: .zero)
        #expect(timed.timerFired(.upgradeTimeout, at: Self.at(5_000)) == [.closeProbe, .failed(.timeout)])

        var closing = EngineIOClientUpgrade()
        _ = closing.start(upgrades: ["websocket"], at: .zero)
        _ = closing.probeOpened(at: Self.at(10))
        _ = closing.receivedOnProbe(.pong("probe"), at: Self.at(20))
        _ = closing.outbound(.message("lost"), at: Self.at(30))
        #expect(closing.sessionClosed(at: Self.at(40)) == [.closeProbe, .failed(.sessionClosed)])
        #expect(closing.held == [])
    }

    // MARK: - Heartbeat during the upgrade

    /// The server pings while the client is switching transports: the client answers at once, its
    /// pong is held until polling has paused, and leaves on the WebSocket right after the "5";
    /// the server accepts it on the new transport and measures the RTT including the hold.
    @Test("a ping arriving during the upgrade is still answered, after the 5, on the WebSocket")
    func pingDuringUpgrade() {
        let handshake = EngineIOHandshake(sid: "s", upgrades: ["websocket"], pingInterval: .milliseconds(25_000),
                                          pingTimeout: .milliseconds(20_000))
        var serverBeat = EngineIOServerHeartbeat()
        var serverUpgrade = EngineIOServerUpgrade()
        var clientBeat = EngineIOClientHeartbeat()
        var clientUpgrade = EngineIOClientUpgrade()

        _ = serverBeat.opened(sid: "s", upgrades: ["websocket"], at: .zero)
        _ = clientBeat.received(.open(handshake), at: Self.at(10))
        // The client waits a while before probing (a slow network, a busy page).
        #expect(clientUpgrade.start(upgrades: handshake.upgrades, at: Self.at(24_900)) == [.openProbe])
        _ = serverUpgrade.probeOpened(at: Self.at(24_950))
        _ = clientUpgrade.probeOpened(at: Self.at(24_950))
        #expect(serverUpgrade.receivedOnProbe(.ping("probe"), at: Self.at(24_960)).count == 2)

        // 25 s: the server's ping goes out on polling, the upgrade still pending.
        #expect(serverBeat.timerFired(.ping, at: Self.at(25_000)).first == .send(.plainPing))
        // 3probe reaches the client first: it pauses polling, and the in-flight GET returns the ping.
        #expect(clientUpgrade.receivedOnProbe(.pong("probe"), at: Self.at(25_000)) == [.pauseCurrent])
        let answer = clientBeat.received(.plainPing, at: Self.at(25_010))
        #expect(answer == [.send(.plainPong), .observe(.pingReceived), .arm(.pingTimeout, at: Self.at(70_010))])
        var wire: [EngineIOUpgradeAction] = []
        for case .send(let packet) in answer { wire += clientUpgrade.outbound(packet, at: Self.at(25_010)) }
        #expect(wire == [], "held while polling pauses")

        // The GET has returned: polling is paused. "5" then the pong, both on the WebSocket.
        let switched = clientUpgrade.currentPaused(at: Self.at(25_020))
        #expect(switched == [.send(.upgrade, on: .probe), .upgraded, .send(.plainPong, on: .current)])
        let frames = switched.compactMap { action -> EngineIOFrame? in
            if case .send(let packet, _) = action { return packet.frame }
            return nil
        }
        #expect(frames == [.text("5"), .text("3")])

        // The server: "5" on the probe completes the upgrade, the pong counts on the new transport.
        #expect(serverUpgrade.receivedOnProbe(.upgrade, at: Self.at(25_030)) == [.cancel(.upgradeTimeout), .upgraded])
        #expect(serverBeat.received(.plainPong, at: Self.at(25_030))
                == [.cancel(.pingTimeout), .observe(.pongReceived(rtt: .milliseconds(30))), .arm(.ping, at: Self.at(50_030))])
    }

    @Test("a ping before the 3probe is answered on polling straight away")
    func pingBeforeProbeAnswer() {
        var clientUpgrade = EngineIOClientUpgrade()
        _ = clientUpgrade.start(upgrades: ["websocket"], at: .zero)
        _ = clientUpgrade.probeOpened(at: Self.at(10))
        #expect(clientUpgrade.outbound(.plainPong, at: Self.at(20)) == [.send(.plainPong, on: .current)])
    }
}
