import Foundation
import LabCore
import Metrics
import Runner
import Scenario
import Simulator
import Testing

/// Random fault processes (issue 9, part 1): per-connection episodes drawn from the seed, in the
/// simulator and in the ground truth alike.
@Suite struct FaultProcessTests {
    static func scenario(_ faults: String, duration: String = "2h", clients: Int = 10, pingTimeout: String = "5s",
                          tolerated: String = "30s") throws -> Scenario {
        try Scenario.parse(yaml: """
        name: random
        seed: 5
        duration: \(duration)
        server: { builtin: socketio, pingInterval: 2s, pingTimeout: \(pingTimeout) }
        clients: { count: \(clients), builtin: socketio, reconnection: { delay: 1s, delayMax: 2s } }
        link: { both: { latency: 10ms } }
        toleratedStall: \(tolerated)
        faults:
        \(faults)
        """, source: "random.yaml")
    }

    @Test func episodesAreDrawnPerConnectionAndReproducibleBySeed() throws {
        let s = try Self.scenario("  stalls: { rate: 6/h, duration: { lognormal: { median: 3s, p99: 20s } } }", duration: "24h", clients: 50)
        let a = s.faultEpisodes(connection: 0, seed: 5, run: 0)
        #expect(a == s.faultEpisodes(connection: 0, seed: 5, run: 0))
        #expect(a != s.faultEpisodes(connection: 1, seed: 5, run: 0))
        #expect(a != s.faultEpisodes(connection: 0, seed: 5, run: 1))
        var count = 0
        var lengths: [Double] = []
        for c in 0..<50 {
            let episodes = s.faultEpisodes(connection: c, seed: 5, run: 0)
            for (x, y) in zip(episodes, episodes.dropFirst()) { #expect(x.end <= y.start, "stalls do not overlap") }
            count += episodes.count
            lengths += episodes.map { ($0.end - $0.start).seconds }
            #expect(episodes.allSatisfy { $0.kind == .stall && $0.direction == nil && $0.end <= s.duration })
        }
        // 50 connections × 24 h × 6/h = 7,200 expected (minus the time spent stalled): within 5 %.
        #expect(abs(Double(count) / 7200 - 1) < 0.05, "\(count)")
        lengths.sort()
        #expect(abs(lengths[lengths.count / 2] / 3 - 1) < 0.05, "median \(lengths[lengths.count / 2])")
    }

    @Test func badFaultFieldsNameTheirPlace() throws {
        func message(_ faults: String) -> String {
            do { _ = try Self.scenario(faults); return "" } catch { return "\(error)" }
        }
        #expect(message("  stalls: { rate: 0/h, duration: { constant: 3s } }").contains("faults.stalls.rate"))
        #expect(message("  stalls: { rate: 6/h, duration: { constant: 3s }, direction: sideways }").contains("faults.stalls.direction"))
        #expect(message("  stalls: { rate: 6/h }").contains("duration"))
        #expect(message("  stalls: { rate: 6/h, duration: { constant: 3s, uniform: { min: 1s, max: 2s } } }").contains("exactly one distribution"))
        #expect(message("  crashes: { rate: 1/h }").contains("crashes"))
        let ok = try Self.scenario("  deadPeers: { rate: 1/h }")
        #expect(ok.faults.deadPeers?.recoverAfter == nil)
    }

    /// Stalls of 12 s with a 5 s ping timeout and 30 s tolerated: every disconnect falls in one of
    /// that connection's own episodes and is false (a stall is survivable until it has lasted the
    /// tolerated 30 s); dead peers of 40 s are dead from their start, so their disconnects are
    /// detections. No disconnect happens outside the connection's own episodes.
    @Test func simulatedRunsApplyEachConnectionsEpisodesAndTheTruthJudgesThem() throws {
        for (faults, expectFalse) in [("  stalls: { rate: 4/h, duration: { constant: 12s } }", true),
                                      ("  deadPeers: { rate: 4/h, recoverAfter: { constant: 40s } }", false)] {
            let s = try Self.scenario(faults, duration: "1h", clients: 6)
            var configuration = try ScenarioSimulation.configuration(for: s, run: 0, seed: 5, source: "random.yaml")
            configuration.recording = .withoutMessages
            let log = Simulation(configuration).run().log
            let truth = GroundTruth(scenario: s, seed: 5, run: 0)
            let metrics = RunMetrics.compute(events: log, truth: truth, duration: s.duration)
            let serverDisconnects = log.filter { $0.kind == .disconnect && $0.side == .server }
            #expect(!serverDisconnects.isEmpty)
            for d in serverDisconnects {
                let index = Int(d.connection.dropFirst())! - 1
                let episodes = s.faultEpisodes(connection: index, seed: 5, run: 0)
                #expect(episodes.contains { $0.start <= d.time && d.time <= $0.end + .seconds(1) }, "\(d.connection) at \(d.time)")
            }
            let faults = log.filter { $0.kind == .fault && $0.connection != "run" }
            #expect(faults.count == (0..<6).reduce(0) { $0 + 2 * s.faultEpisodes(connection: $1, seed: 5, run: 0).count })
            if expectFalse {
                #expect(metrics.overall.falseDisconnects > 0 && metrics.overall.detections == 0, "\(faults)")
            } else {
                #expect(metrics.overall.detections > 0 && metrics.overall.falseDisconnects == 0, "\(faults)")
            }
        }
    }

    /// Server restarts (issue 9, part 1): drawn once for the whole server from the seed and run;
    /// at each, every connected client is reset at once and connects are refused until the server
    /// is back; the truth counts the resets as detections, and nobody reconnects while it is down.
    @Test func serverRestartsResetEveryoneAndRefuseConnectsUntilBack() throws {
        let s = try Self.scenario("  serverRestarts: { rate: 6/h, downFor: { constant: 20s } }", duration: "1h", clients: 5)
        let restarts = s.serverRestarts(seed: 5, run: 0)
        #expect(restarts == s.serverRestarts(seed: 5, run: 0))
        #expect(restarts != s.serverRestarts(seed: 5, run: 1))
        #expect(restarts.count >= 2, "\(restarts)")
        for (a, b) in zip(restarts, restarts.dropFirst()) { #expect(a.upperBound <= b.lowerBound) }
        #expect(restarts.allSatisfy { $0.upperBound - $0.lowerBound == .seconds(20) || $0.upperBound == s.duration })
        #expect(s.faultEpisodes(connection: 0, seed: 5, run: 0).isEmpty, "no per-connection episodes")

        var configuration = try ScenarioSimulation.configuration(for: s, run: 0, seed: 5, source: "random.yaml")
        configuration.recording = .withoutMessages
        #expect(configuration.serverRestarts == restarts)
        let log = Simulation(configuration).run().log
        let events = log.events
        let notes = events.filter { $0.kind == .fault }.compactMap(\.detail)
        #expect(notes.filter { $0 == "server restart: down" }.count == restarts.count)
        for restart in restarts where restart.upperBound < s.duration {
            // Each of the five clients is disconnected at the instant the server dies...
            let cut = events.filter { $0.kind == .disconnect && $0.side == .client && $0.time == restart.lowerBound }
            #expect(Set(cut.map(\.connection)).count == 5, "at \(restart.lowerBound): \(cut.map(\.connection))")
            // ...and none is connected again before it is back; all are within 10 s after.
            let connects = events.filter { $0.kind == .connect && $0.side == .server && restart.lowerBound < $0.time }
            #expect(!connects.contains { $0.time < restart.upperBound }, "a connect while the server was down")
            let back = connects.filter { $0.time < restart.upperBound + .seconds(10) && $0.detail == "socket.io /" }
            #expect(Set(back.map(\.connection)).count == 5, "after \(restart.upperBound): \(back.map(\.connection))")
        }
        let metrics = RunMetrics.compute(events: log, truth: GroundTruth(scenario: s, seed: 5, run: 0), duration: s.duration)
        #expect(metrics.overall.falseDisconnects == 0)
        #expect(metrics.overall.detections >= 5 * (restarts.count - 1), "\(metrics.overall.detections)")
        #expect(Simulation(configuration).run().jsonLines == log.jsonLines, "deterministic by seed")

        func message(_ faults: String) -> String {
            do { _ = try Self.scenario(faults); return "" } catch { return "\(error)" }
        }
        #expect(message("  serverRestarts: { rate: 2/h }").contains("faults.serverRestarts: missing field 'downFor'")
                || message("  serverRestarts: { rate: 2/h }").contains("downFor"))
        #expect(message("  serverRestarts: { rate: 0/h, downFor: { constant: 2s } }").contains("faults.serverRestarts.rate"))
    }
}

/// `server: { stack: python-socketio }` in simulation: the built-in server notices an unanswered
/// ping at python-engineio's next service sweep, in (pingTimeout, 2·pingTimeout] after the ping,
/// at a sweep phase drawn per run; without `stack` it closes exactly pingTimeout after the ping.
@Suite struct ServerStackSemanticsTests {
    private func detections(stack: String?, runs: Int) throws -> [Double] {
        let field = stack.map { ", stack: \($0)" } ?? ""
        let s = try Scenario.parse(yaml: """
        name: lazy
        seed: 9
        duration: 3m
        server: { builtin: socketio, pingInterval: 5s, pingTimeout: 10s\(field) }
        clients: { count: 3, builtin: socketio, reconnection: { enabled: false } }
        link: { both: { latency: 10ms } }
        phases:
          - { at: 60s, until: end, both: blackhole, note: dead }
        """, source: "lazy.yaml")
        var out: [Double] = []
        for run in 0..<runs {
            let configuration = try ScenarioSimulation.configuration(for: s, run: UInt64(run), source: "lazy.yaml")
            let log = Simulation(configuration).run().log
            for c in ["c1", "c2", "c3"] {
                let mine = log.filter { $0.connection == c && $0.side == .server }
                guard let close = mine.first(where: { $0.kind == .disconnect }) else { continue }
                let ping = mine.last { $0.kind == .ping && $0.time <= close.time }!
                out.append((close.time - ping.time).seconds)
            }
        }
        return out
    }

    @Test func pythonSocketIOServersDetectAtTheirNextServiceSweep() throws {
        let exact = try detections(stack: nil, runs: 2)
        #expect(!exact.isEmpty && exact.allSatisfy { abs($0 - 10) < 0.001 }, "\(exact)")
        let lazy = try detections(stack: "python-socketio", runs: 6)
        #expect(lazy.count == 18, "\(lazy)")
        #expect(lazy.allSatisfy { $0 > 10 && $0 <= 20 }, "\(lazy)")
        #expect(Set(lazy.map { ($0 * 10).rounded() }).count > 3, "the sweep's phase varies by run: \(lazy)")
        #expect(throws: ScenarioError.self) {
            try Scenario.parse(yaml: "name: x\nduration: 1m\nserver: { builtin: socketio, stack: tornado }\nclients: { builtin: socketio }\n", source: "x.yaml")
        }
    }
}
