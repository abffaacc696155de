import FaultProxy
import Foundation
import Heartbeat
import LabCore
import LiveComponents
import LiveProcesses
import NIOCore
import NIOPosix
import ProtocolTap
import Scenario

/// What a live run stands up before its timeline starts: the server (built in, or an external
/// program probed until ready), Flatline's proxy in front of it with the baseline link (and the
/// Engine.IO tap when the server writes no events of its own), and the clients through the
/// proxy. Everything it starts is registered with the run's `LiveRunParts`, so that it is stopped
/// whatever happens next.
struct LiveTopology {
    /// The run's time origin: every event time counts from here.
    let origin: Instant
    /// The events Flatline's own components write.
    let events: MemoryEventSink
    /// The events the proxy's tap writes for an external server.
    let tapEvents: MemoryEventSink
    /// The proxy's Engine.IO tap, when the server is a program.
    let tap: EngineIOTap?
    /// The proxy between the clients and the server: the first of `proxies`.
    var proxy: Proxy { proxies[0] }
    /// The proxies: one for every client when the scenario has per-connection random faults (so
    /// each client's own episodes apply to its connections alone), otherwise one for all.
    let proxies: [Proxy]
    /// The external server's process, when the server is a program (the first instance's).
    var serverProcess: ExternalProcess? { serverProcesses.first }
    /// Every external server instance's process, as first started.
    let serverProcesses: [ExternalProcess]
    /// The external server's instances as they are now (a `down` phase kills one, its end starts
    /// it again); nil for the built-in server.
    let externalInstances: ExternalInstances?
    /// The built-in server's instances.
    let servers: [EngineIOServer]

    /// Starts the server, then the proxy, then the clients. An external server must be ready
    /// before the run's clock starts; an interruption while waiting for it is an error (nothing ran).
    static func start(_ scenario: Scenario, source: String, seed: UInt64, logs: URL,
                      parts: LiveRunParts) async throws -> LiveTopology {
        let events = MemoryEventSink()
        let tapEvents = MemoryEventSink()
        let folder = URL(fileURLWithPath: source).deletingLastPathComponent()
        let (upstreamPorts, origin, serverProcesses, servers) = try await startServers(scenario, source: source, seed: seed, logs: logs,
                                                                                       folder: folder, events: events, parts: parts)
        // The proxy, with the Engine.IO tap when the server is a program that writes no events.
        var tap: EngineIOTap?
        if case .external = scenario.server { tap = EngineIOTap(events: tapEvents, startedAt: origin) }
        let registry = ProxyRegistry(group: parts.group, seed: seed, observer: tap)
        parts.setRegistry(registry)
        let perClient = scenario.faults.stalls != nil || scenario.faults.deadPeers != nil
        var proxies: [Proxy] = []
        for index in 0..<(perClient ? max(1, scenario.clients.count) : 1) {
            let proxy = try await registry.create(name: perClient ? "\(scenario.name)-c\(index + 1)" : scenario.name,
                                                  listen: HostPort(host: "127.0.0.1", port: 0),
                                                  upstream: HostPort(host: "127.0.0.1", port: upstreamPorts[0]))
            if upstreamPorts.count > 1 || scenario.balance != .roundRobin {
                try proxy.setUpstreams(upstreamPorts.map { HostPort(host: "127.0.0.1", port: $0) }, balance: scenario.balance,
                                       firstTurn: index)
            }
            for toxic in LiveScenarioRun.toxics(scenario.link, prefix: "baseline") { try await proxy.addToxic(toxic) }
            proxies.append(proxy)
        }
        try startClients(scenario, proxyPorts: proxies.map(\.listenAddress.port), source: source, seed: seed, logs: logs,
                         folder: folder, origin: origin, events: events, parts: parts)
        var external: ExternalInstances?
        if case .external(let component) = scenario.server {
            external = ExternalInstances(component: component, ports: upstreamPorts, processes: serverProcesses, folder: folder,
                                         logs: logs, source: source, parts: parts)
        }
        return LiveTopology(origin: origin, events: events, tapEvents: tapEvents, tap: tap, proxies: proxies,
                            serverProcesses: serverProcesses, externalInstances: external, servers: servers)
    }

    /// The server's instances on loopback ports (`server.instances`, one by default): their ports,
    /// the run's origin (after every external instance is ready), the external instances' processes
    /// and the built-in instances.
    private static func startServers(_ scenario: Scenario, source: String, seed: UInt64, logs: URL, folder: URL,
                                     events: MemoryEventSink, parts: LiveRunParts)
        async throws -> (ports: [Int], origin: Instant, processes: [ExternalProcess], servers: [EngineIOServer]) {
        let count = max(1, scenario.serverInstances)
        switch scenario.server {
        case .external(let component):
            var ports: [Int] = []
            var processes: [ExternalProcess] = []
            for instance in 1...count {
                let port = try ReadinessCheck.freeLoopbackPort()
                let values = ["host": "127.0.0.1", "port": "\(port)", "instance": "\(instance)"]
                let process = try LiveScenarioRun.startProgram(component, name: instance == 1 ? "server" : "server-\(instance)",
                                                               field: "server", values: values,
                                                               folder: folder, logs: logs, scenario: source, parts: parts)
                ports.append(port)
                processes.append(process)
            }
            let probe = component.readiness ?? ReadinessProbe(kind: .tcp)
            for (port, process) in zip(ports, processes) {
                do {
                    try await ReadinessCheck.wait(for: probe, port: port, process: process, group: parts.group)
                } catch is CancellationError {
                    throw RunnerError(scenario: source, message: "interrupted while waiting for the server to be ready; nothing ran")
                } catch let error as ReadinessError {
                    throw RunnerError(scenario: source, message: count == 1 ? "server: \(error.message)"
                                      : "server (instance \(processes.firstIndex { $0 === process }.map { $0 + 1 } ?? 0)): \(error.message)")
                }
            }
            return (ports, Instant.monotonicNow(), processes, [])
        case .socketIO(let settings):
            let origin = Instant.monotonicNow()
            var servers: [EngineIOServer] = []
            let loops = Array(parts.serverGroup.makeIterator())
            for instance in 1...count {
                var serverConfig = EngineIOServerConfiguration()
                serverConfig.pingInterval = settings.pingInterval
                serverConfig.pingTimeout = settings.pingTimeout
                // Each instance its own session ids (and recovery store: no shared adapter).
                serverConfig.seed = instance == 1 ? seed : seed &+ UInt64(instance) &* 0x9e37_79b9
                serverConfig.instance = count > 1 ? instance : nil
                // server.stack python-socketio: the same service-task phase as the simulation's run 0.
                serverConfig.serviceSweepPhase = settings.serviceSweepPhase(seed: seed, run: 0)
                serverConfig.detector = settings.detector
                serverConfig.recovery = settings.connectionStateRecovery
                serverConfig.emitInterval = scenario.workload.serverToClient?.rate.interval
                serverConfig.emitSize = Int(scenario.workload.serverToClient?.size.bytes ?? 64)
                serverConfig.broadcastInterval = scenario.workload.broadcast?.rate.interval
                serverConfig.broadcastSize = Int(scenario.workload.broadcast?.size.bytes ?? 64)
                serverConfig.broadcastReplay = scenario.workload.broadcastReplay
                serverConfig.broadcastRooms = scenario.workload.broadcastRoomNames
                if case .socketIO(let client) = scenario.clients.component, let ping = client.application.customPing {
                    serverConfig.pingEvent = ping.pingEvent
                    serverConfig.pongEvent = ping.pongEvent
                }
                // On an event loop of its own, so that a `server: pause` phase can block it alone.
                let server = try await EngineIOServer.start(group: loops[(instance - 1) % loops.count], port: 0, configuration: serverConfig,
                                                            events: events, startedAt: origin)
                parts.addServer(server)
                servers.append(server)
            }
            return (servers.map(\.port), origin, [], servers)
        }
    }

    /// The clients, all through the proxy: built-in ones configured from the scenario, or one
    /// external program per client.
    private static func startClients(_ scenario: Scenario, proxyPorts: [Int], source: String, seed: UInt64, logs: URL,
                                     folder: URL, origin: Instant, events: MemoryEventSink, parts: LiveRunParts) throws {
        // Client i (0-based) goes through its own proxy when there is one per client.
        func proxyPort(_ i: Int) -> Int { proxyPorts[min(i, proxyPorts.count - 1)] }
        switch scenario.clients.component {
        case .socketIO(let clientSettings):
            for i in 0..<scenario.clients.count {
                var c = SocketIOClientConfiguration()
                c.name = "c\(i + 1)"
                // The CONNECT payload: as the scenario says; unsaid, Flatline's own name for its own
                // server (which logs the connection under it) and none for an external one, whose
                // connect handler may take no auth (python-socketio's `connect(sid, environ)`).
                switch clientSettings.auth {
                case .object(let object)?:
                    c.auth = object
                    if case .socketIO = scenario.server, object["flatline"] == nil { c.auth?["flatline"] = .string(c.name) }
                case .none?:
                    c.auth = nil
                case nil:
                    if case .socketIO = scenario.server { c.auth = ["flatline": .string(c.name)] }
                }
                c.connectTimeout = clientSettings.connectTimeout
                c.reconnection = clientSettings.reconnection.options
                c.seed = seed &+ UInt64(i)
                c.emitInterval = scenario.workload.clientToServer?.rate.interval
                c.broadcastReplay = scenario.workload.broadcastReplay
                c.broadcastRoom = scenario.workload.broadcastRoom(ofClient: i)
                c.healthCheck = clientSettings.application.healthCheck?.options
                c.customPing = clientSettings.application.customPing?.options
                c.heartbeat = clientSettings.heartbeat
                c.transports = clientSettings.transports
                let throttle = scenario.clientTimerThrottle
                if !throttle.isEmpty {
                    c.timerDeadline = { due in origin + throttle.deadline(due - origin) }
                }
                parts.addClient(SocketIOClient.start(group: parts.group, endpoint: EngineIOEndpoint(host: "127.0.0.1", port: proxyPort(i)),
                                                     configuration: c, events: events, startedAt: origin))
            }
        case .external(let component):
            for index in 1...max(1, scenario.clients.count) {
                let values = ["host": "127.0.0.1", "port": "\(proxyPort(index - 1))", "index": "\(index)"]
                _ = try LiveScenarioRun.startProgram(component, name: "client-\(index)", field: "clients", values: values,
                                                     folder: folder, logs: logs, scenario: source, parts: parts)
            }
        }
    }
}

/// Applies a scenario's timeline to a live topology on the wall clock: each phase occurrence adds
/// its toxics to the proxy at its start and removes them at its end (logging a `fault` event), and
/// each server pause blocks the built-in server's event loop, or stops and continues an external
/// server's process group. Everything fires from event-loop timers registered with the run's parts.
enum LivePhaseScheduler {
    /// Arms every phase change and pause of `scenario` against `topology.origin`.
    static func schedule(_ scenario: Scenario, on topology: LiveTopology, parts: LiveRunParts, seed: UInt64) {
        let start = topology.origin
        let proxies = topology.proxies
        let events = topology.events
        var changes: [(at: TimeSpan, add: Bool, toxics: [Toxic], note: String?)] = []
        for (k, occurrence) in scenario.timeline().enumerated() {
            let phase = scenario.phases[occurrence.phase]
            let phaseToxics = LiveScenarioRun.toxics(phase.conditions, prefix: "phase\(k)")
            changes.append((occurrence.range.lowerBound, true, phaseToxics, phase.note))
            if occurrence.range.upperBound < scenario.duration {
                changes.append((occurrence.range.upperBound, false, phaseToxics, nil))
            }
        }
        changes.sort { ($0.at, $0.add ? 1 : 0) < ($1.at, $1.add ? 1 : 0) }
        // Phase changes fire from event-loop timers: precise, and independent of how busy the
        // Swift concurrency pool is (a Task.sleep can resume late on a loaded machine).
        let loop = parts.group.next()
        for change in changes {
            parts.addTimer(loop.scheduleTask(deadline: deadline(start + change.at)) {
                if change.add {
                    for proxy in proxies { proxy.changeToxics(adding: change.toxics, removing: []) }
                    events.record(LabEvent(time: Instant.monotonicNow() - start, connection: "*", side: .proxy, kind: .fault,
                                           detail: change.note ?? "phase"))
                } else {
                    for proxy in proxies { proxy.changeToxics(adding: [], removing: change.toxics.map(\.name)) }
                }
            })
        }
        scheduleFaults(scenario, on: topology, parts: parts, seed: seed, loop: loop)

        // Server pauses: the built-in server's event loop is blocked (it reads and runs nothing,
        // then, as NIO does, reads before it runs the timers that came due); an external server's
        // process group is stopped and continued.
        for pause in scenario.serverPauses {
            let from = deadline(start + pause.lowerBound)
            let until = start + pause.upperBound
            if let external = topology.externalInstances {
                // Every instance's process of the moment.
                parts.addTimer(loop.scheduleTask(deadline: from) { for process in external.current { process.suspend() } })
                parts.addTimer(loop.scheduleTask(deadline: deadline(until)) { for process in external.current { process.resume() } })
            } else {
                // Every instance's loop (one each).
                for serverLoop in parts.serverGroup.makeIterator() {
                    parts.addTimer(serverLoop.scheduleTask(deadline: from) { parts.blockServerLoop(until: until) })
                }
            }
        }
    }

    /// The scenario's random faults on the wall clock, run 0 of `seed` as the simulation draws them:
    /// each client's own episodes on its own proxy (logged on its connection, as the simulator
    /// words them), and server restarts emulated at the proxies: every connection through them is
    /// reset and new ones are refused while the server is down (the server process keeps running).
    private static func scheduleFaults(_ scenario: Scenario, on topology: LiveTopology, parts: LiveRunParts, seed: UInt64,
                                       loop: any EventLoop) {
        let start = topology.origin
        let events = topology.events
        /// Logs a fault event now, on `connection` ("*": none in particular).
        let fault: @Sendable (String, String) -> Void = { detail, connection in
            events.record(LabEvent(time: Instant.monotonicNow() - start, connection: connection, side: .proxy, kind: .fault, detail: detail))
        }
        if topology.proxies.count > 1 {
            for (index, proxy) in topology.proxies.enumerated() {
                for (k, episode) in scenario.faultEpisodes(connection: index, seed: seed, run: 0).enumerated() {
                    let toxics = LiveScenarioRun.toxics(episode.conditions, prefix: "episode\(k)")
                    let label = "random \(episode.conditions.kindsLabel)"
                    let connection = "c\(index + 1)"
                    parts.addTimer(loop.scheduleTask(deadline: deadline(start + episode.start)) {
                        proxy.changeToxics(adding: toxics, removing: [])
                        fault("\(label) starts", connection)
                    })
                    if episode.end < scenario.duration {
                        parts.addTimer(loop.scheduleTask(deadline: deadline(start + episode.end)) {
                            proxy.changeToxics(adding: [], removing: toxics.map(\.name))
                            fault("\(label) ends", connection)
                        })
                    }
                }
            }
        }
        // Each restart's down and up run in order, whatever the machine's load.
        let serial = SerialTasks()
        // A paused instance: its event loop is blocked (built-in), its process group stopped (external).
        for pause in scenario.instancePauses {
            let label = "instance \(pause.instance + 1)"
            let from = deadline(start + pause.range.lowerBound)
            let until = start + pause.range.upperBound
            // An external instance's process of the moment (a `down` phase may have replaced it).
            let external = topology.externalInstances
            parts.addTimer(loop.scheduleTask(deadline: from) {
                fault("\(label): pause starts", "*")
                external?.process(of: pause.instance)?.suspend()
            })
            parts.addTimer(loop.scheduleTask(deadline: deadline(until)) {
                fault("\(label): pause ends", "*")
                external?.process(of: pause.instance)?.resume()
            })
            if external == nil, topology.servers.indices.contains(pause.instance) {
                parts.addTimer(topology.servers[pause.instance].eventLoop.scheduleTask(deadline: from) { parts.blockServerLoop(until: until) })
            }
        }
        // A blackholed instance: toxics on every proxy that drop both ways on its connections alone.
        for (k, blackhole) in scenario.instanceBlackholes.enumerated() {
            let proxies = topology.proxies
            let label = "instance \(blackhole.instance + 1)"
            let toxics = LinkDirection.allCases.map { direction in
                Toxic(name: "instance\(blackhole.instance)-blackhole\(k)-\(direction.rawValue)", type: "blackhole", stream: direction,
                      condition: .blackhole(BlackholeCondition()), upstream: blackhole.instance)
            }
            parts.addTimer(loop.scheduleTask(deadline: deadline(start + blackhole.range.lowerBound)) {
                for proxy in proxies { proxy.changeToxics(adding: toxics, removing: []) }
                fault("\(label): blackhole starts", "*")
            })
            if blackhole.range.upperBound < scenario.duration {
                parts.addTimer(loop.scheduleTask(deadline: deadline(start + blackhole.range.upperBound)) {
                    for proxy in proxies { proxy.changeToxics(adding: [], removing: toxics.map(\.name)) }
                    fault("\(label): blackhole ends", "*")
                })
            }
        }
        // An instance that is down: taken out of the balancing and its connections reset at the
        // proxies; an external instance's process is killed (SIGKILL) and started again at the end,
        // back in the balancing once it is ready; a built-in one loses its recovery store.
        for outage in scenario.instanceOutages {
            let proxies = topology.proxies
            let servers = topology.servers
            let external = topology.externalInstances
            let label = "instance \(outage.instance + 1)"
            parts.addTimer(loop.scheduleTask(deadline: deadline(start + outage.range.lowerBound)) {
                fault("\(label): down", "*")
                serial.then {
                    for proxy in proxies {
                        try? proxy.setUpstream(outage.instance, enabled: false)
                        await proxy.dropConnections(toUpstream: outage.instance)
                    }
                    if servers.indices.contains(outage.instance) { servers[outage.instance].clearRecovery() }
                    await external?.crash(outage.instance)
                }
            })
            if outage.range.upperBound < scenario.duration {
                parts.addTimer(loop.scheduleTask(deadline: deadline(start + outage.range.upperBound)) {
                    fault("\(label): up", "*")
                    serial.then {
                        if let external, !(await external.restart(outage.instance)) { return }
                        for proxy in proxies { try? proxy.setUpstream(outage.instance, enabled: true) }
                    }
                })
            }
        }
        for restart in scenario.serverRestarts(seed: seed, run: 0) {
            let proxies = topology.proxies
            parts.addTimer(loop.scheduleTask(deadline: deadline(start + restart.lowerBound)) {
                fault("server restart: down", "*")
                serial.then { for proxy in proxies { await proxy.disable() } }
            })
            if restart.upperBound < scenario.duration {
                parts.addTimer(loop.scheduleTask(deadline: deadline(start + restart.upperBound)) {
                    fault("server restart: up", "*")
                    serial.then { for proxy in proxies { try? await proxy.enable() } }
                })
            }
        }
    }

    /// The event-loop deadline of an instant on the monotonic clock.
    private static func deadline(_ instant: Instant) -> NIODeadline {
        .uptimeNanoseconds(UInt64(max(0, instant.nanoseconds)))
    }
}

/// Asynchronous work run one piece after another, in the order it was given.
final class SerialTasks: @unchecked Sendable {
    private let lock = NSLock()
    private var last: Task<Void, Never>?

    /// Runs `work` after everything given before it has finished.
    func then(_ work: @escaping @Sendable () async -> Void) {
        lock.withLock {
            let previous = last
            last = Task {
                await previous?.value
                await work()
            }
        }
    }
}

/// An external server's instances during a live run: which process is each one's now. A `down`
/// phase kills an instance's process (a crash: SIGKILL) and its end starts the program again on the
/// same port, as "server-2.2" (the second start of instance 2) in the results' programs and logs.
final class ExternalInstances: @unchecked Sendable {
    private let component: ExternalComponent
    private let ports: [Int]
    private let folder: URL
    private let logs: URL
    private let source: String
    private let parts: LiveRunParts
    private let lock = NSLock()
    private var processes: [ExternalProcess]
    private var starts: [Int]

    init(component: ExternalComponent, ports: [Int], processes: [ExternalProcess], folder: URL, logs: URL, source: String,
         parts: LiveRunParts) {
        self.component = component
        self.ports = ports
        self.processes = processes
        self.folder = folder
        self.logs = logs
        self.source = source
        self.parts = parts
        starts = Array(repeating: 1, count: processes.count)
    }

    /// Instance `instance`'s (0-based) process now.
    func process(of instance: Int) -> ExternalProcess? {
        lock.withLock { processes.indices.contains(instance) ? processes[instance] : nil }
    }

    /// Every instance's process now.
    var current: [ExternalProcess] { lock.withLock { processes } }

    /// Kills instance `instance`'s process at once.
    func crash(_ instance: Int) async {
        await process(of: instance)?.crash()
    }

    /// Starts instance `instance`'s program again on its port and waits until it is ready; false
    /// when it could not be started or did not get ready (it stays out of the balancing).
    func restart(_ instance: Int) async -> Bool {
        guard ports.indices.contains(instance) else { return false }
        let number = lock.withLock { () -> Int in
            starts[instance] += 1
            return starts[instance]
        }
        let values = ["host": "127.0.0.1", "port": "\(ports[instance])", "instance": "\(instance + 1)"]
        guard let process = try? LiveScenarioRun.startProgram(component, name: "server-\(instance + 1).\(number)", field: "server",
                                                              values: values, folder: folder, logs: logs, scenario: source,
                                                              parts: parts) else { return false }
        lock.withLock { processes[instance] = process }
        do {
            try await ReadinessCheck.wait(for: component.readiness ?? ReadinessProbe(kind: .tcp), port: ports[instance],
                                          process: process, group: parts.group)
            return true
        } catch {
            return false
        }
    }
}
