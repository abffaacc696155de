import FaultProxy
import Heartbeat
import LabCore
import LiveComponents
import NIOCore
import NIOPosix

/// Runs a scenario live on loopback: Flatline's fault proxy between the built-in Socket.IO server
/// and N built-in clients, the baseline link and the phase timeline applied to the proxy on the
/// wall clock, everything writing one event log with one time origin. The same metrics and
/// verdicts as a simulated run then read that log.
public enum LiveScenarioRun {
    /// Runs `scenario` (already time-scaled) and returns its events in time order.
    public static func run(_ scenario: Scenario, source: String, seed: UInt64) async throws -> [LabEvent] {
        guard case .socketIO(let serverSettings) = scenario.server,
              case .socketIO(let clientSettings) = scenario.clients.component else {
            throw RunnerError(scenario: source, message: "external components in live runs are not implemented yet")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let events = MemoryEventSink()
        let start = Instant.monotonicNow()
        var serverConfig = EngineIOServerConfiguration()
        serverConfig.pingInterval = serverSettings.pingInterval
        serverConfig.pingTimeout = serverSettings.pingTimeout
        serverConfig.seed = seed
        serverConfig.emitInterval = scenario.workload.serverToClient?.rate.interval
        serverConfig.emitSize = Int(scenario.workload.serverToClient?.size.bytes ?? 64)
        let server = try await EngineIOServer.start(group: group, port: 0, configuration: serverConfig, events: events,
                                                    startedAt: start)
        let registry = ProxyRegistry(group: group, seed: seed)
        let proxy = try await registry.create(name: scenario.name, listen: HostPort(host: "127.0.0.1", port: 0),
                                              upstream: HostPort(host: "127.0.0.1", port: server.port))
        for toxic in toxics(scenario.link, prefix: "baseline") { try await proxy.addToxic(toxic) }

        var clients: [SocketIOClient] = []
        for i in 0..<scenario.clients.count {
            var c = SocketIOClientConfiguration()
            c.name = "c\(i + 1)"
            c.connectTimeout = clientSettings.connectTimeout
            c.reconnection = clientSettings.reconnection.options
            c.seed = seed &+ UInt64(i)
            c.emitInterval = scenario.workload.clientToServer?.rate.interval
            clients.append(SocketIOClient.start(group: group, endpoint: EngineIOEndpoint(host: "127.0.0.1", port: proxy.listenAddress.port),
                                                configuration: c, events: events, startedAt: start))
        }

        // The timeline: each phase occurrence adds its toxics at its start and removes them at its end.
        var changes: [(at: TimeSpan, add: Bool, toxics: [Toxic], note: String?)] = []
        for (k, occurrence) in scenario.timeline().enumerated() {
            let phase = scenario.phases[occurrence.phase]
            let phaseToxics = toxics(phase.conditions, prefix: "phase\(k)")
            changes.append((occurrence.range.lowerBound, true, phaseToxics, phase.note))
            if occurrence.range.upperBound < scenario.duration {
                changes.append((occurrence.range.upperBound, false, phaseToxics, nil))
            }
        }
        changes.sort { ($0.at, $0.add ? 1 : 0) < ($1.at, $1.add ? 1 : 0) }
        // Phase changes fire from event-loop timers: precise, and independent of how busy the
        // Swift concurrency pool is (a Task.sleep can resume late on a loaded machine).
        let loop = group.next()
        for change in changes {
            let deadline = NIODeadline.uptimeNanoseconds(UInt64(max(0, (start + change.at).nanoseconds)))
            loop.scheduleTask(deadline: deadline) {
                if change.add {
                    proxy.changeToxics(adding: change.toxics, removing: [])
                    events.record(LabEvent(time: Instant.monotonicNow() - start, connection: "*", side: .proxy, kind: .fault,
                                           detail: change.note ?? "phase"))
                } else {
                    proxy.changeToxics(adding: [], removing: change.toxics.map(\.name))
                }
            }
        }
        try await sleep(until: start + scenario.duration)
        for client in clients { await client.stop() }
        await server.stop()
        await registry.removeAll()
        try await group.shutdownGracefully()
        // The teardown (clients disconnecting at the end) is not part of the run.
        return events.events.filter { $0.time < scenario.duration }.sorted { $0.time < $1.time }
    }

    /// One proxy toxic per condition and direction, named so phases never collide.
    static func toxics(_ conditions: LinkConditions, prefix: String) -> [Toxic] {
        var out: [Toxic] = []
        for direction in LinkDirection.allCases {
            for (i, condition) in conditions[direction].enumerated() {
                out.append(Toxic(name: "\(prefix)-\(direction.rawValue)-\(i)-\(condition.kind)", type: condition.kind,
                                 stream: direction, condition: condition))
            }
        }
        return out
    }

    static func sleep(until instant: Instant) async throws {
        let wait = instant - Instant.monotonicNow()
        if wait > .zero { try await Task.sleep(nanoseconds: UInt64(wait.nanoseconds)) }
    }
}
