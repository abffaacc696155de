import Scenario
import Testing
import LabCore

/// Scenario files: every field is read into the model, shorthands and defaults included.
@Suite struct ScenarioParsingTests {
    static let full = """
        name: full-example
        seed: 0x2a
        duration: 1h
        server:
          builtin: socketio
          pingInterval: 20s
          pingTimeout: 40s
        clients:
          count: 3
          builtin: socketio
          connectTimeout: 7s
          reconnection: { enabled: true, delay: 500ms, delayMax: 8s, randomization: 0.25, attempts: 12 }
          application:
            healthCheck: { staleAfter: 90s, heartbeatsCount: true, checkInterval: 5s }
            customPing: { interval: 45s, timeout: 20s, firstPingAfter: 1s, pingEvent: hb, pongEvent: hb-ack }
        link:
          both:
            latency: { fixed: 10ms, jitter: 2ms, lognormal: { median: 40ms, p99: 180ms }, correlation: 25% }
            bandwidth: 1MB/s
          upstream:
            loss: { gilbertElliott: { p: 2%, r: 30%, h: 0.1, k: 0.99 }, segmentSize: 1000B, rto: 300ms, maxRTO: 60s }
            slowConnect: 2s
          downstream:
            idleTimeout: { after: 60s, action: reset }
            slicer: { averageSize: 64B, sizeVariation: 16B, delay: 1ms }
            limitData: 10KB
            slowClose: { delay: 3s }
        phases:
          - { at: 5m, for: 8s, both: stall, note: roaming }
          - { at: 6m, for: 1m, every: 10m, upstream: { stall: 2s }, downstream: { latency: 400ms } }
          - { at: 12m, until: 20m, both: { loss: 1% } }
          - { at: 25m, until: end, both: blackhole, note: outage }
          - { at: 30m, for: 1s, downstream: reset }
          - at: 40m
            for: 1m
            both:
              blackhole: { closeAfter: 30s }
              reset: { after: 5s }
        workload:
          serverToClient: { rate: 2/s, size: 512B }
          clientToServer: { rate: 30/m, size: 1KiB }
        toleratedStall: 12s
        expect:
          falseDisconnects: 0
          detectionWithin: 45s
          deliveryAtLeast: 99.9%
          stabilityAtLeast: 75
        sweeps:
          server.pingTimeout: [10s, 20s]
        repetitions: 4
        """

    @Test func everyTopLevelField() throws {
        let s = try Scenario.parse(yaml: Self.full, source: "full.yaml")
        #expect(s.name == "full-example")
        #expect(s.seed == 42)
        #expect(s.duration == .seconds(3600))
        #expect(s.server == .socketIO(SocketIOServerSettings(pingInterval: .seconds(20), pingTimeout: .seconds(40))))
        #expect(s.toleratedStall == .seconds(12))
        #expect(s.repetitions == 4)
        #expect(s.sweeps == [Sweep(path: "server.pingTimeout", values: ["10s", "20s"])])
        #expect(s.workload == Workload(serverToClient: MessageFlow(rate: EventRate(perSecond: 2), size: ByteCount(bytes: 512)),
                                       clientToServer: MessageFlow(rate: EventRate(perSecond: 0.5), size: ByteCount(bytes: 1024))))
        #expect(s.expectations == Expectations(falseDisconnects: 0, detectionWithin: .seconds(45), deliveryAtLeast: 0.999,
                                               stabilityAtLeast: 75))
    }

    @Test func clientSettings() throws {
        let s = try Scenario.parse(yaml: Self.full, source: "full.yaml")
        #expect(s.clients.count == 3)
        let expected = SocketIOClientSettings(
            connectTimeout: .seconds(7),
            reconnection: ReconnectionSettings(enabled: true, delay: .milliseconds(500), delayMax: .seconds(8),
                                               randomization: 0.25, attempts: 12),
            application: ApplicationLayerSettings(
                healthCheck: HealthCheckSettings(staleAfter: .seconds(90), heartbeatsCount: true, checkInterval: .seconds(5)),
                customPing: CustomPingSettings(interval: .seconds(45), timeout: .seconds(20), firstPingAfter: .seconds(1),
                                               pingEvent: "hb", pongEvent: "hb-ack")))
        #expect(s.clients.component == .socketIO(expected))
    }

    @Test func baselineLinkConditions() throws {
        let s = try Scenario.parse(yaml: Self.full, source: "full.yaml")
        let lognormal = try Distribution.lognormal(median: 40e6, p99: 180e6)
        let latency = Condition.latency(LatencyCondition(latency: .milliseconds(10), jitter: .milliseconds(2),
                                                         distribution: lognormal, correlation: 0.25))
        let bandwidth = Condition.bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 1e6)))
        let loss = Condition.loss(LossCondition(model: .gilbertElliott(p: 0.02, r: 0.3, lossInBad: 0.9, lossInGood: 1 - 0.99),
                                                segmentSize: 1000, initialRTO: .milliseconds(300), maxRTO: .seconds(60)))
        #expect(s.link.upstream == [latency, bandwidth, loss, .slowConnect(SlowConnectCondition(delay: .seconds(2)))])
        #expect(s.link.downstream == [
            latency, bandwidth,
            .idleTimeout(IdleTimeoutCondition(after: .seconds(60), action: .reset)),
            .slicer(SlicerCondition(averageSize: 64, sizeVariation: 16, delay: .milliseconds(1))),
            .limitData(LimitDataCondition(bytes: 10_000)),
            .slowClose(SlowCloseCondition(delay: .seconds(3))),
        ])
    }

    @Test func phases() throws {
        let s = try Scenario.parse(yaml: Self.full, source: "full.yaml")
        #expect(s.phases.count == 6)
        #expect(s.phases[0] == Phase(at: .seconds(300), end: .after(.seconds(8)),
                                     conditions: LinkConditions(upstream: [.stall(StallCondition())], downstream: [.stall(StallCondition())]),
                                     note: "roaming"))
        #expect(s.phases[1] == Phase(at: .seconds(360), end: .after(.seconds(60)), every: .seconds(600),
                                     conditions: LinkConditions(upstream: [.stall(StallCondition(duration: .seconds(2)))],
                                                                downstream: [.latency(LatencyCondition(latency: .milliseconds(400)))])))
        #expect(s.phases[2].end == .at(.seconds(1200)))
        #expect(s.phases[2].conditions.upstream == [.loss(LossCondition(model: .bernoulli(probability: 0.01)))])
        #expect(s.phases[3].end == .scenarioEnd)
        #expect(s.phases[3].conditions.downstream == [.blackhole(BlackholeCondition())])
        #expect(s.phases[4].conditions == LinkConditions(downstream: [.reset(ResetCondition())]))
        #expect(s.phases[5].conditions.upstream == [.blackhole(BlackholeCondition(closeAfter: .seconds(30))),
                                                    .reset(ResetCondition(after: .seconds(5)))])
    }

    @Test func repeatingPhaseOccurrencesAndConditionsAtTime() throws {
        let s = try Scenario.parse(yaml: Self.full, source: "full.yaml")
        let minute = TimeSpan.seconds(60)
        #expect(s.phases[1].occurrences(within: s.duration).map(\.lowerBound) == [6, 16, 26, 36, 46, 56].map { minute * $0 })
        #expect(s.phases[3].occurrences(within: s.duration) == [minute * 25..<minute * 60])
        // At 6m30s the downstream latency of phase 1 replaces the baseline latency.
        let down = s.conditions(at: .seconds(390), direction: .downstream)
        #expect(down.first == .latency(LatencyCondition(latency: .milliseconds(400))))
        #expect(down.count == s.link.downstream.count)
        #expect(s.conditions(at: .seconds(390), direction: .upstream).last == .stall(StallCondition(duration: .seconds(2))))
        #expect(s.conditions(at: .seconds(100), direction: .upstream) == s.link.upstream)
        #expect(s.timeline().first?.phase == 0)
    }

    static let minimal = """
        name: minimal
        duration: 10m
        server: { builtin: socketio }
        clients: { builtin: socketio }
        """

    @Test func defaults() throws {
        let s = try Scenario.parse(yaml: Self.minimal)
        #expect(s.seed == 1)
        #expect(s.clients == ClientGroup(count: 1, component: .socketIO(SocketIOClientSettings())))
        #expect(s.server == .socketIO(SocketIOServerSettings(pingInterval: .seconds(25), pingTimeout: .seconds(20))))
        #expect(s.link.isEmpty)
        #expect(s.phases.isEmpty)
        #expect(s.workload == Workload())
        #expect(s.toleratedStall == .seconds(10))
        #expect(s.expectations.isEmpty)
        #expect(s.sweeps.isEmpty)
        #expect(s.repetitions == 1)
        #expect(s.expandSweeps() == [s])
    }

    private func latency(_ text: String) throws -> LatencyCondition {
        let s = try Scenario.parse(yaml: Self.minimal + "\nlink: { upstream: { latency: \(text) } }")
        guard case .latency(let c) = s.link.upstream.first else { throw ScenarioTestFailure("no latency") }
        return c
    }

    @Test func everyDistribution() throws {
        #expect(try latency("40ms") == LatencyCondition(latency: .milliseconds(40)))
        #expect(try latency("{ constant: 5ms }").distribution == .constant(5e6))
        #expect(try latency("{ uniform: { min: 10ms, max: 30ms } }").distribution == .uniform(lower: 10e6, upper: 30e6))
        #expect(try latency("{ normal: { mean: 40ms, stddev: 5ms } }").distribution == .normal(mean: 40e6, standardDeviation: 5e6))
        #expect(try latency("{ lognormal: { median: 40ms, p99: 180ms } }").distribution == Distribution.lognormal(median: 40e6, p99: 180e6))
        #expect(try latency("{ pareto: { scale: 20ms, shape: 2.5 } }").distribution == .pareto(scale: 20e6, shape: 2.5))
        #expect(try latency("{ paretonormal: { mean: 40ms, jitter: 10ms } }").distribution == .paretoNormal(mean: 40e6, standardDeviation: 10e6))
        #expect(try latency("{ empirical: [30ms, 10ms, 20ms] }").distribution == .empirical(try EmpiricalSamples([10e6, 20e6, 30e6])))
        #expect(try latency("{ empirical: { samples: [1ms] } }").distribution == .empirical(try EmpiricalSamples([1e6])))
        #expect(try latency("{ jitter: 3ms }") == LatencyCondition(latency: .zero, jitter: .milliseconds(3)))
        #expect(try latency("{ normal: { mean: 1ms, stddev: 1ms }, correlation: 0.5 }").correlation == 0.5)
    }

    private func link(_ text: String) throws -> LinkConditions {
        try Scenario.parse(yaml: Self.minimal + "\nlink: \(text)").link
    }

    @Test func lossForms() throws {
        #expect(try link("{ upstream: { loss: 1% } }").upstream == [.loss(LossCondition(model: .bernoulli(probability: 0.01)))])
        #expect(try link("{ upstream: { loss: { bernoulli: 0.5 } } }").upstream == [.loss(LossCondition(model: .bernoulli(probability: 0.5)))])
        #expect(try link("{ upstream: { loss: { gilbertElliott: { p: 1%, r: 50% } } } }").upstream
            == [.loss(LossCondition(model: .gilbertElliott(p: 0.01, r: 0.5, lossInBad: 1, lossInGood: 0)))])
        #expect(try link("{ upstream: { loss: { fourState: { p13: 1%, p31: 60% } } } }").upstream
            == [.loss(LossCondition(model: .fourState(p13: 0.01, p31: 0.6, p32: 0, p23: 1, p14: 0)))])
    }

    @Test func shorthandsAndKeywords() throws {
        #expect(try link("{ downstream: stall }").downstream == [.stall(StallCondition())])
        #expect(try link("{ downstream: { stall: {} } }").downstream == [.stall(StallCondition())])
        #expect(try link("{ downstream: { stall: 3s } }").downstream == [.stall(StallCondition(duration: .seconds(3)))])
        #expect(try link("{ downstream: { stall: { duration: 3s } } }").downstream == [.stall(StallCondition(duration: .seconds(3)))])
        #expect(try link("{ downstream: { blackhole: } }").downstream == [.blackhole(BlackholeCondition())])
        #expect(try link("{ downstream: { reset: 2s } }").downstream == [.reset(ResetCondition(after: .seconds(2)))])
        #expect(try link("{ downstream: { idleTimeout: 55s } }").downstream == [.idleTimeout(IdleTimeoutCondition(after: .seconds(55)))])
        #expect(try link("{ downstream: { bandwidth: { rate: 8Mbit/s } } }").downstream == [.bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 1e6)))])
        #expect(try link("{ downstream: { limitData: { bytes: 1KiB } } }").downstream == [.limitData(LimitDataCondition(bytes: 1024))])
        #expect(try link("{ upstream: { slowConnect: { delay: 1s } } }").upstream == [.slowConnect(SlowConnectCondition(delay: .seconds(1)))])
        #expect(try link("{ upstream: { slowClose: 1s } }").upstream == [.slowClose(SlowCloseCondition(delay: .seconds(1)))])
    }

    @Test func externalComponents() throws {
        let yaml = """
            name: ext
            duration: 1m
            server:
              command: [python3, server.py, --port, "{port}", --host, "{host}"]
              env: { PYTHONUNBUFFERED: "1", LISTEN: "{host}:{port}" }
              cwd: servers
              readiness: { http: /health, timeout: 15s }
            clients:
              count: 2
              command: [node, client.js, "http://{host}:{port}", "--id={index}"]
            """
        let s = try Scenario.parse(yaml: yaml)
        guard case .external(let server) = s.server, case .external(let client) = s.clients.component else {
            throw ScenarioTestFailure("expected external components")
        }
        #expect(server.command == ["python3", "server.py", "--port", "{port}", "--host", "{host}"])
        #expect(server.environment == ["PYTHONUNBUFFERED": "1", "LISTEN": "{host}:{port}"])
        #expect(server.workingDirectory == "servers")
        #expect(server.readiness == ReadinessProbe(kind: .http(path: "/health"), timeout: .seconds(15)))
        #expect(server.expandedCommand(["host": "127.0.0.1", "port": "4001"]) == ["python3", "server.py", "--port", "4001", "--host", "127.0.0.1"])
        #expect(server.expandedEnvironment(["host": "127.0.0.1", "port": "4001"])["LISTEN"] == "127.0.0.1:4001")
        #expect(client.readiness == nil)
        #expect(client.expandedCommand(["host": "h", "port": "1", "index": "0"]) == ["node", "client.js", "http://h:1", "--id=0"])
        #expect(s.clients.count == 2)

        let tcp = try Scenario.parse(yaml: yaml.replacing("{ http: /health, timeout: 15s }", with: "tcp"))
        guard case .external(let tcpServer) = tcp.server else { throw ScenarioTestFailure("expected external") }
        #expect(tcpServer.readiness == ReadinessProbe(kind: .tcp, timeout: .seconds(10)))
    }

    @Test func anchorsAliasesAndMergeKeys() throws {
        let yaml = """
            name: anchors
            duration: 10m
            server: { builtin: socketio }
            clients: { builtin: socketio }
            link:
              upstream: &wifi
                latency: { lognormal: { median: 30ms, p99: 200ms } }
              downstream:
                <<: *wifi
                loss: 1%
            """
        let s = try Scenario.parse(yaml: yaml)
        #expect(s.link.downstream.count == 2)
        #expect(s.link.upstream.first == s.link.downstream.last)
    }
}

/// A test failure with a message, for `throw` in tests.
struct ScenarioTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
