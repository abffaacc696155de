import FaultProxy
import Foundation
import Heartbeat
import LabCore
import LiveComponents
import LiveProcesses
import Logging
import NIOCore
import NIOPosix
import ProtocolTap
import ServiceLifecycle
import Scenario

/// What a live run produced: its events, how long it actually ran, whether it was interrupted,
/// and the programs it started.
public struct LiveRunOutcome: Sendable {
    /// The run's events in time order, times from the run's start, cut at `ranFor`.
    public var events: [LabEvent]
    /// How long the run ran: the scenario's duration, or less when it was interrupted.
    public var ranFor: TimeSpan
    /// Whether the run was interrupted (its task cancelled, e.g. on SIGINT) before its end.
    public var interrupted: Bool
    /// The external programs it started, all stopped by the time it returns.
    public var programs: [StartedProgram]
    /// The run's time origin (CLOCK_MONOTONIC): event times count from here.
    public var origin: Instant
    /// The events without the proxy tap's, when the tap spoke: used instead of `events` when the
    /// external server turns out to write its own event log, which says more than the tap.
    var withoutTap: [LabEvent]?
}

/// An external program a live run started, once it has been stopped.
public struct StartedProgram: Sendable, Hashable {
    /// Its name in the results: "server" or "client-N".
    public var name: String
    /// Its process id while it ran.
    public var pid: Int32
    /// The command line as started, templates expanded.
    public var command: [String]
    /// How it ended ("exit status 0", "killed by signal 15").
    public var exit: String?
    /// Whether it had exited on its own before the run stopped it.
    public var exitedOnItsOwn: Bool
    /// Its standard output file.
    public var stdout: URL
    /// Its standard error file.
    public var stderr: URL
    /// How many events of its own log (lines of its stdout in Flatline's event format) were merged
    /// into the run's log.
    public var eventsMerged = 0
    /// The last stack trace it printed on stderr (a handler that raised), when it printed one.
    public var traceback: String?
}

/// Runs a scenario live on loopback: Flatline's fault proxy between the server (built in, or an
/// external program started on a free loopback port and probed until ready) and N clients (built
/// in, or N external programs), the baseline link and the phase timeline applied to the proxy on
/// the wall clock, everything writing one event log with one time origin. The same metrics and
/// verdicts as a simulated run then read that log. External programs are observed through the
/// proxy's Engine.IO tap and always stopped at the end, on error and on interruption.
public enum LiveScenarioRun {
    /// How long a stopped program gets between SIGTERM and SIGKILL.
    public static let stopGrace: TimeSpan = .seconds(2)

    /// Runs `scenario` (already time-scaled) and returns its events in time order. External
    /// programs' output goes to `<logDirectory>/<name>.stdout|.stderr` (a temporary folder when nil).
    /// Cancelling the calling task ends the run early: everything is stopped and the outcome is
    /// marked interrupted (before the clients started, a `RunnerError` says so instead).
    public static func run(_ scenario: Scenario, source: String, seed: UInt64, logDirectory: URL? = nil) async throws -> LiveRunOutcome {
        let parts = LiveRunParts(group: MultiThreadedEventLoopGroup(numberOfThreads: 2),
                                 // One event loop for each built-in server instance, so that a pause blocks it alone.
                                 serverGroup: MultiThreadedEventLoopGroup(numberOfThreads: max(1, scenario.serverInstances)))
        let logs = logDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("flatline-logs-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        do {
            var outcome = try await runParts(scenario, source: source, seed: seed, logs: logs, parts: parts)
            await parts.shutdown()
            outcome.programs = parts.startedPrograms()
            // An external component that writes Flatline's event log (docs/events.md) on its
            // stdout, `flatline serve` for one, has its events merged, moved to the run's clock.
            var collected: [LabEvent] = []
            var serverLogged = false
            // A session logged under its Engine.IO sid is the built-in client that was given it.
            let names = parts.clientNamesBySid()
            for (i, program) in outcome.programs.enumerated() {
                guard let started = parts.startInstant(of: program.name) else { continue }
                var events = Self.ownEvents(in: program.stdout, shift: started - outcome.origin, before: outcome.ranFor)
                for k in events.indices { if let name = names[events[k].connection] { events[k].connection = name } }
                outcome.programs[i].eventsMerged = events.count
                if Self.isServerProgram(program.name), !events.isEmpty { serverLogged = true }
                collected += events
            }
            if !collected.isEmpty {
                // A server that logs for itself makes the tap redundant (and the tap, which sees
                // nothing of a close swallowed by a blackhole, would report missed detections).
                let base = serverLogged ? (outcome.withoutTap ?? outcome.events) : outcome.events
                outcome.events = (base + collected).sorted { $0.time < $1.time }
            }
            return outcome
        } catch {
            await parts.shutdown()
            throw error
        }
    }

    private static func runParts(_ scenario: Scenario, source: String, seed: UInt64, logs: URL,
                                 parts: LiveRunParts) async throws -> LiveRunOutcome {
        let topology = try await LiveTopology.start(scenario, source: source, seed: seed, logs: logs, parts: parts)
        let start = topology.origin
        LivePhaseScheduler.schedule(scenario, on: topology, parts: parts, seed: seed)

        // The run's clock is a service in the group of everything the run started: it ends at the
        // scenario's end, or early when the calling task is cancelled (Ctrl-C); then the group
        // shuts down gracefully, in order (see LiveRunParts.runUntilStopped).
        let clock = LiveRunClock(end: start + scenario.duration)
        await parts.runUntilStopped(clock: clock)
        var ranFor = scenario.duration
        let interrupted = clock.interrupted
        if interrupted {
            // Whole milliseconds, so the results print it plainly ("3449ms").
            let elapsed = clock.stoppedAt - start
            ranFor = min(scenario.duration, .milliseconds(elapsed.nanoseconds / 1_000_000))
        }
        // The group's shutdown cancelled the phases' timers while the loops still ran (cancelling
        // one later would ask a loop that has shut down to run its promise's failure).
        // The teardown (clients disconnecting at the end) is not part of the run.
        let own = topology.events.events.filter { $0.time < ranFor }
        var tapped = topology.tapEvents.events.filter { $0.time < ranFor && keepTapEvent($0, scenario: scenario) }
        // The tap's view of a session goes under the name of the built-in client the server gave
        // its sid to, so that both sides of one connection are one connection in the metrics.
        let names = parts.clientNamesBySid()
        if let sids = topology.tap?.sessionIDs, !names.isEmpty {
            for k in tapped.indices {
                if let sid = sids[tapped[k].connection], let name = names[sid] { tapped[k].connection = name }
            }
        }
        let inRun = (own + tapped).sorted { $0.time < $1.time }
        var outcome = LiveRunOutcome(events: inRun, ranFor: ranFor, interrupted: interrupted, programs: [], origin: start)
        outcome.withoutTap = tapped.isEmpty ? nil : own.sorted { $0.time < $1.time }
        return outcome
    }

    /// Whether a tap event adds to what Flatline's own components log: the tap speaks for the
    /// external server (its pings, its side of connects and closes, the RTTs seen at the proxy);
    /// a disconnect the tap attributes to a built-in client is dropped, since that client logs
    /// its own with the reason it acted on.
    static func keepTapEvent(_ event: LabEvent, scenario: Scenario) -> Bool {
        guard event.kind == .disconnect || event.kind == .connect, event.side == .client else { return true }
        if case .socketIO = scenario.clients.component { return false }
        return true
    }

    /// Starts one external program with its templates expanded and its working directory resolved
    /// against the scenario file's folder; errors name the scenario and the field.
    /// Whether a started program is one of the server's instances ("server", "server-2", …).
    static func isServerProgram(_ name: String) -> Bool { name == "server" || name.hasPrefix("server-") }

    static func startProgram(_ component: ExternalComponent, name: String, field: String, values: [String: String],
                             folder: URL, logs: URL, scenario: String, parts: LiveRunParts) throws -> ExternalProcess {
        let directory = component.directory(relativeTo: folder)
        let command = component.expandedCommand(values)
        do {
            let process = try ExternalProcess.start(name: name, arguments: command, environment: component.expandedEnvironment(values),
                                                    workingDirectory: directory.standardizedFileURL, logDirectory: logs)
            parts.addProcess(process, command: command)
            return process
        } catch {
            throw RunnerError(scenario: scenario, message: "\(field).command: \(error.message)")
        }
    }

    /// The lines of a program's stdout that are Flatline events, their times (which count from the
    /// program's own start) moved by `shift` to the run's clock; those outside the run are dropped,
    /// and every other line is ignored.
    static func ownEvents(in stdout: URL, shift: TimeSpan, before end: TimeSpan) -> [LabEvent] {
        guard let data = try? Data(contentsOf: stdout), !data.isEmpty else { return [] }
        var events: [LabEvent] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.first == "{" {
            guard var event = try? LabEvent(jsonLine: String(line)) else { continue }
            event.time = event.time + shift
            if event.time >= .zero, event.time < end { events.append(event) }
        }
        return events
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

/// Everything a live run started, so that it can all be stopped, whatever happened: clients
/// first (external ones with SIGTERM, then SIGKILL after the grace period), then the server, the
/// proxy and the event loops.
final class LiveRunParts: @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    /// The built-in server's own event loop, which a `server: pause` phase blocks.
    let serverGroup: MultiThreadedEventLoopGroup
    private let lock = NSLock()
    private var servers: [EngineIOServer] = []
    private var registry: ProxyRegistry?
    private var clients: [SocketIOClient] = []
    private var processes: [(process: ExternalProcess, command: [String])] = []
    private var timers: [Scheduled<Void>] = []
    private var stopped = false
    private var began = false

    init(group: MultiThreadedEventLoopGroup, serverGroup: MultiThreadedEventLoopGroup) {
        self.group = group
        self.serverGroup = serverGroup
    }

    /// Blocks the calling thread (the built-in server's event loop) until `instant`, or until the
    /// run is being stopped: a `server: pause` phase.
    func blockServerLoop(until instant: Instant) {
        while Instant.monotonicNow() < instant, !lock.withLock({ stopped }) {
            let left = instant - Instant.monotonicNow()
            usleep(UInt32(max(0, min(left.nanoseconds / 1_000, 5_000))))
        }
    }

    func addServer(_ server: EngineIOServer) { lock.withLock { servers.append(server) } }
    func setRegistry(_ registry: ProxyRegistry) { lock.withLock { self.registry = registry } }
    func addClient(_ client: SocketIOClient) { lock.withLock { clients.append(client) } }

    /// Each built-in client's name by every Engine.IO sid a server gave it.
    func clientNamesBySid() -> [String: String] {
        var names: [String: String] = [:]
        for client in lock.withLock({ clients }) {
            for sid in client.engineIOSids { names[sid] = client.configuration.name }
        }
        return names
    }
    func addProcess(_ process: ExternalProcess, command: [String]) { lock.withLock { processes.append((process, command)) } }
    func addTimer(_ timer: Scheduled<Void>) { lock.withLock { timers.append(timer) } }

    /// Cancels the phases' timers once: later calls find none (a cancel must reach a running loop).
    func cancelTimers() {
        let pending = lock.withLock { () -> [Scheduled<Void>] in
            defer { timers = [] }
            return timers
        }
        for timer in pending { timer.cancel() }
    }

    /// When the program named `name` was started.
    func startInstant(of name: String) -> Instant? {
        lock.withLock { processes.first { $0.process.name == name }?.process.startedAt }
    }

    /// The programs started, with how they ended (after `shutdown`).
    func startedPrograms() -> [StartedProgram] {
        lock.withLock { processes }.map {
            StartedProgram(name: $0.process.name, pid: $0.process.pid, command: $0.command, exit: $0.process.exitDescription,
                           exitedOnItsOwn: $0.process.exitedOnItsOwn, stdout: $0.process.stdoutURL, stderr: $0.process.stderrURL,
                           traceback: StackTrace.last(inFile: $0.process.stderrURL))
        }
    }

    /// Stops everything once (after an error, or when the run is over): the same ordered,
    /// graceful shutdown as `runUntilStopped`, with no clock to wait for.
    func shutdown() async {
        await runUntilStopped(clock: nil)
    }

    /// Runs what the run started as one swift-service-lifecycle `ServiceGroup`: `clock` (the run's
    /// timeline) until the scenario's end, or until the calling task is cancelled, which triggers
    /// the group's graceful shutdown instead of cancelling its services, so that they stop in order,
    /// the reverse of the group's: clients and client programs (SIGTERM, then SIGKILL after the
    /// grace period), the server's program, the built-in server, the proxy. Then the event loops
    /// shut down. Runs once; a second call returns at once.
    func runUntilStopped(clock: LiveRunClock?) async {
        let first = lock.withLock { () -> Bool in
            defer { began = true }
            return !began
        }
        guard first else { return }
        let (servers, registry, clients, processes) = lock.withLock {
            (self.servers, self.registry, self.clients, self.processes.map { $0.process })
        }
        let clientPrograms = processes.filter { !LiveScenarioRun.isServerProgram($0.name) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: LiveRunPart(name: "proxy") { await registry?.removeAll() }),
            .init(service: LiveRunPart(name: "server") { for server in servers { await server.stop() } }),
            .init(service: LiveRunPart(name: "server program") { [self] in
                // Read when it stops: an instance started again during the run is stopped too.
                let programs = lock.withLock { self.processes.map(\.process) }.filter { LiveScenarioRun.isServerProgram($0.name) }
                await withTaskGroup(of: Void.self) { tasks in
                    for program in programs { tasks.addTask { await program.stop(grace: LiveScenarioRun.stopGrace) } }
                }
            }),
            .init(service: LiveRunPart(name: "clients") { [self] in
                // From here on a `server: pause` that is still blocking the server's loop lets go.
                lock.withLock { stopped = true }
                cancelTimers()
                await withTaskGroup(of: Void.self) { tasks in
                    for client in clients { tasks.addTask { await client.stop() } }
                    for program in clientPrograms { tasks.addTask { await program.stop(grace: LiveScenarioRun.stopGrace) } }
                }
            }),
        ]
        services.append(.init(service: clock ?? LiveRunClock(end: .zero), successTerminationBehavior: .gracefullyShutdownGroup))
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services, logger: Logger(label: "flatline.live-run", factory: { _ in SwiftLogNoOpLogHandler() })))
        // Not a child of the calling task: its cancellation must shut the group down gracefully,
        // in order, not cancel every part at once.
        let running = Task { try? await serviceGroup.run() }
        await withTaskCancellationHandler {
            await running.value
        } onCancel: {
            Task { await serviceGroup.triggerGracefulShutdown() }
        }
        try? await group.shutdownGracefully()
        try? await serverGroup.shutdownGracefully()
    }
}

/// A live run's clock as a service: it waits until the scenario's end (event-loop timers fire the
/// phases meanwhile), or until the group shuts down early, and says which happened and when.
final class LiveRunClock: Service, @unchecked Sendable {
    private let end: Instant
    private let lock = NSLock()
    private var stopped: (at: Instant, early: Bool)?

    /// A clock that ends at `end` (monotonic clock).
    init(end: Instant) { self.end = end }

    /// Whether the run ended before its end (an interruption).
    var interrupted: Bool { lock.withLock { stopped?.early ?? false } }
    /// When the clock stopped.
    var stoppedAt: Instant { lock.withLock { stopped?.at ?? end } }

    func run() async throws {
        var early = false
        do {
            try await cancelWhenGracefulShutdown { [end] in try await LiveScenarioRun.sleep(until: end) }
        } catch is CancellationError {
            early = true
        }
        let now = Instant.monotonicNow()
        lock.withLock { stopped = (now, early && now < end) }
    }
}

/// One part of a live run as a service: it runs until the group's graceful shutdown, then stops
/// its part (`stop` is never cancelled halfway: programs get their grace period).
struct LiveRunPart: Service, CustomStringConvertible {
    let name: String
    let stop: @Sendable () async -> Void

    var description: String { name }

    func run() async throws {
        try? await gracefulShutdown()
        await Task { await stop() }.value
    }
}
