import Foundation
import LabCore
import LiveProcesses
import Runner
import Scenario
import Simulator
import Testing

/// The results folder of simulated runs: report.html beside events, junit.xml and summary.json.
@Suite struct ResultsFolderTests {
    static let yaml = """
    name: report
    seed: 5
    duration: 2m
    server: { builtin: socketio, pingInterval: 10s, pingTimeout: 5s }
    clients: { count: 3, builtin: socketio }
    link: { both: { latency: 20ms } }
    phases:
      - { at: 30s, for: 10s, both: stall, note: roaming }
      - { at: 100s, until: end, both: blackhole, note: outage }
    expect: { falseDisconnects: 0, detectionWithin: 30s }
    """

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test func simulatedRunsWriteTheReportBesideTheOtherResults() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-report-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        let scenario = try Scenario.parse(yaml: Self.yaml, source: "report.yaml")
        let result = try ScenarioRunner(resultsRoot: root, version: "test").simulate(scenario, source: "report.yaml", runs: 1, seed: nil)
        let folder = try #require(result.folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(names == ["events.jsonl", "junit.xml", "report.html", "summary.json"])
        let html = try String(contentsOf: folder.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<h1>report <span class=\"badge"))
        #expect(Self.count(#"<g class="row""#, in: html) == 3)
        #expect(html.contains(#"<polyline class="cdf""#))
    }

    @Test("the phase table names server pauses and throttled timers, and a pause's ground truth")
    func phaseTableNamesPausesAndThrottling() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-phases-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        let scenario = try Scenario.parse(yaml: """
            name: phases
            seed: 2
            duration: 3m
            server: { builtin: socketio }
            clients: { count: 2, builtin: socketio }
            toleratedStall: 10s
            phases:
              - { at: 30s, for: 5s, server: pause, note: frozen }
              - { at: 1m, until: end, clients: { timerAlignment: 1m }, note: hidden }
            """, source: "phases.yaml")
        let result = try ScenarioRunner(resultsRoot: root, version: "test").simulate(scenario, source: "phases.yaml", runs: 1, seed: nil)
        let html = try String(contentsOf: try #require(result.folder).appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<td>server paused</td><td>stall (dead after 10s)</td>"), "\(html)")
        #expect(html.contains("<td>client timers every 1m</td><td>usable</td>"))
    }

    @Test("several runs: one events file each, written as each run ends, nothing left beside them")
    func severalRunsWriteOneEventsFileEach() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-runs-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: root) }
        let scenario = try Scenario.parse(yaml: Self.yaml, source: "report.yaml")
        let result = try ScenarioRunner(resultsRoot: root, version: "test").simulate(scenario, source: "report.yaml", runs: 3, seed: 9)
        let folder = try #require(result.folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(names == ["events-0.jsonl", "events-1.jsonl", "events-2.jsonl", "junit.xml", "report.html", "summary.json"])
        // Each file is its run's log, byte for byte.
        for run in 0..<3 {
            let configuration = try ScenarioSimulation.configuration(for: scenario, run: UInt64(run), seed: 9, source: "report.yaml")
            let written = try String(contentsOf: folder.appendingPathComponent("events-\(run).jsonl"), encoding: .utf8)
            #expect(written == Simulation(configuration).run().jsonLines)
        }
        // The staging files moved in; only the results folder is left in the scenario's folder.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: folder.deletingLastPathComponent().path)
        #expect(siblings == [folder.lastPathComponent])
    }
}

/// The stack trace a program printed, for the run's summary (issue 10: a server whose connect
/// handler raised shows why in the results, not only in logs/server.stderr).
@Suite struct StackTraceTests {
    @Test func theLastTraceOfEachKindIsFoundWithWhatFollowsIt() {
        let python = """
            INFO: server up
            Traceback (most recent call last):
              File "a.py", line 1, in <module>
            ValueError: first
            some noise
            Traceback (most recent call last):
              File "socketio/base_server.py", line 9, in _trigger_event
            TypeError: connect() takes 2 positional arguments but 3 were given
            """
        #expect(StackTrace.last(in: python) == """
            Traceback (most recent call last):
              File "socketio/base_server.py", line 9, in _trigger_event
            TypeError: connect() takes 2 positional arguments but 3 were given
            """)
        let node = "listening\nTypeError: x is not a function\n    at handler (/app/server.js:10:5)\n    at emit (node:events:1:1)\n"
        #expect(StackTrace.last(in: node) == "TypeError: x is not a function\n    at handler (/app/server.js:10:5)\n    at emit (node:events:1:1)")
        #expect(StackTrace.last(in: "goroutine\npanic: runtime error\n")?.hasPrefix("panic: runtime error") == true)
        #expect(StackTrace.last(in: "all fine\nno trace here\n") == nil)
        #expect(StackTrace.last(in: "") == nil)
        let long = "Traceback (most recent call last):\n" + String(repeating: "  frame\n", count: 1000)
        #expect((StackTrace.last(in: long, maxBytes: 200)?.utf8.count ?? 0) <= 200)
    }
}
