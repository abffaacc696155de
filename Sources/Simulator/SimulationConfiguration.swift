import Heartbeat
import LabCore

/// One entry of a simulation's timeline: from `at` (since the start of the run) for `duration`
/// (nil: until the end), these conditions apply on top of the baseline. A stall phase is a stall
/// "until lifted" whose lifting is the end of the phase; a blackhole phase drops everything sent
/// during it.
public struct SimulationPhase: Sendable, Hashable {
    /// When the phase starts, measured from the start of the run.
    public var at: TimeSpan
    /// How long it lasts; nil lasts until the end of the run.
    public var duration: TimeSpan?
    /// What it adds to each link.
    public var conditions: LinkConditions
    /// The fraction of connections it applies to, decided once per connection from the seed
    /// (LabCore's `ToxicityDraw`): 1 for all.
    public var probability: Double
    /// A note for the event log ("roaming").
    public var note: String?

    /// Creates a phase.
    public init(at: TimeSpan, duration: TimeSpan? = nil, conditions: LinkConditions, probability: Double = 1,
                note: String? = nil) {
        self.at = at
        self.duration = duration
        self.conditions = conditions
        self.probability = probability
        self.note = note
    }

    /// The instant, since the start, when it stops applying (nil: never within the run).
    public var end: TimeSpan? { duration.map { at + $0 } }
}

/// What the applications do besides the heartbeat: the built-in server's "tick" events and the
/// built-in client's "echo" emits with ack, as the live components do.
public struct SimulationWorkload: Sendable, Hashable {
    /// The server emits "tick" this often once the namespace is connected; nil for never.
    public var serverEmitInterval: TimeSpan?
    /// The approximate encoded size of a tick in bytes (the live server's `emitSize`).
    public var serverEmitSize: Int
    /// The client emits "echo" with an ack this often once connected; nil for never.
    public var clientEmitInterval: TimeSpan?
    /// The application's broadcast stream: event k at k·interval of the run, to every connected
    /// client (nil: none).
    public var broadcastInterval: TimeSpan?
    /// The encoded size a broadcast event is padded to.
    public var broadcastSize: Int = 64
    /// The application's replay of the broadcast stream on connect (nil: none).
    public var broadcastReplay: BroadcastReplay?
    /// Per-room streams: connection i joins room "r\(i % rooms + 1)" (nil: one stream to everyone).
    public var broadcastRooms: Int?
    /// When true (the default) every tick is built, encoded and parsed by the Socket.IO machines as
    /// live; when false a tick is a sized placeholder: the server's session must be connected, the
    /// link sees the exact encoded size, the client's Engine.IO machine receives it as a message,
    /// and only the JSON encoding and parsing are skipped (they dominate long runs' cost).
    public var encodesServerEvents: Bool = true

    /// Creates a workload; the default is none.
    public init(serverEmitInterval: TimeSpan? = nil, serverEmitSize: Int = 64, clientEmitInterval: TimeSpan? = nil) {
        self.serverEmitInterval = serverEmitInterval
        self.serverEmitSize = serverEmitSize
        self.clientEmitInterval = clientEmitInterval
    }

    /// No application traffic.
    public static let none = SimulationWorkload()

    /// The server emits `rate` ticks per second of `size` bytes.
    public static func serverEvents(perSecond rate: Double, size: Int) -> SimulationWorkload {
        SimulationWorkload(serverEmitInterval: .seconds(1 / rate), serverEmitSize: size)
    }
}

/// The application layer a dashboard client runs on top of its Socket.IO session (DESIGN.md's
/// motivating case): a health check watching inbound traffic and a custom ping over Socket.IO
/// events. Either one, when it fires, forces a reconnect: the client closes with its reason
/// (`.healthCheckStale`, `.forcedClose`) and the reconnection manager takes over, as
/// socket.io-client does after `socket.io.engine.close()`. The built-in server answers the custom
/// ping's event with its pong event, echoing the arguments.
public struct SimulationApplicationLayer: Sendable, Hashable {
    /// The health check; nil when the client runs none.
    public var healthCheck: HealthCheck.Options?
    /// The custom ping; nil when the client runs none.
    public var customPing: CustomPing.Options?

    /// Creates the layer; nothing runs by default.
    public init(healthCheck: HealthCheck.Options? = nil, customPing: CustomPing.Options? = nil) {
        self.healthCheck = healthCheck
        self.customPing = customPing
    }

    /// No application layer: the client is a bare socket.io-client.
    public static let none = SimulationApplicationLayer()

    /// The health check and custom ping of a dashboard preset (`DashboardSettings.before`, `.after`).
    public init(_ dashboard: DashboardSettings) {
        self.init(healthCheck: dashboard.healthCheck, customPing: dashboard.customPing)
    }

    /// The event the server answers (the custom ping's, else "ping").
    var pingEvent: String { customPing?.pingEvent ?? "ping" }
    /// The event the server answers with (the custom ping's, else "pong").
    var pongEvent: String { customPing?.pongEvent ?? "pong" }
}

/// Which events a simulation keeps in its log. Message events dominate long runs (two per
/// message); their counts are kept in `SimulationCounters` whatever the choice.
public enum EventRecording: Sendable, Hashable {
    /// Every event.
    case all
    /// Everything but `message_sent` / `message_received`.
    case withoutMessages
    /// Nothing: counters only.
    case none
}

/// Everything a simulated run needs: who connects, with which heartbeat settings, over which
/// links, under which timeline and workload, for how long, from which seed.
public struct SimulationConfiguration: Sendable {
    /// The scenario seed; every random draw derives from (seed, run, connection, ...).
    public var seed: UInt64
    /// The run index (Monte Carlo repetition).
    public var run: UInt64
    /// How many client connections.
    public var connections: Int
    /// How long the run lasts; events at exactly this instant still happen.
    public var duration: TimeSpan
    /// Connection i starts opening at i × `connectSpacing`.
    public var connectSpacing: TimeSpan
    /// The server's Engine.IO heartbeat settings.
    public var server: EngineIOServerHeartbeat.Configuration
    /// The server's Socket.IO namespace options.
    public var serverNamespace: SocketIOServerSession.Options
    /// The server's connection state recovery (socket.io's `connectionStateRecovery`); nil for off.
    public var recovery: SocketIORecoveryOptions?
    /// How many server instances run behind the balancer (each with its own sessions and recovery store).
    public var instances = 1
    /// How the balancer spreads new connections over them.
    public var balance: BalancePolicy = .roundRobin
    /// When each instance (0-based) is down: its connections are reset at the start, no new ones
    /// go to it, and it comes back empty at the end.
    public var instanceOutages: [(instance: Int, range: Range<TimeSpan>)] = []
    /// When each instance's (0-based) event loop is blocked, as `serverPauses` blocks every one's.
    public var instancePauses: [(instance: Int, range: Range<TimeSpan>)] = []
    /// When the links to each instance (0-based) drop everything, both ways.
    public var instanceBlackholes: [(instance: Int, range: Range<TimeSpan>)] = []
    /// The client's Engine.IO heartbeat settings.
    public var clientHeartbeat: EngineIOClientHeartbeat.Configuration
    /// The client's Socket.IO options (connect timeout, ...).
    public var clientNamespace: SocketIOClientSession.Options
    /// The client's reconnection settings.
    public var reconnection: ReconnectionOptions
    /// The client's application layer (health check, custom ping) on top of its session.
    public var application: SimulationApplicationLayer
    /// The links' conditions for the whole run.
    public var baseline: LinkConditions
    /// Condition changes over time, on top of the baseline.
    public var phases: [SimulationPhase]
    /// Application traffic.
    public var workload: SimulationWorkload
    /// Which events are logged.
    public var recording: EventRecording
    /// When the server's event loop is blocked (`Phase.serverPause`): sorted, disjoint ranges from
    /// the run's start. During one the server reads, sends and fires nothing; at its end it reads
    /// what arrived, in order, then runs the timers that came due, in order (as NIO's and
    /// asyncio's loops do after a blocking call).
    public var serverPauses: [Range<TimeSpan>] = []
    /// When the server is down, restarting (sorted, disjoint ranges from the run's start): at each
    /// range's start every open connection is reset, and until its end every connect is refused.
    public var serverRestarts: [Range<TimeSpan>] = []
    /// Per connection (by index), the episodes of the scenario's random fault processes it drew:
    /// phases that apply to that connection alone.
    public var episodes: [[SimulationPhase]] = []
    /// How the clients' timers are throttled (a hidden browser tab); empty: on time.
    public var clientTimerThrottle = TimerThrottle()
    /// Whether size-only ticks may be batched (true by default). When ticks are size-only, message
    /// events are not logged and no health check watches inbound traffic, a tick's only effects are
    /// on its link and on counters, so the engine emits and delivers them in catch-up batches at the
    /// next event of their connection instead of two timer events each: the same link decisions and
    /// counters, a fraction of the cost. False forces one event per tick (the equivalence tests).
    public var batchesTicks = true

    /// Creates a configuration; defaults are engine.io's and socket.io-client's, one connection,
    /// an ideal link, no workload, no application layer, one minute.
    public init(seed: UInt64 = 0, run: UInt64 = 0, connections: Int = 1, duration: TimeSpan = .seconds(60),
                connectSpacing: TimeSpan = .zero,
                server: EngineIOServerHeartbeat.Configuration = .engineIO,
                serverNamespace: SocketIOServerSession.Options = .init(),
                clientHeartbeat: EngineIOClientHeartbeat.Configuration = .engineIOClient,
                clientNamespace: SocketIOClientSession.Options = .init(),
                reconnection: ReconnectionOptions = .init(),
                application: SimulationApplicationLayer = .none,
                baseline: LinkConditions = .none, phases: [SimulationPhase] = [],
                workload: SimulationWorkload = .none, recording: EventRecording = .all) {
        self.seed = seed
        self.run = run
        self.connections = connections
        self.duration = duration
        self.connectSpacing = connectSpacing
        self.server = server
        self.serverNamespace = serverNamespace
        self.clientHeartbeat = clientHeartbeat
        self.clientNamespace = clientNamespace
        self.reconnection = reconnection
        self.application = application
        self.baseline = baseline
        self.phases = phases
        self.workload = workload
        self.recording = recording
    }
}

extension SimulationConfiguration {
    /// Runs the clients as the motivating case's dashboard with `settings`: its health check and
    /// custom ping, its connect timeout and its reconnection options.
    public mutating func useDashboard(_ settings: DashboardSettings) {
        application = SimulationApplicationLayer(settings)
        clientNamespace.connectTimeout = settings.connectTimeout
        reconnection = settings.reconnection
    }
}
