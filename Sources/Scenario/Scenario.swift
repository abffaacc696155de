import Foundation
import Heartbeat
import LabCore

/// A scenario: the components under test, the network between them (a baseline link and a timeline
/// of phases), the workload, and what must hold: the unit that `flatline run` and `flatline check`
/// take, loaded from `scenarios/*.yaml` (docs/scenarios.md documents every field).
public struct Scenario: Sendable {
    /// The scenario's name; names the results folder (sweep points get a suffix).
    public var name: String
    /// The seed every random draw of a run derives from (with the run index, connection and link).
    public var seed: UInt64
    /// How long a run lasts.
    public var duration: TimeSpan
    /// The server under test.
    public var server: ServerComponent
    /// The clients: how many, and which component.
    public var clients: ClientGroup
    /// The baseline link conditions, in force for the whole run.
    public var link: LinkConditions
    /// The timeline: conditions added for a while, in file order.
    public var phases: [Phase]
    /// Application traffic each way.
    public var workload: Workload
    /// A disconnect while the link is stalled for less than this is a false disconnect (the
    /// connection was expected to survive it); a stall at least this long counts as dead.
    public var toleratedStall: TimeSpan
    /// What a run must show to pass.
    public var expectations: Expectations
    /// Settings to sweep over; `expandSweeps()` turns them into one scenario per combination.
    public var sweeps: [Sweep]
    /// How many times each (swept) scenario is run, with derived seeds.
    public var repetitions: Int
    /// Random fault processes each connection draws its own episodes from (`faults:`).
    public var faults = FaultProcesses()
    /// How many instances of the server run behind the proxy (`server.instances`, default 1).
    public var serverInstances = 1
    /// How the proxy spreads new connections over them (`server.balance`, default round robin,
    /// as a load balancer without sticky sessions).
    public var balance: BalancePolicy = .roundRobin

    /// The most server instances a scenario may run.
    public static let mostServerInstances = 16
    /// The document the scenario was loaded from, kept so overrides and sweeps can re-validate it.
    var document: ScenarioNode
    /// The scenarios `expandSweeps()` returns, built (and so validated) when the file was loaded.
    var sweepPoints: [Scenario]

    /// The default tolerated stall when a file does not name one.
    public static let defaultToleratedStall: TimeSpan = .seconds(10)
}

extension Scenario: Hashable {
    /// Scenarios are equal when every setting is; where the settings were written does not matter.
    public static func == (lhs: Scenario, rhs: Scenario) -> Bool {
        lhs.name == rhs.name && lhs.seed == rhs.seed && lhs.duration == rhs.duration && lhs.server == rhs.server
            && lhs.clients == rhs.clients && lhs.link == rhs.link && lhs.phases == rhs.phases
            && lhs.workload == rhs.workload && lhs.toleratedStall == rhs.toleratedStall
            && lhs.expectations == rhs.expectations && lhs.sweeps == rhs.sweeps && lhs.repetitions == rhs.repetitions
            && lhs.serverInstances == rhs.serverInstances && lhs.balance == rhs.balance
    }

    /// Hashes the settings, not the places they were written.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(seed)
        hasher.combine(duration)
        hasher.combine(server)
        hasher.combine(clients)
        hasher.combine(link)
        hasher.combine(phases)
        hasher.combine(workload)
        hasher.combine(toleratedStall)
        hasher.combine(expectations)
        hasher.combine(sweeps)
        hasher.combine(repetitions)
    }
}

// MARK: - Components

/// The server under test: Flatline's built-in Socket.IO server, or an external program.
public enum ServerComponent: Sendable, Hashable {
    /// The built-in Engine.IO v4 / Socket.IO v5 server with these heartbeat settings.
    case socketIO(SocketIOServerSettings)
    /// A program Flatline starts, e.g. a python-socketio server.
    case external(ExternalComponent)
}

/// The client side: `count` connections, each made by the same kind of component.
public struct ClientGroup: Sendable, Hashable {
    /// How many clients connect (at least 1).
    public var count: Int
    /// Which client they are.
    public var component: ClientComponent

    /// Creates a client group.
    public init(count: Int, component: ClientComponent) {
        self.count = count
        self.component = component
    }
}

/// A client under test: Flatline's built-in Socket.IO client, or an external program.
public enum ClientComponent: Sendable, Hashable {
    /// The built-in socket.io-client equivalent with these settings.
    case socketIO(SocketIOClientSettings)
    /// A program Flatline starts once per client, e.g. a node or browser client.
    case external(ExternalComponent)
}

/// The built-in server's Engine.IO heartbeat: it pings every `pingInterval` and closes a connection
/// whose pong is `pingTimeout` late.
public struct SocketIOServerSettings: Sendable, Hashable {
    /// Engine.IO `pingInterval` (default 25 s).
    public var pingInterval: TimeSpan
    /// Engine.IO `pingTimeout` (default 20 s).
    public var pingTimeout: TimeSpan
    /// Whose detection semantics the server keeps (`stack:`): nil for engine.io's exact timer,
    /// `python-socketio` for python-engineio's service task, which notices an overdue pong only at
    /// its next sweep, in (pingTimeout, 2·pingTimeout] after the ping.
    public var stack: String?
    /// A failure detector deciding when a pong is overdue instead of `pingTimeout` (`detector:`);
    /// nil for Engine.IO's fixed timer.
    public var detector: DetectorChoice?
    /// socket.io's connection state recovery (`connectionStateRecovery:`); nil for off, as in socket.io.
    public var connectionStateRecovery: SocketIORecoveryOptions?

    /// Settings with Engine.IO's defaults unless given.
    public init(pingInterval: TimeSpan = .seconds(25), pingTimeout: TimeSpan = .seconds(20)) {
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
    }
}

/// The built-in client's settings: socket.io-client's connect timeout and reconnection, and the
/// optional application layer (health check, custom ping) of the motivating dashboard.
public struct SocketIOClientSettings: Sendable, Hashable {
    /// socket.io-client's `timeout`: how long a connection attempt may take (default 20 s).
    public var connectTimeout: TimeSpan
    /// socket.io-client's reconnection settings.
    public var reconnection: ReconnectionSettings
    /// Application-level liveness checks on top of Engine.IO's heartbeat.
    public var application: ApplicationLayerSettings
    /// socket.io-client's `auth`, the payload of the namespace CONNECT: nil when the scenario does
    /// not say (none against an external server, whose connect handler may take no auth; Flatline's
    /// own name for the built-in server), `.none` for none, or an object sent as given.
    public var auth: ClientAuth?
    /// A failure detector setting the silence limit instead of the handshake's
    /// `pingInterval + pingTimeout` (`detector:`); nil for engine.io-client's fixed limit.
    public var detector: DetectorChoice?
    /// socket.io-client's `transports`, in order (`clients.transports`): `[websocket]` by default;
    /// `[polling]`, or `[polling, websocket]` to start on long-polling and upgrade.
    public var transports: [String] = ["websocket"]
    /// Whose detection semantics the client keeps (`stack:`): nil for engine.io-client's (only a
    /// ping re-arms its deadline, "ping timeout"), `python-socketio` for python-engineio's client
    /// (any packet re-arms it; it closes with "transport error").
    public var stack: String?

    /// What a client sends with its namespace CONNECT.
    public enum ClientAuth: Sendable, Hashable {
        /// No payload at all, as socket.io-client without `auth`.
        case none
        /// This object.
        case object(JSONObject)
    }

    /// Settings with socket.io-client's defaults unless given.
    public init(connectTimeout: TimeSpan = .seconds(20), reconnection: ReconnectionSettings = ReconnectionSettings(),
                application: ApplicationLayerSettings = ApplicationLayerSettings()) {
        self.connectTimeout = connectTimeout
        self.reconnection = reconnection
        self.application = application
    }
}

/// socket.io-client's reconnection options, in Flatline's units.
public struct ReconnectionSettings: Sendable, Hashable {
    /// `reconnection`: whether to reconnect at all (default true).
    public var enabled: Bool
    /// `reconnectionDelay`: the first backoff delay (default 1 s).
    public var delay: TimeSpan
    /// `reconnectionDelayMax`: the cap on backoff delays (default 5 s).
    public var delayMax: TimeSpan
    /// `randomizationFactor` in [0, 1] (default 0.5).
    public var randomization: Double
    /// `reconnectionAttempts`: attempts before giving up; nil is unlimited (the default).
    public var attempts: Int?

    /// Settings with socket.io-client's defaults unless given.
    public init(enabled: Bool = true, delay: TimeSpan = .seconds(1), delayMax: TimeSpan = .seconds(5),
                randomization: Double = 0.5, attempts: Int? = nil) {
        self.enabled = enabled
        self.delay = delay
        self.delayMax = delayMax
        self.randomization = randomization
        self.attempts = attempts
    }
}

/// The application layer of a dashboard-like client: each part is optional (nil means not used).
public struct ApplicationLayerSettings: Sendable, Hashable {
    /// A health check that calls the connection stale after a silence.
    public var healthCheck: HealthCheckSettings?
    /// A custom ping/pong over Socket.IO events.
    public var customPing: CustomPingSettings?

    /// Creates the layer; nothing is used by default.
    public init(healthCheck: HealthCheckSettings? = nil, customPing: CustomPingSettings? = nil) {
        self.healthCheck = healthCheck
        self.customPing = customPing
    }
}

/// An application health check: no traffic for `staleAfter` makes the client drop the connection.
public struct HealthCheckSettings: Sendable, Hashable {
    /// Silence after which the connection is stale.
    public var staleAfter: TimeSpan
    /// Whether Engine.IO pings and pongs count as traffic (many dashboards cannot see them).
    public var heartbeatsCount: Bool
    /// Check every this often instead of exactly at the deadline; nil is exact.
    public var checkInterval: TimeSpan?
    /// Only these Socket.IO events count as traffic ("no server `ping` event for 120 s"); nil: any message.
    public var events: Set<String>?

    /// Creates health check settings.
    public init(staleAfter: TimeSpan, heartbeatsCount: Bool = false, checkInterval: TimeSpan? = nil, events: Set<String>? = nil) {
        self.staleAfter = staleAfter
        self.heartbeatsCount = heartbeatsCount
        self.checkInterval = checkInterval
        self.events = events
    }
}

/// A custom ping: the client emits `pingEvent` every `interval` and drops the connection when the
/// `pongEvent` answer is `timeout` late.
public struct CustomPingSettings: Sendable, Hashable {
    /// Time between pings.
    public var interval: TimeSpan
    /// How long a ping may wait for its pong.
    public var timeout: TimeSpan
    /// Delay of the first ping after connecting; nil means `interval`.
    public var firstPingAfter: TimeSpan?
    /// The event the client emits (default "ping").
    public var pingEvent: String
    /// The event the server answers with (default "pong").
    public var pongEvent: String

    /// Creates custom ping settings.
    public init(interval: TimeSpan, timeout: TimeSpan, firstPingAfter: TimeSpan? = nil,
                pingEvent: String = "ping", pongEvent: String = "pong") {
        self.interval = interval
        self.timeout = timeout
        self.firstPingAfter = firstPingAfter
        self.pingEvent = pingEvent
        self.pongEvent = pongEvent
    }
}

/// A program Flatline starts: the command line (with `{host}`, `{port}` and, for clients,
/// `{index}` filled in), its environment and working directory, and for a server how to tell it is ready.
/// Its stdout and stderr are kept with the results.
public struct ExternalComponent: Sendable, Hashable {
    /// The program and its arguments, templates unexpanded; never empty.
    public var command: [String]
    /// Extra environment variables, templates unexpanded.
    public var environment: [String: String]
    /// The working directory, relative to the scenario file's folder; nil is that folder.
    public var workingDirectory: String?
    /// How to tell a server is ready to accept connections; nil for clients.
    public var readiness: ReadinessProbe?

    /// The folder the program runs in: `cwd` (absolute, or relative to `folder`, the scenario
    /// file's), or `folder` itself.
    public func directory(relativeTo folder: URL) -> URL {
        guard let cwd = workingDirectory else { return folder }
        return cwd.hasPrefix("/") ? URL(fileURLWithPath: cwd) : folder.appendingPathComponent(cwd)
    }

    /// The placeholders a command or environment value may use.
    public static let serverPlaceholders = ["host", "port", "instance"] + runPlaceholders
    /// The placeholders a client's command or environment value may use.
    public static let clientPlaceholders = ["host", "port", "index"] + runPlaceholders
    /// Placeholders of the run's time scale, so it is written once: `{timeScale}`, and the
    /// scenario's `{duration}` and `{toleratedStall}` scaled, in seconds. Besides these,
    /// `{scaled:25s}` (any duration, scaled, in seconds) and `{scaledMs:25s}` (in whole
    /// milliseconds), and for external clients of the built-in server `{server.pingInterval}` and
    /// `{server.pingTimeout}` (scaled, in seconds).
    public static let runPlaceholders = ["timeScale", "duration", "toleratedStall"]
    /// The built-in server's settings an external client's template may use.
    public static let serverSettingPlaceholders = ["server.pingInterval", "server.pingTimeout"]

    /// Creates an external component.
    public init(command: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
                readiness: ReadinessProbe? = nil) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.readiness = readiness
    }

    /// The command with every `{name}` replaced by `values[name]` (unknown names are left as written;
    /// the loader has rejected them).
    public func expandedCommand(_ values: [String: String]) -> [String] {
        command.map { Self.expand($0, values) }
    }

    /// The environment with every `{name}` replaced by `values[name]`.
    public func expandedEnvironment(_ values: [String: String]) -> [String: String] {
        environment.mapValues { Self.expand($0, values) }
    }

    /// The `{name}` placeholders in `text`, in order: names of letters, digits, `_`, `.` and `:`
    /// (`{scaled:25s}`); braces around anything else are left alone.
    public static func placeholders(in text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            let name = String(after[..<close])
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == ":" }) {
                names.append(name)
                rest = after[after.index(after: close)...]
            } else {
                rest = after
            }
        }
        return names
    }

    /// `scaled:25s` as ("scaled", "25s") and `scaledMs:25s` as ("scaledMs", "25s"); nil otherwise.
    public static func scaledPlaceholder(_ name: String) -> (unit: String, duration: String)? {
        for prefix in ["scaled:", "scaledMs:"] where name.hasPrefix(prefix) {
            return (String(prefix.dropLast()), String(name.dropFirst(prefix.count)))
        }
        return nil
    }

    /// A number of seconds as a template writes it: "25", "2.5", "0.05" (never an exponent).
    public static func secondsText(_ seconds: Double) -> String {
        if seconds == seconds.rounded(), abs(seconds) < 1e15 { return String(Int64(seconds)) }
        var text = String(format: "%.9f", seconds)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    /// The component with the run's time-scale placeholders filled in (`runPlaceholders`, the
    /// built-in server's settings, `{scaled:…}` and `{scaledMs:…}`), for a run at `timeScale`
    /// whose scenario, already scaled, is `scenario`; `{host}`, `{port}` and `{index}` stay for
    /// the topology.
    public func expandingRunPlaceholders(timeScale: Double, scenario: Scenario) -> ExternalComponent {
        var values = ["timeScale": Self.secondsText(timeScale),
                      "duration": Self.secondsText(scenario.duration.seconds),
                      "toleratedStall": Self.secondsText(scenario.toleratedStall.seconds)]
        if case .socketIO(let server) = scenario.server {
            values["server.pingInterval"] = Self.secondsText(server.pingInterval.seconds)
            values["server.pingTimeout"] = Self.secondsText(server.pingTimeout.seconds)
        }
        for text in command + Array(environment.values) {
            for name in Self.placeholders(in: text) {
                guard let (unit, argument) = Self.scaledPlaceholder(name), let span = try? TimeSpan(parsing: argument) else { continue }
                let seconds = span.seconds * timeScale
                values[name] = unit == "scaled" ? Self.secondsText(seconds) : String(Int64((seconds * 1000).rounded()))
            }
        }
        var out = self
        out.command = expandedCommand(values)
        out.environment = expandedEnvironment(values)
        return out
    }

    static func expand(_ text: String, _ values: [String: String]) -> String {
        var result = text
        for (name, value) in values {
            result = result.replacing("{\(name)}", with: value)
        }
        return result
    }
}

/// How the runner decides an external server is ready: poll until the probe succeeds or `timeout`.
public struct ReadinessProbe: Sendable, Hashable {
    /// What is probed.
    public enum Kind: Sendable, Hashable {
        /// A TCP connect to the server's port succeeds.
        case tcp
        /// An HTTP GET of this path (starting with "/") answers with a 2xx status.
        case http(path: String)
    }

    /// What is probed.
    public var kind: Kind
    /// How long to wait for readiness before the run fails (default 10 s).
    public var timeout: TimeSpan

    /// The default readiness timeout.
    public static let defaultTimeout: TimeSpan = .seconds(10)

    /// Creates a probe.
    public init(kind: Kind, timeout: TimeSpan = ReadinessProbe.defaultTimeout) {
        self.kind = kind
        self.timeout = timeout
    }
}

// MARK: - Link and timeline

/// A period of the timeline that adds conditions to the baseline link.
public struct Phase: Sendable, Hashable {
    /// When the phase ends.
    public enum End: Sendable, Hashable {
        /// After this long (`for:`).
        case after(TimeSpan)
        /// At this time from the run's start (`until: 20m`).
        case at(TimeSpan)
        /// At the end of the run (`until: end`).
        case scenarioEnd
    }

    /// Start, from the beginning of the run.
    public var at: TimeSpan
    /// When it ends.
    public var end: End
    /// When set, the phase repeats with this period from `at` while a whole occurrence fits the run.
    public var every: TimeSpan?
    /// The conditions in force during the phase; a condition of the same kind as a baseline one
    /// replaces it in that direction, others are added.
    public var conditions: LinkConditions
    /// What the phase stands for ("roaming", "outage"); shown in reports.
    public var note: String?
    /// `server: pause`: the server's event loop is blocked for the phase (a long GC pause, a
    /// blocking call in a handler): it reads nothing, sends nothing and fires no timer until the
    /// phase ends, then reads what arrived before it runs the timers that came due.
    public var serverPause: Bool
    /// `clients: { timerAlignment: 1m }`: the clients' timers run only at multiples of this span
    /// (from the run's start), as in a hidden browser tab whose timers the browser throttles;
    /// messages are still handled as they arrive. Nil: timers run on time.
    public var clientTimerAlignment: TimeSpan?
    /// `server: { down: [2] }`: these server instances (1-based) are down for the phase: the
    /// connections on them are reset at its start (their kernel answers for the dead process), the
    /// balancing sends new connections elsewhere, and at its end they are back, empty.
    public var instancesDown: [Int] = []
    /// `server: { blackhole: [2] }`: the links to these server instances (1-based) drop everything,
    /// both ways, for the phase (a network partition or a hung host): their clients must detect it.
    public var instancesBlackholed: [Int] = []
    /// `server: { pause: [2] }`: these server instances' event loops are blocked for the phase, as
    /// `server: pause` blocks the only server's.
    public var instancesPaused: [Int] = []

    /// Creates a phase.
    public init(at: TimeSpan, end: End, every: TimeSpan? = nil, conditions: LinkConditions, note: String? = nil,
                serverPause: Bool = false, clientTimerAlignment: TimeSpan? = nil, instancesDown: [Int] = [],
                instancesBlackholed: [Int] = [], instancesPaused: [Int] = []) {
        self.at = at
        self.end = end
        self.every = every
        self.conditions = conditions
        self.note = note
        self.serverPause = serverPause
        self.clientTimerAlignment = clientTimerAlignment
        self.instancesDown = instancesDown
        self.instancesBlackholed = instancesBlackholed
        self.instancesPaused = instancesPaused
    }

    /// The phase's [start, end) occurrences within a run of `duration` (several when it repeats).
    public func occurrences(within duration: TimeSpan) -> [Range<TimeSpan>] {
        let first: Range<TimeSpan>
        switch end {
        case .after(let length): first = at..<min(at + length, duration)
        case .at(let until): first = at..<min(until, duration)
        case .scenarioEnd: first = at..<duration
        }
        guard let every, every > .zero, case .after(let length) = end else { return first.isEmpty ? [] : [first] }
        var result: [Range<TimeSpan>] = []
        var start = at
        while start + length <= duration, result.count < 1_000_000 {
            result.append(start..<(start + length))
            start = start + every
        }
        return result
    }
}

extension Scenario {
    /// The phases' occurrences in time order: (start, end, phase index), repeating phases expanded.
    public func timeline() -> [(range: Range<TimeSpan>, phase: Int)] {
        var result: [(range: Range<TimeSpan>, phase: Int)] = []
        for (index, phase) in phases.enumerated() {
            for range in phase.occurrences(within: duration) { result.append((range, index)) }
        }
        return result.sorted { ($0.range.lowerBound, $0.phase) < ($1.range.lowerBound, $1.phase) }
    }

    /// When each server instance is down (`server: { down: [k] }` phases): the instance, 0-based,
    /// and the [start, end) of each occurrence, in time order.
    public var instanceOutages: [(instance: Int, range: Range<TimeSpan>)] {
        timeline().flatMap { occurrence in
            phases[occurrence.phase].instancesDown.map { (instance: $0 - 1, range: occurrence.range) }
        }
    }

    /// When the links to each server instance are blackholed (`server: { blackhole: [k] }` phases):
    /// the instance, 0-based, and the [start, end) of each occurrence, in time order.
    public var instanceBlackholes: [(instance: Int, range: Range<TimeSpan>)] {
        timeline().flatMap { occurrence in
            phases[occurrence.phase].instancesBlackholed.map { (instance: $0 - 1, range: occurrence.range) }
        }
    }

    /// When each server instance's event loop is blocked (`server: { pause: [k] }` phases): the
    /// instance, 0-based, and the [start, end) of each occurrence, in time order.
    public var instancePauses: [(instance: Int, range: Range<TimeSpan>)] {
        timeline().flatMap { occurrence in
            phases[occurrence.phase].instancesPaused.map { (instance: $0 - 1, range: occurrence.range) }
        }
    }

    /// When the server is paused (`server: pause` phases), as sorted, merged [start, end) ranges.
    public var serverPauses: [Range<TimeSpan>] {
        let ranges = timeline().filter { phases[$0.phase].serverPause }.map(\.range).sorted { $0.lowerBound < $1.lowerBound }
        var merged: [Range<TimeSpan>] = []
        for range in ranges {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    /// The throttling of the clients' timers that the `clients: { timerAlignment: … }` phases imply.
    public var clientTimerThrottle: TimerThrottle {
        TimerThrottle(windows: timeline().compactMap { occurrence in
            phases[occurrence.phase].clientTimerAlignment.map { TimerThrottle.Window(range: occurrence.range, alignment: $0) }
        })
    }

    /// The conditions on `direction` at time `t`: the baseline, then each phase in force in file
    /// order, a phase's condition replacing an earlier one of the same kind.
    public func conditions(at t: TimeSpan, direction: LinkDirection) -> [Condition] {
        var result = link[direction]
        for phase in phases where phase.occurrences(within: duration).contains(where: { $0.contains(t) }) {
            for condition in phase.conditions[direction] {
                if let existing = result.firstIndex(where: { $0.kind == condition.kind }) {
                    result[existing] = condition
                } else {
                    result.append(condition)
                }
            }
        }
        return result
    }
}

// MARK: - Workload, expectations, sweeps

/// Application messages sent during a run, each way (nil means none).
public struct Workload: Sendable, Hashable {
    /// Server-to-client events (a dashboard's updates).
    public var serverToClient: MessageFlow?
    /// Client-to-server events.
    public var clientToServer: MessageFlow?
    /// The application's event stream on the server's clock: event k (k = 1, 2, …) is due at
    /// k / rate after the server starts, numbered k, and goes to every client connected then, so
    /// what a client misses while it is away is counted (a dashboard broadcasting its updates).
    public var broadcast: MessageFlow?
    /// The application's replay of the broadcast stream on connect (`workload.broadcast.replay`):
    /// the server pushes its last events, or the client asks for what it missed (nil: none).
    public var broadcastReplay: BroadcastReplay?
    /// Per-room streams (`workload.broadcast.rooms`): client i (1-based) joins room
    /// "r\((i - 1) % rooms + 1)" on connecting, and each room has its own stream; nil: one stream
    /// to everyone.
    public var broadcastRooms: Int?

    /// The room client `index` (0-based) joins, with `broadcastRooms`.
    public func broadcastRoom(ofClient index: Int) -> String? {
        broadcastRooms.map { "r\(index % max($0, 1) + 1)" }
    }

    /// Every room's name, with `broadcastRooms`.
    public var broadcastRoomNames: [String]? {
        broadcastRooms.map { n in (1...max(n, 1)).map { "r\($0)" } }
    }

    /// Creates a workload.
    public init(serverToClient: MessageFlow? = nil, clientToServer: MessageFlow? = nil, broadcast: MessageFlow? = nil) {
        self.serverToClient = serverToClient
        self.clientToServer = clientToServer
        self.broadcast = broadcast
    }
}

/// A steady stream of events per connection: `rate` events of `size` bytes each.
public struct MessageFlow: Sendable, Hashable {
    /// Events per connection per unit of time.
    public var rate: EventRate
    /// Payload size of each event.
    public var size: ByteCount

    /// Creates a flow.
    public init(rate: EventRate, size: ByteCount) {
        self.rate = rate
        self.size = size
    }
}

/// What a run must show; each is optional and nil means not checked.
public struct Expectations: Sendable, Hashable {
    /// At most this many false disconnects (disconnects while the link was usable) over the run.
    public var falseDisconnects: Int?
    /// Every outage must be detected within this time of its start.
    public var detectionWithin: TimeSpan?
    /// At least this fraction (0…1) of events sent outside outages must be delivered.
    public var deliveryAtLeast: Double?
    /// The stability score (0…100) must be at least this.
    public var stabilityAtLeast: Double?
    /// At most this many of the broadcast stream's events missed, over every client and the run.
    public var missedEventsAtMost: Int?
    /// The expectations (by name) that pass when a run gives them nothing to judge (no dead period
    /// for `detectionWithin`, no message for `deliveryAtLeast`); any other fails then, saying so.
    public var optional: Set<String>

    /// The names an expectation has in a scenario file, in the order they are judged.
    public static let names = ["falseDisconnects", "detectionWithin", "deliveryAtLeast", "stabilityAtLeast", "missedEventsAtMost"]

    /// Creates expectations.
    public init(falseDisconnects: Int? = nil, detectionWithin: TimeSpan? = nil, deliveryAtLeast: Double? = nil,
                stabilityAtLeast: Double? = nil, missedEventsAtMost: Int? = nil, optional: Set<String> = []) {
        self.missedEventsAtMost = missedEventsAtMost
        self.falseDisconnects = falseDisconnects
        self.detectionWithin = detectionWithin
        self.deliveryAtLeast = deliveryAtLeast
        self.stabilityAtLeast = stabilityAtLeast
        self.optional = optional
    }

    /// Whether nothing is checked.
    public var isEmpty: Bool {
        falseDisconnects == nil && detectionWithin == nil && deliveryAtLeast == nil && stabilityAtLeast == nil
            && missedEventsAtMost == nil
    }
}

/// One swept setting: a field path (as for `--set`) and the values it takes, as written.
public struct Sweep: Sendable, Hashable {
    /// The field path, e.g. `server.pingTimeout`.
    public var path: String
    /// The values in YAML text, e.g. `["10s", "20s", "60s"]`, each already validated.
    public var values: [String]

    /// Creates a sweep.
    public init(path: String, values: [String]) {
        self.path = path
        self.values = values
    }
}
