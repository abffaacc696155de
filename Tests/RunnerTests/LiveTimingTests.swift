import Foundation
import LabCore
import Metrics
import Runner
import Scenario
import Testing

/// Live runs whose assertions are about timing (random faults at their drawn instants, the
/// python-socketio sweep): serialized, and run by `make test` after the rest of the suite, on their
/// own, since two cores shared with the simulation-heavy tests starve a live run's event loops (a
/// 10 s run's topology once took longer than the run to come up).
@Suite(.serialized) struct LiveTimingTests {

    /// Random faults live (issue 9): each client goes through its own proxy, which applies that
    /// client's own drawn episodes (run 0, as the simulation draws them, time-scaled), logged on its
    /// connection; the truth judges them as in simulation: dead peers are detections, and no
    /// disconnect falls outside the connection's own episodes.
    @Test func liveRunsApplyEachClientsOwnEpisodes() async throws {
        // Deaths of 30 s (7.5 s scaled): detection (about 7 s, 1.75 s scaled) has room on a loaded machine.
        let s = try FaultProcessTests.scenario("  deadPeers: { rate: 4/m, recoverAfter: { constant: 30s } }", duration: "60s", clients: 3)
        let scale = 0.25
        let scaled = s.scaled(by: scale)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-fplive-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await ScenarioRunner(resultsRoot: dir, version: "test").live(s, source: "random.yaml", timeScale: scale, seed: nil)
        let folder = try #require(result.folder)
        let events = try String(contentsOf: folder.appendingPathComponent("events.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try LabEvent(jsonLine: String($0)) }
        var drawn = 0
        for index in 0..<3 {
            let connection = "c\(index + 1)"
            let episodes = scaled.faultEpisodes(connection: index, seed: 5, run: 0)
            // The scaled draw is the unscaled one times the scale.
            let unscaled = s.faultEpisodes(connection: index, seed: 5, run: 0)
            #expect(episodes.count == unscaled.count)
            for (a, b) in zip(episodes, unscaled) { #expect(abs(a.start.seconds - b.start.seconds * scale) < 0.001) }
            drawn += episodes.count
            let starts = events.filter { $0.connection == connection && $0.kind == .fault && $0.detail == "random blackhole starts" }
            #expect(starts.count == episodes.count, "\(connection): \(starts.count) logged, \(episodes.count) drawn")
            for d in events where d.connection == connection && d.kind == .disconnect && d.side == .server {
                #expect(episodes.contains { $0.start <= d.time && d.time <= $0.end + .seconds(2) }, "\(connection) at \(d.time)")
            }
        }
        #expect(drawn > 0, "the seed drew no episode: the test judges nothing")
        let metrics = try #require(result.metrics.first)
        #expect(metrics.overall.detections > 0 && metrics.overall.falseDisconnects == 0, "\(metrics.overall)")
    }

    /// Server restarts live: emulated at the proxy, every client is cut when the server goes down
    /// and none is connected again before it is back; the cuts are detections, not mistakes.
    @Test func liveRunsRestartTheServerAtTheDrawnInstants() async throws {
        let s = try FaultProcessTests.scenario("  serverRestarts: { rate: 4/m, downFor: { constant: 8s } }", duration: "40s", clients: 3)
        let scale = 0.25
        let restarts = s.scaled(by: scale).serverRestarts(seed: 5, run: 0)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-rslive-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await ScenarioRunner(resultsRoot: dir, version: "test").live(s, source: "random.yaml", timeScale: scale, seed: nil)
        let folder = try #require(result.folder)
        let events = try String(contentsOf: folder.appendingPathComponent("events.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try LabEvent(jsonLine: String($0)) }
        #expect(!restarts.isEmpty, "the seed drew no restart: the test judges nothing")
        #expect(events.filter { $0.kind == .fault && $0.detail == "server restart: down" }.count == restarts.count,
                "restarts \(restarts); ran for \(String(describing: result.ranFor)), partial \(result.partial), \(events.count) events from \(events.first?.time ?? .zero) to \(events.last?.time ?? .zero); \(result.limitations)")
        for restart in restarts where restart.upperBound < s.scaled(by: scale).duration {
            let cut = events.filter { $0.kind == .disconnect && $0.side == .client
                && $0.time >= restart.lowerBound && $0.time < restart.lowerBound + .seconds(1) }
            #expect(Set(cut.map(\.connection)) == ["c1", "c2", "c3"], "at \(restart.lowerBound): \(cut.map(\.connection))")
            let early = events.filter { $0.kind == .connect && $0.side == .client && $0.detail == "socket.io /"
                && $0.time > restart.lowerBound + .seconds(1) && $0.time < restart.upperBound }
            #expect(early.isEmpty, "connected while the server was down: \(early.map(\.connection))")
        }
        let metrics = try #require(result.metrics.first)
        #expect(metrics.overall.falseDisconnects == 0 && metrics.overall.detections >= 3, "\(metrics.overall)")
    }

    /// The same semantics live (issue 9): the built-in live server runs the same heartbeat machine
    /// with the same sweep phase as the simulation's run 0, so its detection of a dead network falls
    /// on a sweep, in (pingTimeout, 2·pingTimeout] after the unanswered ping. Time-scaled by 0.25:
    /// 5 s for the clients to connect before the network dies and 8 s after the latest possible
    /// detection, for a loaded machine.
    @Test func liveServersKeepTheStacksSweepToo() async throws {
        let s = try Scenario.parse(yaml: """
        name: lazy-live
        seed: 9
        duration: 60s
        server: { builtin: socketio, pingInterval: 2s, pingTimeout: 4s, stack: python-socketio }
        clients: { count: 3, builtin: socketio, reconnection: { enabled: false } }
        link: { both: { latency: 10ms } }
        phases:
          - { at: 20s, until: end, both: blackhole, note: dead }
        """, source: "lazy.yaml")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-stacklive-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let scale = 0.25
        let result = try await ScenarioRunner(resultsRoot: dir, version: "test").live(s, source: "lazy.yaml", timeScale: scale, seed: nil)
        guard case .socketIO(let settings) = s.scaled(by: scale).server, let phase = settings.serviceSweepPhase(seed: 9, run: 0) else {
            Issue.record("no sweep phase"); return
        }
        let timeout = settings.pingTimeout.seconds
        let folder = try #require(result.folder)
        let lines = try String(contentsOf: folder.appendingPathComponent("events.jsonl"), encoding: .utf8).split(separator: "\n")
        let events = try lines.map { try LabEvent(jsonLine: String($0)) }
        var checked = 0
        for c in ["c1", "c2", "c3"] {
            let mine = events.filter { $0.connection == c && $0.side == .server }
            guard let close = mine.first(where: { $0.kind == .disconnect }),
                  let ping = mine.last(where: { $0.kind == .ping && $0.time <= close.time }) else { continue }
            let after = (close.time - ping.time).seconds
            #expect(after > timeout - 0.02 && after <= 2 * timeout + 0.1, "\(c): closed \(after) s after its ping")
            // On a sweep: phase + k·pingTimeout, within the loop's lateness.
            let k = ((close.time.seconds - phase.seconds) / timeout).rounded()
            #expect(abs(close.time.seconds - (phase.seconds + k * timeout)) < 0.1, "\(c): closed at \(close.time), sweeps at \(phase) + k·\(timeout)s")
            checked += 1
        }
        #expect(checked == 3, "every server session detected the dead network: \(events.filter { $0.side == .server && $0.kind != .ping && $0.kind != .pong })")
    }

    /// `detector: adaptive` live (issue 9): Flatline's own server and clients run the same
    /// detector-driven heartbeat machines as the simulation, so through the proxy they detect a dead
    /// network a few intervals after the cut, where the fixed pingTimeout would take 20 s, and the
    /// simulation of the same file predicts it.
    @Test func liveComponentsDetectWithTheAdaptiveDetector() async throws {
        let yaml = """
            name: live-adaptive
            duration: 24s
            seed: 4
            server: { builtin: socketio, pingInterval: 500ms, pingTimeout: 20s, detector: adaptive }
            clients: { builtin: socketio, count: 3, detector: adaptive, reconnection: { enabled: false } }
            workload: { broadcast: { rate: 2/s, size: 100B } }
            phases:
              - { at: 15s, until: end, both: blackhole }
            """
        let scenario = try Scenario.parse(yaml: yaml, source: "live-adaptive.yaml")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-adlive-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await ScenarioRunner(resultsRoot: dir, version: "test").live(scenario, source: "live-adaptive.yaml", timeScale: 1, seed: nil)
        let live = try #require(result.metrics.first).overall
        let simulated = try DashboardScenarioTests.simulate(scenario).metrics.overall
        for (name, o) in [("live", live), ("simulated", simulated)] {
            #expect(o.falseDisconnects == 0, "\(name): \(o)")
            #expect(o.detections == 3 && o.missedDetections == 0, "\(name): \(o)")
            let worst = try #require(o.detectionTimes, "\(name): nothing detected").max
            // Fixed, the server's pong timeout alone is 20 s. Learnt from 30 gaps of 0.5 s, the
            // adaptive timeout is about 2 s: a loaded machine's hiccups of a second stay under it.
            #expect(worst < .seconds(6), "\(name): worst detection \(worst)")
            // The broadcast stream (issue 11): every event before the cut (slots 1…29 at 2/s)
            // reached all three clients; those produced into the dead link (slots 30…45 before the
            // grace at the end) are counted apart and not judged. Measured: 87 and 48, live and
            // simulated alike.
            let b = try #require(o.broadcast, "\(name): no broadcast counted")
            #expect(b.produced >= 3 * 28 && b.delivered == b.produced, "\(name): \(b)")
            #expect(b.producedWhileDead >= 3 * 15 && b.missed == 0 && b.duplicated == 0 && b.outOfOrder == 0, "\(name): \(b)")
        }
    }

    /// Connection state recovery live (issue 11): Flatline's own server keeps the sessions of the
    /// clients a blackhole cut off, and when they come back through the proxy it gives them their
    /// socket ids and every broadcast event they missed, as the simulation of the same file predicts.
    @Test func liveComponentsRecoverTheirSessionsAfterABlackhole() async throws {
        let yaml = """
            name: live-recovery
            duration: 20s
            seed: 5
            server: { builtin: socketio, pingInterval: 1s, pingTimeout: 1s, connectionStateRecovery: { maxDisconnectionDuration: 1m } }
            clients: { builtin: socketio, count: 3, connectTimeout: 2s, reconnection: { delay: 500ms, delayMax: 500ms, randomization: 0 } }
            workload: { broadcast: { rate: 4/s, size: 100B } }
            toleratedStall: 1s
            phases:
              - { at: 5s, for: 5s, both: blackhole }
            """
        let scenario = try Scenario.parse(yaml: yaml, source: "live-recovery.yaml")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-reclive-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await ScenarioRunner(resultsRoot: dir, version: "test").live(scenario, source: "live-recovery.yaml", timeScale: 1, seed: nil)
        let live = try #require(result.metrics.first).overall
        let simulated = try DashboardScenarioTests.simulate(scenario).metrics.overall
        for (name, o) in [("live", live), ("simulated", simulated)] {
            // Each client dropped once (a detection) and came back to its own session.
            #expect(o.detections >= 3 && o.falseDisconnects == 0, "\(name): \(o)")
            #expect(o.recoveredReconnects == o.reconnectTimes?.count && o.recoveredReconnects >= 3, "\(name): \(o)")
            let b = try #require(o.broadcast, "\(name): no broadcast counted")
            // What went into the dead link and what was produced before the reconnect came by the replay.
            #expect(b.missed == 0 && b.delivered == b.produced, "\(name): \(b)")
            #expect(b.recoveredWhileDead >= 3 * 15 && b.recovered > 0, "\(name): \(b)")
            #expect(b.duplicated == 0 && b.outOfOrder == 0, "\(name): \(b)")
        }
        let folder = try #require(result.folder)
        let text = try String(contentsOf: folder.appendingPathComponent("events.jsonl"), encoding: .utf8)
        #expect(text.contains("\"socket.io / recovered\"") && text.contains("recovered\""), "both sides log the recovered connect")
    }

    /// Several instances live (issue 11): three built-in servers behind the proxy's balancer; the
    /// instance taken down at 6 s loses its two clients, which the proxy sends to the others within
    /// the backoff, as the simulation of the same file predicts (ServerInstancesTests).
    @Test func liveInstancesFailOverAsSimulated() async throws {
        let scenario = try Scenario.parse(yaml: ServerInstancesTests.yaml, source: "live-failover.yaml")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-failover-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await ScenarioRunner(resultsRoot: dir, version: "test").live(scenario, source: "live-failover.yaml", timeScale: 1, seed: nil)
        let live = try #require(result.metrics.first)
        let simulated = try ServerInstancesTests.simulate(ServerInstancesTests.yaml)
        #expect(live.instances.map(\.sessions) == simulated.instances.map(\.sessions), "\(live.instances)")
        #expect(live.instances.map(\.movedAway) == [0, 2, 0])
        #expect(live.overall.detections == 2 && live.overall.falseDisconnects == 0 && live.overall.missedDetections == 0, "\(live.overall)")
        let back = try #require(live.instances[1].reconnectTimes)
        #expect(back.max < .seconds(1), "\(back)")
        let summary = try String(contentsOf: try #require(result.folder).appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains("no shared adapter"), "the results say recovery could not follow the clients")
    }

    /// A blackholed instance live (toxics on the proxy limited to its connections) and a paused one
    /// (its own event loop blocked): its clients detect it and move on, as simulated (measured:
    /// back after 1.456 s live and 1.45 s simulated on average, at most 2.607 s (blackhole) or
    /// 2.606 s (pause) live and 2.6 s simulated).
    @Test(arguments: [ServerInstancesTests.partition, ServerInstancesTests.paused])
    func liveInstanceBlackholeOrPauseIsDetectedAsSimulated(_ yaml: String) async throws {
        let scenario = try Scenario.parse(yaml: yaml, source: "live-partition.yaml")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-partition-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try await ScenarioRunner(resultsRoot: dir, version: "test").live(scenario, source: "live-partition.yaml", timeScale: 1, seed: nil)
        let live = try #require(result.metrics.first)
        let simulated = try ServerInstancesTests.simulate(yaml)
        #expect(live.overall.detections == simulated.overall.detections && live.overall.falseDisconnects == 0
                && live.overall.missedDetections == 0, "\(live.overall)")
        #expect(live.instances.map(\.movedAway) == simulated.instances.map(\.movedAway), "\(live.instances)")
        let worst = try #require(live.overall.detectionTimes).max
        #expect(worst < .seconds(2) + .milliseconds(300), "\(worst)")
    }
}
