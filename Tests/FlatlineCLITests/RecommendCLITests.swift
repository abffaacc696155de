import Foundation
import Testing

extension CLITests {
    /// `flatline recommend` end to end: learn from a simulated run, propose the built-in stack's
    /// settings, replay the scenario with them until the objective's connection-hours are covered
    /// and with a dead network, and write recommendation.json with the documented fields. An
    /// impossible objective is exit 1 and says infeasible; an unknown stack or a malformed sample
    /// file is exit 2 with nothing written.
    @Test func recommendProposesValidatesAndExplains() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-rec-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let scenario = dir.appendingPathComponent("wifi.yaml")
        try Data("""
        name: wifi
        seed: 2
        duration: 20m
        server: { builtin: socketio, pingInterval: 5s, pingTimeout: 3s }
        clients: { count: 4, builtin: socketio }
        link: { both: { latency: { lognormal: { median: 20ms, p99: 80ms } } } }
        toleratedStall: 5s
        phases:
          - { at: 1m, for: 4s, every: 2m, both: stall, note: wifi pause }
        expect: { falseDisconnects: 0 }
        """.utf8).write(to: scenario)
        let results = dir.appendingPathComponent("results").path
        let run = try Self.run(["run", scenario.path, "--out", results], timeout: 120)
        #expect(run.status == 1, "pingTimeout 3s does not survive 4 s stalls: \(run.stdout)")
        let out = dir.appendingPathComponent("rec").path
        let rec = try Self.run(["recommend", "--from", results, "--stack", "flatline", "--max-false", "1/20h",
                                "--detect-within", "20s", "--tolerate-stall", "5s", "--validate", scenario.path, "--out", out], timeout: 300)
        #expect(rec.status == 0, "\(rec.stdout)\(rec.stderr)")
        #expect(rec.stdout.contains("Why: the timeout is set by the stalls to tolerate"), "\(rec.stdout)")
        #expect(rec.stdout.contains("PASSED"), "\(rec.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/recommendation.json"))) as? [String: Any])
        #expect(json["stack"] as? String == "flatline" && json["feasible"] as? Bool == true)
        let settings = try #require(json["settings"] as? [String: String])
        let timeout = try #require(settings["server.pingTimeout"].flatMap { Double($0.dropLast()) })
        let interval = try #require(settings["server.pingInterval"].flatMap { Double($0.dropLast()) })
        #expect(timeout >= 6 && interval + timeout <= 20, "\(settings)")
        let set = try #require(json["set"] as? [String])
        #expect(set.contains("server.pingTimeout=\(Int(timeout))s"), "\(set)")
        let predicted = try #require(json["predicted"] as? [String: Any])
        #expect(predicted["false_per_hour"] is [String: Any] && predicted["detection_max_s"] is [String: Any])
        let validated = try #require(json["validated"] as? [String: Any])
        #expect(validated["passed"] as? Bool == true && validated["false_disconnects"] as? Int == 0)
        #expect((validated["connection_hours"] as? Double ?? 0) >= (validated["needed_connection_hours"] as? Double ?? .infinity))
        #expect((validated["worst_detection_s"] as? Double ?? .infinity) <= 20)
        #expect(FileManager.default.fileExists(atPath: "\(out)/summary.md") && FileManager.default.fileExists(atPath: "\(out)/model.json"))
        let html = try String(contentsOfFile: "\(out)/report.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("recommended") && html.contains("false disconnects per connection-hour"), "\(html.prefix(400))")

        // No scenario given: the learned model itself is replayed (its round trip and stall process).
        let learnedOut = dir.appendingPathComponent("rec-learned").path
        let learned = try Self.run(["recommend", "--from", results, "--stack", "flatline", "--max-false", "1/20h",
                                    "--detect-within", "20s", "--tolerate-stall", "5s", "--out", learnedOut], timeout: 300)
        #expect(learned.status == 0, "\(learned.stdout)\(learned.stderr)")
        let replayed = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(learnedOut)/recommendation.json"))) as? [String: Any])
        let learnedValidation = try #require(replayed["validated"] as? [String: Any])
        #expect(learnedValidation["scenarios"] as? [String] == ["the learned model"] && learnedValidation["passed"] as? Bool == true, "\(learnedValidation)")

        let impossible = try Self.run(["recommend", "--from", results, "--stack", "flatline", "--max-false", "1/20h",
                                       "--detect-within", "4s", "--tolerate-stall", "5s", "--out", dir.appendingPathComponent("imp").path], timeout: 120)
        #expect(impossible.status == 1, "\(impossible.stdout)\(impossible.stderr)")
        #expect(impossible.stdout.contains("Infeasible"), "\(impossible.stdout)")

        let unknown = try Self.run(["recommend", "--from", results, "--stack", "corba", "--max-false", "1/20h", "--detect-within", "20s"])
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown stack"), "\(unknown.stderr)")
        let bad = dir.appendingPathComponent("bad.csv")
        try Data("rtt_ms\n12\nslow\n".utf8).write(to: bad)
        let badOut = dir.appendingPathComponent("bad-out").path
        let malformed = try Self.run(["recommend", "--from", bad.path, "--stack", "websockets", "--max-false", "1/20h",
                                      "--detect-within", "20s", "--out", badOut])
        #expect(malformed.status == 2 && malformed.stderr.contains("\(bad.path):3: rtt_ms \"slow\""), "\(malformed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: badOut))
    }

    /// `recommend --live --time-scale`: after the simulated replays, each scenario runs once live on
    /// loopback with the settings applied and its network dead for the second half; the live
    /// detection (in scenario time) and false disconnects land in recommendation.json beside the
    /// simulated ones, with the run's results folder under --out/live.
    @Test func recommendValidatesLiveWhenAsked() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-reclive-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let scenario = dir.appendingPathComponent("wifi.yaml")
        try Data("""
        name: wifi
        seed: 2
        duration: 2m
        server: { builtin: socketio, pingInterval: 5s, pingTimeout: 3s }
        clients: { count: 3, builtin: socketio }
        link: { both: { latency: { lognormal: { median: 20ms, p99: 80ms } } } }
        toleratedStall: 5s
        phases:
          - { at: 20s, for: 4s, every: 40s, both: stall, note: wifi pause }
        """.utf8).write(to: scenario)
        let results = dir.appendingPathComponent("results").path
        _ = try Self.run(["run", scenario.path, "--out", results], timeout: 120)
        let out = dir.appendingPathComponent("rec").path
        let args = ["recommend", "--from", results, "--stack", "flatline", "--max-false", "1/20h", "--detect-within", "20s",
                    "--tolerate-stall", "5s", "--validate", scenario.path, "--out", out]
        let rec = try Self.run(args + ["--live", "--time-scale", "0.1"], timeout: 300)
        #expect(rec.status == 0, "\(rec.stdout)\(rec.stderr)")
        #expect(rec.stdout.contains("live at time scale 0.1: 1 run"), "\(rec.stdout)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/recommendation.json"))) as? [String: Any])
        let validated = try #require(json["validated"] as? [String: Any])
        let live = try #require(validated["live"] as? [String: Any], "\(validated)")
        #expect(live["runs"] as? Int == 1 && live["false_disconnects"] as? Int == 0 && live["missed_detections"] as? Int == 0, "\(live)")
        #expect(live["time_scale"] as? Double == 0.1 && live["passed"] as? Bool == true, "\(live)")
        // In scenario time: within the objective and no faster than a ping timeout could detect.
        let worst = try #require(live["worst_detection_s"] as? Double)
        #expect(worst > 3 && worst <= 20, "\(worst)")
        let folders = try #require(live["results"] as? [String])
        #expect(folders.count == 1 && folders[0].hasPrefix("\(out)/live/wifi/"), "\(folders)")
        #expect(FileManager.default.fileExists(atPath: "\(folders.first ?? "")/summary.json"))

        let unused = try Self.run(args + ["--time-scale", "0.1"])
        #expect(unused.status == 2 && unused.stderr.contains("--time-scale applies to the live replays: add --live"), "\(unused.stderr)")
    }
}
