import Foundation
import LabCore
import Scenario
import Testing

/// `link: { learned: model.json }`: a scenario takes its link and stall process from a model
/// written by `flatline learn`, through the same mapping as the scenario file learn writes.
@Suite struct LearnedLinkTests {
    static let model = """
    { "format": "flatline-model", "version": 1, "sources": ["x"], "seed": 1, "confidence": 0.95,
      "rtt_s": { "count": 500, "lognormal": { "mu": -3.9, "sigma": 0.6, "median": 0.02 }, "tail": null,
                 "quantiles": [ { "level": 0.5, "value": 0.02, "lower": 0.019, "upper": 0.021, "method": "m", "caveat": null },
                                { "level": 0.99, "value": 0.08, "lower": 0.07, "upper": 0.09, "method": "m", "caveat": null } ] },
      "heartbeat": { "traces": 4, "period_s": 1.02, "gap_s": null },
      "stalls": { "threshold_s": 3, "episodes": 12, "exposure_hours": 4, "rate_per_hour": { "value": 3, "lower": 1.5, "upper": 5.2, "method": "poisson", "caveat": null },
                  "duration_s": null, "durations_s": [6, 6.2, 5.9, 6] },
      "loss": null, "held_round_trips": null, "disconnects": null }
    """

    static let head = """
    name: replay
    duration: 1h
    server: { builtin: socketio, pingInterval: 1s, pingTimeout: 20s }
    clients: { count: 2, builtin: socketio }

    """

    /// A fresh folder holding model.json and `scenario` as replay.yaml; returns replay.yaml's path.
    static func folder(scenario: String, model: String = Self.model) throws -> (URL, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-learned-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("models"), withIntermediateDirectories: true)
        try Data(model.utf8).write(to: dir.appendingPathComponent("models/model.json"))
        let path = dir.appendingPathComponent("replay.yaml").path
        try Data(scenario.utf8).write(to: URL(fileURLWithPath: path))
        return (dir, path)
    }

    @Test("a learned link is the model's round trip as the downstream latency and its stalls as faults, as if written out")
    func learnedLinkMatchesTheWrittenForm() throws {
        let (dir, path) = try Self.folder(scenario: Self.head + "link: { learned: models/model.json }\n")
        defer { try? FileManager.default.removeItem(at: dir) }
        let learned = try Scenario.load(path: path)
        let written = try Scenario.parse(yaml: Self.head + """
        link: { downstream: { latency: { lognormal: { median: 20ms, p99: 80ms } } } }
        faults: { stalls: { rate: 3/h, duration: { empirical: [6000ms, 6200ms, 5900ms, 6000ms] } } }
        """)
        #expect(learned.link == written.link)
        #expect(learned.faults == written.faults)
        #expect(learned.faults.stalls != nil)
    }

    @Test("the scenario's own faults win over the model's stalls")
    func ownFaultsWin() throws {
        let (dir, path) = try Self.folder(scenario: Self.head + """
        link: { learned: models/model.json }
        faults: { deadPeers: { rate: 1/h } }
        """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let scenario = try Scenario.load(path: path)
        #expect(scenario.faults.stalls == nil)
        #expect(scenario.faults.deadPeers != nil)
    }

    @Test("bad learned links name the field, or the model file and its field")
    func errors() throws {
        func message(_ link: String, model: String = Self.model) throws -> String {
            let (dir, path) = try Self.folder(scenario: Self.head + link + "\n", model: model)
            defer { try? FileManager.default.removeItem(at: dir) }
            do {
                _ = try Scenario.load(path: path)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        let missing = try message("link: { learned: models/none.json }")
        #expect(missing.contains("replay.yaml:5") && missing.contains("link.learned") && missing.contains("cannot read models/none.json"), "\(missing)")
        let mixed = try message("link: { learned: models/model.json, both: { latency: 5ms } }")
        #expect(mixed.contains("link") && mixed.contains("remove the other fields"), "\(mixed)")
        let format = try message("link: { learned: models/model.json }", model: #"{"format": "other", "version": 1}"#)
        #expect(format.contains("models/model.json") && format.contains("format"), "\(format)")
        let notJSON = try message("link: { learned: models/model.json }", model: "rtt_ms\n40\n")
        #expect(notJSON.contains("models/model.json") && notJSON.contains("not a model.json"), "\(notJSON)")
        let noRTT = try message("link: { learned: models/model.json }", model: #"{"format": "flatline-model", "version": 1, "rtt_s": null}"#)
        #expect(noRTT.contains("no learned round trip"), "\(noRTT)")
        let badLength = try message("link: { learned: models/model.json }", model: Self.model.replacingOccurrences(of: "[6, 6.2", with: "[-6, 6.2"))
        #expect(badLength.contains("stalls.durations_s[0]"), "\(badLength)")
    }
}
