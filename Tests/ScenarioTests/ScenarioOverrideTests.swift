import Scenario
import Testing
import LabCore

/// `--set path=value` overrides and `sweeps:` expansion.
@Suite struct ScenarioOverrideTests {
    static let yaml = """
        name: over
        duration: 30m
        server: { builtin: socketio, pingInterval: 25s, pingTimeout: 20s }
        clients: { builtin: socketio, count: 2 }
        phases:
          - { at: 5m, for: 8s, both: stall }
        """

    func apply(_ overrides: [String]) throws(ScenarioError) -> Scenario {
        try Scenario.parse(yaml: Self.yaml, source: "o.yaml").applying(overrides: overrides)
    }

    func error(_ overrides: [String]) -> String? {
        do {
            _ = try apply(overrides)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func overridesReplaceAddAndIndex() throws {
        let s = try apply(["server.pingTimeout=60s", "clients.connectTimeout=20s", "phases[0].for=12s",
                           "clients.application.healthCheck=90s", "link.both.latency={lognormal: {median: 40ms, p99: 180ms}}",
                           "seed=9"])
        #expect(s.server == .socketIO(SocketIOServerSettings(pingInterval: .seconds(25), pingTimeout: .seconds(60))))
        guard case .socketIO(let client) = s.clients.component else { throw ScenarioTestFailure("builtin") }
        #expect(client.connectTimeout == .seconds(20))
        #expect(client.application.healthCheck == HealthCheckSettings(staleAfter: .seconds(90)))
        #expect(s.phases[0].end == .after(.seconds(12)))
        #expect(s.link.upstream.count == 1)
        #expect(s.seed == 9)
        // Same result as writing the value in the file.
        let written = try Scenario.parse(yaml: Self.yaml.replacing("pingTimeout: 20s", with: "pingTimeout: 60s"))
        #expect(try apply(["server.pingTimeout=60s"]) == written)
        #expect(try apply([]) == Scenario.parse(yaml: Self.yaml))
    }

    @Test func overrideErrors() {
        #expect(error(["server.pingTimeout=6x"])
            == "--set:1:20: server.pingTimeout: '6x' has an unknown unit 'x'; expected a number with a unit (ns, us, ms, s, m, h), e.g. \"250ms\"")
        #expect(error(["server.pingTimout=60s"])
            == "--set:1:1: server: unknown field 'pingTimout' (did you mean 'pingTimeout'?); expected one of builtin, pingInterval, pingTimeout, stack, detector, connectionStateRecovery, instances, balance")
        #expect(error(["server.pingTimeout"]) == "--set:1:1: expected path=value such as server.pingTimeout=60s, got 'server.pingTimeout'")
        #expect(error(["server..x=1"])
            == "--set:1:1: 'server..x' is not a field path; expected names joined by dots, e.g. server.pingTimeout or phases[0].for")
        #expect(error(["phases[3].for=1s"]) == "--set:1:1: phases: index 3 is out of range: the list has 1 entry")
        #expect(error(["name.x=1"]) == "--set:1:1: name: cannot set 'x' inside 'over' (o.yaml:1:7); replace name as a whole")
        #expect(error(["phases[0].for=[1"]) == "--set:1:17: not valid YAML: did not find expected ',' or ']' (while parsing a flow sequence at 1:15)")
        // The end of a one-line value is its own end, not "line 2" of a flag.
        #expect(error(["phases[0].for=[1,"]) == "--set:1:18: not valid YAML: did not find expected node content (while parsing a flow node at 1:18)")
        // A valid override that makes another field invalid: the error points into the file.
        #expect(error(["duration=5m"])
            == "o.yaml:6:11: phases[0].at: starts at 5m, at or after the scenario's end (duration 5m)")
        #expect(error(["phases[0].for=26m"])
            == "--set:1:15: phases[0].for: the phase ends at 31m, after the scenario's end (duration 30m); shorten it or use 'until: end'")
    }

    @Test func sweepsExpandToEveryCombination() throws {
        let s = try Scenario.parse(yaml: Self.yaml + "\nsweeps:\n  server.pingTimeout: [10s, 20s, 60s]\n  clients.count: [1, 5]\nrepetitions: 2\n")
        #expect(s.sweeps == [Sweep(path: "server.pingTimeout", values: ["10s", "20s", "60s"]), Sweep(path: "clients.count", values: ["1", "5"])])
        let points = s.expandSweeps()
        #expect(points.map(\.name) == [
            "over+server.pingTimeout=10s+clients.count=1", "over+server.pingTimeout=10s+clients.count=5",
            "over+server.pingTimeout=20s+clients.count=1", "over+server.pingTimeout=20s+clients.count=5",
            "over+server.pingTimeout=60s+clients.count=1", "over+server.pingTimeout=60s+clients.count=5",
        ])
        #expect(points.map(\.clients.count) == [1, 5, 1, 5, 1, 5])
        let timeouts = points.map { point -> TimeSpan? in
            if case .socketIO(let settings) = point.server { return settings.pingTimeout }
            return nil
        }
        #expect(timeouts == [10, 10, 20, 20, 60, 60].map { TimeSpan.seconds(Double($0)) })
        #expect(points.allSatisfy { $0.sweeps.isEmpty && $0.repetitions == 2 && $0.expandSweeps().count == 1 })
    }

    @Test func sweepCombinationsAreEachValidated() {
        // Each value alone is fine, but the 5m duration makes the phase at 5m start at the end.
        let yaml = Self.yaml + "\nsweeps:\n  duration: [30m, 5m]\n"
        do {
            _ = try Scenario.parse(yaml: yaml, source: "o.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "o.yaml:6:11: phases[0].at: starts at 5m, at or after the scenario's end (duration 5m)")
        }
    }

    @Test func overridesKeepSweeps() throws {
        let s = try Scenario.parse(yaml: Self.yaml + "\nsweeps: { server.pingTimeout: [10s, 20s] }\n")
            .applying(overrides: ["server.pingInterval=5s"])
        #expect(s.expandSweeps().count == 2)
        #expect(s.expandSweeps().allSatisfy {
            if case .socketIO(let settings) = $0.server { return settings.pingInterval == .seconds(5) }
            return false
        })
    }
}
