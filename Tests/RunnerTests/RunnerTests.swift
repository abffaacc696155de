import Foundation
import Heartbeat
import LabCore
import Runner
import Simulator
import Testing

@Suite struct ScenarioSimulationTests {
    static let yaml = """
    name: mapping
    seed: 9
    duration: 2m
    server: { builtin: socketio, pingInterval: 10s, pingTimeout: 5s }
    clients: { count: 3, builtin: socketio, connectTimeout: 7s, reconnection: { delay: 2s, delayMax: 8s, randomization: 0 } }
    workload: { serverToClient: { rate: 2/s, size: 256B } }
    link: { both: { latency: 20ms } }
    phases:
      - { at: 30s, for: 10s, both: stall, note: roaming }
      - { at: 100s, until: end, both: blackhole, note: outage }
    """

    @Test func scenarioSettingsReachTheSimulator() throws {
        let scenario = try Scenario.parse(yaml: Self.yaml, source: "mapping.yaml")
        let c = try ScenarioSimulation.configuration(for: scenario, run: 4, source: "mapping.yaml")
        #expect(c.seed == 9 && c.run == 4 && c.connections == 3 && c.duration == .seconds(120))
        #expect(c.server.pingInterval == .seconds(10) && c.server.pingTimeout == .seconds(5))
        #expect(c.clientNamespace.connectTimeout == .seconds(7))
        #expect(c.reconnection.reconnectionDelay == .seconds(2) && c.reconnection.randomizationFactor == 0)
        #expect(c.workload.serverEmitInterval == .milliseconds(500) && c.workload.serverEmitSize == 256)
        #expect(c.baseline == scenario.link)
        #expect(c.phases.map(\.at) == [.seconds(30), .seconds(100)])
        #expect(c.phases.map(\.duration) == [.seconds(10), .seconds(20)])
        #expect(c.phases.map(\.note) == ["roaming", "outage"])
    }

    @Test func externalComponentsAreRefusedInSimulationWithAClearMessage() throws {
        let scenario = try Scenario.parse(yaml: """
        name: ext
        duration: 1m
        server: { command: [python3, server.py, "{port}"] }
        clients: { builtin: socketio }
        """, source: "ext.yaml")
        #expect(throws: RunnerError(scenario: "ext.yaml", message: "server: an external component can only run live (--mode live)")) {
            try ScenarioSimulation.configuration(for: scenario, run: 0, source: "ext.yaml")
        }
    }
}

@Suite struct ResultsWriterTests {
    @Test func writesAtomicallyAndNeverOverwrites() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-results-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        let writer = ResultsWriter(root: root)
        let id = writer.newRunID(scenario: "s", seed: 1, mode: "sim", now: Date(timeIntervalSince1970: 0))
        #expect(id == "19700101-000000-sim-seed1")
        let outcomes = [Verdict(name: "falseDisconnects", bound: "<= 0", measured: "2", passed: false),
                        Verdict(name: "detectionWithin", bound: "<= 45s", measured: "30.1s", passed: true)]
        let dir = try writer.write(scenario: "s", runID: id, eventLogs: ["{}\n"], summary: .object(["ok": .bool(true)]),
                                   outcomes: outcomes, duration: .seconds(3))
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["events.jsonl", "junit.xml", "summary.json"])
        let junit = try String(contentsOf: dir.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains(#"<testsuite name="s" tests="2" failures="1" time="3.0">"#))
        #expect(junit.contains(#"<failure message="falseDisconnects: measured 2, expected &lt;= 0"/>"#))
        // The same id again is refused; a new id is chosen next to it.
        #expect(throws: RunnerError.self) {
            try writer.write(scenario: "s", runID: id, eventLogs: [""], summary: .null, outcomes: [], duration: .zero)
        }
        #expect(writer.newRunID(scenario: "s", seed: 1, mode: "sim", now: Date(timeIntervalSince1970: 0)) == id + "-2")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("s/.\(id).partial").path))
    }
}
