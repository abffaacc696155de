import Scenario
import Testing
import LabCore

/// Every kind of bad input gets one error with the file, line, column, field path and an exact,
/// helpful message; nothing crashes.
@Suite struct ScenarioErrorTests {
    static let base = """
        name: t
        duration: 10m
        server: { builtin: socketio }
        clients: { builtin: socketio }

        """

    static func error(_ yaml: String) -> ScenarioError? {
        do {
            _ = try Scenario.parse(yaml: yaml, source: "t.yaml")
            return nil
        } catch {
            return error
        }
    }

    /// (document after the four base lines, the expected description)
    static let cases: [(String, String)] = [
        // The example from the issue: an unknown latency distribution.
        ("phases:\n  - { at: 1m, for: 1s, both: stall }\n  - { at: 2m, for: 1s, both: stall }\n  - at: 3m\n    for: 1s\n    both:\n      latency:\n        gauss: { mean: 1ms }\n",
         "t.yaml:12:9: phases[2].both.latency: unknown distribution 'gauss'; expected one of constant, uniform, normal, lognormal, pareto, paretonormal, empirical"),
        // Unknown keys, with the known ones and a suggestion.
        ("seeed: 3\n", "t.yaml:5:1: unknown field 'seeed' (did you mean 'seed'?); expected one of name, seed, duration, server, clients, link, phases, workload, toleratedStall, expect, sweeps, repetitions, faults"),
        ("link: { both: { latency: 5ms, jiter: 1ms } }\n", "t.yaml:5:31: link.both: unknown field 'jiter'; expected one of latency, loss, bandwidth, stall, blackhole, reset, idleTimeout, slicer, limitData, slowClose, slowConnect"),
        ("link: { both: { latency: { fixed: 5ms, jiter: 1ms } } }\n", "t.yaml:5:40: link.both.latency: unknown field 'jiter' (did you mean 'jitter'?); expected one of fixed, jitter, correlation, constant, uniform, normal, lognormal, pareto, paretonormal, empirical"),
        ("expect: { falseDisconnect: 0 }\n", "t.yaml:5:11: expect: unknown field 'falseDisconnect' (did you mean 'falseDisconnects'?); expected one of falseDisconnects, detectionWithin, deliveryAtLeast, stabilityAtLeast, missedEventsAtMost, optional"),
        // Type errors.
        ("seed: [1]\n", "t.yaml:5:7: seed: expected a whole number from 0 to 2^64-1, got a list"),
        ("repetitions: many\n", "t.yaml:5:14: repetitions: expected a whole number, got 'many'"),
        ("phases: { at: 1m }\n", "t.yaml:5:9: phases: expected a list of phases, got a mapping"),
        ("workload: { serverToClient: { rate: 2/s, size: } }\n", "t.yaml:5:48: workload.serverToClient.size: expected a size such as \"512B\" or \"64KiB\", got nothing (null)"),
        // Bad units.
        ("toleratedStall: 10\n", "t.yaml:5:17: toleratedStall: '10' has no unit; expected a number with a unit (ns, us, ms, s, m, h), e.g. \"250ms\""),
        ("toleratedStall: 10sec\n", "t.yaml:5:17: toleratedStall: '10sec' has an unknown unit 'sec'; expected a number with a unit (ns, us, ms, s, m, h), e.g. \"250ms\""),
        ("workload: { serverToClient: { rate: 2/day, size: 1B } }\n", "t.yaml:5:37: workload.serverToClient.rate: '2/day' has an unknown unit '/day'; expected a count per unit of time such as \"2/s\", \"30/m\" or \"100/h\""),
        ("link: { both: { bandwidth: 10MB } }\n", "t.yaml:5:28: link.both.bandwidth: '10MB' is not a rate: it must end in /s; expected a size per second such as \"10MB/s\", \"512KiB/s\" or \"8Mbit/s\""),
        // Out of range.
        ("toleratedStall: -1s\n", "t.yaml:5:17: toleratedStall: '-1s' is negative; a duration must be >= 0"),
        ("link: { both: { loss: 120% } }\n", "t.yaml:5:23: link.both.loss: must be in [0, 1] (0% to 100%), got 120%"),
        ("link: { both: { loss: { gilbertElliott: { p: 2%, r: 1.5 } } } }\n", "t.yaml:5:53: link.both.loss.gilbertElliott.r: must be in [0, 1] (0% to 100%), got 1.5"),
        ("link: { both: { latency: { normal: { mean: 1ms, stddev: 1ms }, correlation: 1 } } }\n", "t.yaml:5:77: link.both.latency.correlation: must be in [0, 1) (0% to 100%, exclusive), got 1"),
        ("expect: { stabilityAtLeast: 101 }\n", "t.yaml:5:29: expect.stabilityAtLeast: must be in [0, 100], got 101"),
        ("clients: { builtin: socketio, count: 0 }\n", "t.yaml:4:1: duplicate key 'clients': each field may appear only once in a mapping"),
        ("link: { both: { latency: { lognormal: { median: 40ms, p99: 20ms } } } }\n", "t.yaml:5:60: link.both.latency.lognormal.p99: must be greater than median (40ms), got 20ms"),
        ("link: { both: { latency: { uniform: { min: 5ms, max: 1ms } } } }\n", "t.yaml:5:54: link.both.latency.uniform.max: must be at least min (5ms), got 1ms"),
        ("link: { both: { slicer: { averageSize: 10B, sizeVariation: 10B } } }\n", "t.yaml:5:60: link.both.slicer.sizeVariation: must be less than averageSize (10B), got 10B"),
        ("link: { both: { idleTimeout: { after: 60s, action: drop } } }\n", "t.yaml:5:52: link.both.idleTimeout.action: unknown action 'drop'; expected one of close, reset, blackhole"),
        // Phases.
        ("phases:\n  - { at: 9m, for: 2m, both: stall }\n", "t.yaml:6:20: phases[0].for: the phase ends at 11m, after the scenario's end (duration 10m); shorten it or use 'until: end'"),
        ("phases:\n  - { at: 10m, until: end, both: stall }\n", "t.yaml:6:11: phases[0].at: starts at 10m, at or after the scenario's end (duration 10m)"),
        ("phases:\n  - { at: 1m, for: 2m, until: end, both: stall }\n", "t.yaml:6:24: phases[0]: 'for' and 'until' are exclusive: give one"),
        ("phases:\n  - { at: 1m, both: stall }\n", "t.yaml:6:5: phases[0]: missing 'for' or 'until': say how long the phase lasts (for: 8s) or when it ends (until: end)"),
        ("phases:\n  - { at: 1m, for: 2m }\n", "t.yaml:6:5: phases[0]: a phase needs conditions (both, upstream or downstream, e.g. both: stall), server: pause, or clients: { timerAlignment: … }"),
        ("phases:\n  - { at: 1m, for: 2m, server: stop }\n", "t.yaml:6:32: phases[0].server: expected 'pause' (the server's event loop is blocked for the phase) or { down: [k] } (instance k is down), got 'stop'"),
        ("phases:\n  - { at: 1m, for: 2m, clients: { timerAlignment: 0s } }\n", "t.yaml:6:51: phases[0].clients.timerAlignment: must be greater than 0s, got 0s"),
        ("phases:\n  - { at: 1m, for: 2m, clients: { throttle: 1m } }\n", "t.yaml:6:35: phases[0].clients: unknown field 'throttle'; expected one of timerAlignment"),
        ("phases:\n  - { at: 1m, until: 30s, both: stall }\n", "t.yaml:6:22: phases[0].until: must be after at (1m), got 30s"),
        ("phases:\n  - { at: 1m, for: 2m, every: 1m, both: stall }\n", "t.yaml:6:31: phases[0].every: must be longer than the phase (for: 2m), got 1m"),
        ("phases:\n  - { at: 1m, for: 1s, both: stal }\n", "t.yaml:6:30: phases[0].both: unknown condition 'stal' (did you mean 'stall'?); expected a mapping of conditions or one of stall, blackhole, reset"),
        ("link: { both: { latency: 5ms }, upstream: { latency: 9ms } }\n", "t.yaml:5:45: link.upstream: latency is already set for upstream by 'both'; set it in one place"),
        // Missing fields and components.
        ("expect: {}\nserver: {}\n", "t.yaml:3:1: duplicate key 'server': each field may appear only once in a mapping"),
        ("workload: { serverToClient: { rate: 2/s } }\n", "t.yaml:5:29: workload.serverToClient: missing required field 'size'"),
        ("link: { both: { latency: { correlation: 0.5 } } }\n", "t.yaml:5:26: link.both.latency: a latency needs fixed, jitter or a distribution (constant, uniform, normal, lognormal, pareto, paretonormal, empirical)"),
        ("link: { both: { loss: { rto: 1s } } }\n", "t.yaml:5:23: link.both.loss: missing a loss model; expected one of bernoulli, gilbertElliott, fourState"),
        // Sweeps.
        ("sweeps: { server.pingTimeout: [10s, 20x] }\n", "t.yaml:5:37: server.pingTimeout: '20x' has an unknown unit 'x'; expected a number with a unit (ns, us, ms, s, m, h), e.g. \"250ms\""),
        ("sweeps: { server.pingTimout: [10s] }\n", "t.yaml:5:11: server: unknown field 'pingTimout' (did you mean 'pingTimeout'?); expected one of builtin, pingInterval, pingTimeout, stack, detector, connectionStateRecovery, instances, balance"),
        ("sweeps: { name: [a, b] }\n", "t.yaml:5:11: sweeps: 'name' cannot be swept"),
        ("sweeps: { server.pingTimeout: [] }\n", "t.yaml:5:31: sweeps.server.pingTimeout: needs at least one value"),
        ("sweeps: { \"server..x\": [1s] }\n", "t.yaml:5:11: sweeps: 'server..x' is not a field path; expected names joined by dots, e.g. server.pingTimeout"),
        // YAML itself.
        ("link: { both: [1, 2\n", "t.yaml:6:1: not valid YAML: did not find expected ',' or ']' (while parsing a flow sequence at 5:15)"),
        ("name: *nothing\n", "t.yaml:5:7: not valid YAML: found undefined alias"),
    ]

    @Test(arguments: 0..<cases.count)
    func errorMessage(_ index: Int) {
        let (tail, expected) = Self.cases[index]
        let error = Self.error(Self.base + tail)
        #expect(error?.description == expected)
    }

    static let componentCases: [(String, String)] = [
        ("name: t\nduration: 1m\nclients: { builtin: socketio }\n",
         "t.yaml:1:1: missing required field 'server': a built-in (builtin: socketio) or external (command: [...]) server"),
        ("name: t\nduration: 1m\nserver: { builtin: socket.io }\nclients: { builtin: socketio }\n",
         "t.yaml:3:20: server.builtin: unknown built-in component 'socket.io' (did you mean 'socketio'?); expected one of socketio"),
        ("name: t\nduration: 1m\nserver: { pingTimeout: 5s }\nclients: { builtin: socketio }\n",
         "t.yaml:3:9: server: missing 'builtin' or 'command': a server is built in (builtin: socketio) or external (command: [program, args…])"),
        ("name: t\nduration: 1m\nserver: { builtin: socketio, command: [x] }\nclients: { builtin: socketio }\n",
         "t.yaml:3:30: server: 'builtin' and 'command' are exclusive: a server is either built in or external"),
        ("name: t\nduration: 1m\nserver: { command: [python3, s.py] }\nclients: { builtin: socketio }\n",
         "t.yaml:3:20: server.command: an external server must be told its port: use {port} in the command or in env"),
        ("name: t\nduration: 1m\nserver: { command: [python3, s.py, \"{prot}\"] }\nclients: { builtin: socketio }\n",
         "t.yaml:3:36: server.command[2]: unknown placeholder '{prot}'; expected {host}, {port}, {instance}, {timeScale}, {duration}, {toleratedStall}, {scaled:DURATION}, {scaledMs:DURATION}"),
        ("name: t\nduration: 1m\nserver: { command: [s, \"{port}\"], readiness: { http: health } }\nclients: { builtin: socketio }\n",
         "t.yaml:3:54: server.readiness.http: must be a path starting with '/', got 'health'"),
        ("name: t\nduration: 1m\nserver: { builtin: socketio, pingInterval: 0s }\nclients: { builtin: socketio }\n",
         "t.yaml:3:44: server.pingInterval: must be greater than 0s, got 0s"),
        ("name: t\nduration: 1m\nserver: { builtin: socketio }\nclients: { builtin: socketio, count: 0 }\n",
         "t.yaml:4:38: clients.count: must be between 1 and 1000000, got 0"),
        ("name: t\nduration: 1m\nserver: { builtin: socketio }\nclients: { builtin: socketio, reconnection: { delay: 5s, delayMax: 1s } }\n",
         "t.yaml:4:68: clients.reconnection.delayMax: delayMax (1s) must be at least delay (5s)"),
        ("name: t\nduration: 1m\nserver: { builtin: socketio }\nclients: { builtin: socketio, application: { customPing: { interval: 45s } } }\n",
         "t.yaml:4:58: clients.application.customPing: missing required field 'timeout'"),
        ("name: t\nduration: 1m\nserver: { builtin: socketio }\nclients: { builtin: socketio, readiness: tcp }\n",
         "t.yaml:4:31: clients: unknown field 'readiness'; expected one of count, builtin, connectTimeout, reconnection, application, auth, detector, stack, transports"),
        ("name: my scenario\nduration: 1m\nserver: { builtin: socketio }\nclients: { builtin: socketio }\n",
         "t.yaml:1:7: name: 'my scenario' may only contain letters, digits, '-', '_' and '.' and not start with '.' (it names the results folder)"),
        ("name: t\nduration: 0s\nserver: { builtin: socketio }\nclients: { builtin: socketio }\n",
         "t.yaml:2:11: duration: must be greater than 0s, got 0s"),
        ("- name: t\n", "t.yaml:1:1: expected a mapping of scenario fields (name, duration, server, clients, …), got a list"),
        ("", "t.yaml:1:1: expected a mapping of scenario fields (name, duration, server, clients, …), got nothing (null)"),
    ]

    @Test(arguments: 0..<componentCases.count)
    func componentErrorMessage(_ index: Int) {
        let (yaml, expected) = Self.componentCases[index]
        #expect(Self.error(yaml)?.description == expected)
    }

    @Test func errorFieldsAreSeparate() {
        let error = Self.error(Self.base + "toleratedStall: 10\n")
        #expect(error == ScenarioError(file: "t.yaml", line: 5, column: 17, path: "toleratedStall",
                                       message: "'10' has no unit; expected a number with a unit (ns, us, ms, s, m, h), e.g. \"250ms\""))
    }

    @Test func missingFileIsAnErrorNotACrash() {
        #expect(throws: ScenarioError.self) { try Scenario.load(path: "/nonexistent/scenario.yaml") }
        do {
            _ = try Scenario.load(path: "/nonexistent/scenario.yaml")
        } catch {
            #expect(error.line == 0)
            #expect(error.description.hasPrefix("/nonexistent/scenario.yaml: cannot read the file"))
        }
    }

    @Test func aliasBombIsRejectedQuickly() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<9 {
            yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let error = Self.error(yaml)
        #expect(error?.message.hasPrefix("document too large") == true)
    }

    @Test func deepNestingIsRejected() {
        let yaml = "name: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(Self.error(yaml)?.message == "nesting deeper than 64 levels")
    }
}
