import Foundation
import LabCore
import Scenario
import Testing

/// Issue 12, finding 7: files that `check` accepted and that then ran out of memory or never
/// ended. Each is refused with its file, line, column and field.
@Suite struct ScenarioBoundsTests {
    static func description(_ yaml: String) -> String? {
        do {
            _ = try Scenario.parse(yaml: yaml, source: "b.yaml")
            return nil
        } catch {
            return error.description
        }
    }

    static func file(duration: String = "10m", clients: Int = 1, pingInterval: String = "25s", workload: String = "") -> String {
        """
        name: b
        duration: \(duration)
        server: { builtin: socketio, pingInterval: \(pingInterval) }
        clients: { count: \(clients), builtin: socketio }
        \(workload)
        """
    }

    /// Found by `make fuzz` (scenario_fuzz): a run made each message whole, so `size: 1000GB`
    /// passed check and then aborted the run allocating it.
    @Test func aMessageIsAtMostSixteenMebibytes() {
        let text = Self.description(Self.file(workload: "workload: { clientToServer: { rate: 1/s, size: 1000GB } }"))
        #expect(text?.hasPrefix("b.yaml:5:48: workload.clientToServer.size: a message is at most 16777216 bytes") == true, "\(text ?? "accepted")")
        #expect(Self.description(Self.file(workload: "workload: { clientToServer: { rate: 1/s, size: 16MiB } }")) == nil)
    }

    /// Found by `make fuzz` (scenario_fuzz): brackets in comments and quoted scalars counted as
    /// nesting, so valid files were refused; real nesting past 64 levels still is.
    @Test func bracketsInCommentsAndQuotesAreNotNesting() {
        let many = String(repeating: "[", count: 65)
        #expect(Self.description(Self.file() + "# \(many)\n") == nil)
        #expect(Self.description(Self.file(workload: "workload: {} # \(many)")) == nil)
        #expect(Self.description(Self.file().replacingOccurrences(of: "name: b", with: "name: b\nphases: [{ at: 1m, for: 1s, both: stall, note: '\(many)' }]")) == nil)
        #expect(Self.description(Self.file().replacingOccurrences(of: "name: b", with: "name: b\nphases: [{ at: 1m, for: 1s, both: stall, note: \"a \\\" \(many)\" }]")) == nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(Self.description(Self.file() + "x: \(deep)\n")?.contains("nesting deeper than 64 levels") == true)
    }

    @Test func aRateOfTwentySixNinesIsRefused() {
        let text = Self.description(Self.file(workload: "workload: { serverToClient: { rate: 99999999999999999999999999/s, size: 512B } }"))
        #expect(text == "b.yaml:5:37: workload.serverToClient.rate: must be at most 1000/s per connection, got 99999999999999999999999999/s")
    }

    @Test(arguments: ["9223372036854775807ns", "2562047h", "200h", "169h"])
    func durationsThatNeverEndAreRefused(_ duration: String) {
        let text = Self.description(Self.file(duration: duration)) ?? ""
        #expect(text.hasPrefix("b.yaml:2:11: duration: "), "\(text)")
    }

    @Test func aWeekIsTheLongestScenario() {
        #expect(Self.description(Self.file(duration: "168h")) == nil)
    }

    @Test func theWorkARunImpliesIsBounded() {
        // 100,000 clients for a week at 10 messages a second: 6e11 messages.
        let text = Self.description(Self.file(duration: "168h", clients: 100_000,
                                              workload: "workload: { serverToClient: { rate: 10/s, size: 64B } }")) ?? ""
        #expect(text.hasPrefix("b.yaml:5:11: workload: the run implies 1209600000000 message events"), "\(text)")
        // A 1 ms ping interval over 10,000 clients for a day.
        let pings = Self.description(Self.file(duration: "24h", clients: 10_000, pingInterval: "1ms")) ?? ""
        #expect(pings.hasPrefix("b.yaml:3:9: server.pingInterval: the run implies"), "\(pings)")
        // 1,000 clients for an hour at 2 events a second passes (14.4 million message events); for a day
        // it would hold 350 million events, some 20 GB, and is refused.
        #expect(Self.description(Self.file(duration: "1h", clients: 1_000,
                                           workload: "workload: { serverToClient: { rate: 2/s, size: 512B } }")) == nil)
        let day = Self.description(Self.file(duration: "24h", clients: 1_000,
                                             workload: "workload: { serverToClient: { rate: 2/s, size: 512B } }")) ?? ""
        #expect(day.hasPrefix("b.yaml:5:11: workload: the run implies 345600000 message events"), "\(day)")
        // A day of 1,000 clients' heartbeats alone passes.
        #expect(Self.description(Self.file(duration: "24h", clients: 1_000)) == nil)
    }

    /// Issue 12: a condition that cuts every connection, with clients that reconnect at once, used
    /// to pass check and then fill memory with reconnection cycles (1M clients, idleTimeout 1us: 5 GB).
    @Test func reconnectionChurnIsBounded() {
        let churn = """
        name: churn
        duration: 1m
        server: { builtin: socketio }
        clients: { count: 100, builtin: socketio, reconnection: { delay: 1ms, delayMax: 1ms, randomization: 0 } }
        link: { both: { idleTimeout: { after: 1us, action: close } } }
        """
        let text = Self.description(churn) ?? ""
        #expect(text.hasPrefix("b.yaml:4:10: clients.reconnection.delay: the run implies"), "\(text)")
        #expect(text.contains("reconnect after as little as 1ms"), "\(text)")
        // The same cut within a 10 s phase, or with socket.io's default delays, is fine.
        #expect(Self.description(churn.replacing("delay: 1ms, delayMax: 1ms, randomization: 0", with: "delay: 1s")) == nil)
        let phase = churn.replacing("link: { both: { idleTimeout: { after: 1us, action: close } } }",
                                    with: "phases: [{ at: 10s, for: 10s, both: { idleTimeout: { after: 1us, action: close } } }]")
        #expect(Self.description(phase.replacing("count: 100", with: "count: 10")) == nil)
        #expect(Self.description(phase.replacing("count: 100", with: "count: 1000"))?.contains("clients.reconnection.delay") == true)
    }

    @Test func anyFieldsDurationIsBounded() {
        let text = Self.description(Self.file() + "toleratedStall: 745h\n") ?? ""
        #expect(text.hasPrefix("b.yaml:5:17: toleratedStall: must be at most"), "\(text)")
    }

    /// Issue 12, finding 11: control characters and bytes that are not UTF-8 are reported with
    /// their line, column and byte offset.
    @Test func badCharactersHaveAPlace() throws {
        #expect(Self.description("name: b\nduration: 1m\u{7}\n") == "b.yaml:2:13: control character U+0007 at byte 20 is not allowed in YAML")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-utf8-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(Array("name: b\nduration: ".utf8) + [0xC3, 0x28] + Array("\n".utf8)).write(to: url)
        do {
            _ = try Scenario.load(path: url.path)
            Issue.record("a file that is not UTF-8 was accepted")
        } catch {
            #expect(error.description == "\(url.path):2:11: the file is not UTF-8 text: 1 invalid byte at byte 18")
        }
    }

    /// Issue 12, finding 10: a huge document is refused before it is parsed.
    @Test func aHugeDocumentIsRefusedBeforeParsing() throws {
        let phases = String(repeating: "  - { at: 1s, for: 1s, both: stall }\n", count: 40_000)
        let started = Date()
        let text = Self.description(Self.file() + "phases:\n" + phases) ?? ""
        #expect(text.hasPrefix("b.yaml:1:1: document too large: "), "\(text.prefix(120))")
        #expect(Date().timeIntervalSince(started) < 5, "refused before libyaml parses it")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("flatline-big-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data((Self.file() + "phases:\n" + phases).utf8).write(to: url)
        #expect(throws: ScenarioError.self) { try Scenario.load(path: url.path) }
    }
}
