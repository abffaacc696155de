import Foundation
import LabCore
import Metrics
import Reports
import Scenario
import Testing

/// summary.json as a `Codable` type: the exact text written (field order included) and reading it
/// back.
@Suite struct RunSummaryTests {
    static let scenario = try! Scenario.parse(yaml: """
        name: summary
        seed: 7
        duration: 2m
        server: { builtin: socketio, pingInterval: 10s, pingTimeout: 5s }
        clients: { count: 3, builtin: socketio, connectTimeout: 20s }
        toleratedStall: 10s
        expect: { falseDisconnects: 0 }
        """, source: "summary.yaml")

    static let verdicts = [Verdict(name: "falseDisconnects", bound: "<= 0", measured: "1", passed: false)]
    static let aggregate = [
        MetricInterval(name: "uptime", count: 2, mean: 0.5, standardDeviation: 0.1, lower: 0.25, upper: 0.75),
        MetricInterval(name: "disconnects", count: 2, mean: 3, standardDeviation: 1, lower: 1, upper: 5),
    ]

    static func text(_ summary: RunSummary) throws -> String {
        String(decoding: try JSONValueEncoder().encode(summary).serialized, as: UTF8.self)
    }

    @Test func aSimulatedRunsSummaryInTheOrderReadersKnow() throws {
        let summary = RunSummary(scenario: Self.scenario, source: "summary.yaml", seed: 7, mode: "sim", runs: 2, version: "1.2.3",
                                 verdicts: Self.verdicts, aggregate: Self.aggregate, limitations: ["no \"quotes\" modelled"])
        #expect(try Self.text(summary) == #"{"scenario":"summary","file":"summary.yaml","mode":"sim","seed":7,"runs":2,"partial":false,"#
            + #""versions":{"flatline":"1.2.3"},"settings":{"duration":"2m","clients":3,"pingInterval":"10s","pingTimeout":"5s","#
            + #""connectTimeout":"20s","toleratedStall":"10s"},"metrics":{"uptime":{"mean":0.5,"lower":0.25,"upper":0.75,"runs":2},"#
            + #""disconnects":{"mean":3,"lower":1,"upper":5,"runs":2}},"verdicts":[{"name":"falseDisconnects","bound":"<= 0","#
            + #""measured":"1","passed":false,"judged":true}],"passed":false,"limitations":["no \"quotes\" modelled"]}"#)
    }

    @Test func aLiveRunAddsItsLengthAndPrograms() throws {
        let live = RunSummary.LiveRun(planned: .seconds(30), ranFor: .milliseconds(4200), partial: true, programs: [
            RunSummary.Program(name: "server", command: ["python3", "server.py", "40123"], stdout: "logs/server.stdout",
                               stderr: "logs/server.stderr", exit: "killed by signal 15", exitedOnItsOwn: false, eventsMerged: 12),
            RunSummary.Program(name: "client-1", command: ["node", "c.js"], stdout: "logs/client-1.stdout",
                               stderr: "logs/client-1.stderr", exit: nil, exitedOnItsOwn: true, eventsMerged: 0),
        ])
        var external = Self.scenario
        external.duration = .seconds(60)
        external.server = .external(ExternalComponent(command: ["python3", "server.py", "{port}"]))
        let summary = RunSummary(scenario: external, source: "s.yaml", seed: UInt64.max, mode: "live", runs: 1, version: "1.2.3",
                                 verdicts: [], aggregate: [], limitations: [], live: live)
        #expect(try Self.text(summary) == #"{"scenario":"summary","file":"s.yaml","mode":"live","seed":-1,"runs":1,"partial":true,"#
            + #""versions":{"flatline":"1.2.3"},"settings":{"duration":"30s","clients":3,"connectTimeout":"20s","toleratedStall":"10s"},"#
            + #""metrics":{},"verdicts":[],"passed":true,"limitations":[],"ranFor":"4200ms","ranForSeconds":4.2,"#
            + #""programs":[{"name":"server","command":["python3","server.py","40123"],"stdout":"logs/server.stdout","#
            + #""stderr":"logs/server.stderr","exit":"killed by signal 15","exitedOnItsOwn":false,"eventsMerged":12},"#
            + #"{"name":"client-1","command":["node","c.js"],"stdout":"logs/client-1.stdout","stderr":"logs/client-1.stderr","#
            + #""exitedOnItsOwn":true,"eventsMerged":0}]}"#)
        let read = try JSONDecoder().decode(RunSummary.self, from: Data(try JSONValueEncoder().encode(summary).serialized))
        #expect(read == summary)
    }

    @Test func aSummaryReadsBackWithItsMetricsSortedByName() throws {
        let summary = RunSummary(scenario: Self.scenario, source: "summary.yaml", seed: 7, mode: "sim", runs: 2, version: "1.2.3",
                                 verdicts: Self.verdicts, aggregate: Self.aggregate, limitations: [])
        let read = try JSONDecoder().decode(RunSummary.self, from: Data(try JSONValueEncoder().encode(summary).serialized))
        var expected = summary
        expected.metrics.sort { $0.name < $1.name }
        #expect(read == expected)
        #expect(read.ranFor == nil && read.programs == nil)
    }
}
