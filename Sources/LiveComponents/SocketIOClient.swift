import Heartbeat
import LabCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Settings of Flatline's built-in Socket.IO client; defaults are socket.io-client's.
public struct SocketIOClientConfiguration: Sendable {
    /// Transports to use: ["websocket"] or ["polling"] (the first one listed is used).
    public var transports: [String] = ["websocket"]
    /// Reconnection options (socket.io-client's names and defaults).
    public var reconnection = ReconnectionOptions()
    /// socket.io-client's `timeout`: the namespace connect must finish within it.
    public var connectTimeout: TimeSpan = .seconds(20)
    /// Seed for the reconnection jitter.
    public var seed: UInt64 = 0
    /// How often the client emits "echo" with an ack; nil for never.
    public var emitInterval: TimeSpan?
    /// The application's replay of the broadcast stream (a scenario's `workload.broadcast.replay`).
    public var broadcastReplay: BroadcastReplay?
    /// The room of the broadcast stream it joins on connecting (a scenario's `workload.broadcast.rooms`).
    public var broadcastRoom: String?
    /// Connection id used in the event log.
    public var name = "c1"
    /// The namespace CONNECT's payload (socket.io-client's `auth`); nil sends none. Against
    /// Flatline's own server, `["flatline": name]` lets the server log the connection under the
    /// client's name.
    public var auth: JSONObject?
    /// A dashboard's health check on top of the session (nil: none), as the simulated client runs it.
    public var healthCheck: HealthCheck.Options?
    /// A dashboard's custom ping over Socket.IO events (nil: none), as the simulated client runs it.
    public var customPing: CustomPing.Options?
    /// How the client reads the server's heartbeat: engine.io-client's rules by default, or
    /// python-engineio's client, and optionally a failure detector (a scenario's `stack:` and
    /// `detector:`).
    public var heartbeat: EngineIOClientHeartbeat.Configuration = .engineIOClient
    /// When a timer due at an instant actually runs (a throttled background tab); nil: on time.
    public var timerDeadline: (@Sendable (Instant) -> Instant)?

    /// The defaults.
    public init() {}
}

/// Flatline's built-in Socket.IO client on SwiftNIO: a driver of `SocketIOClientStack` (the
/// Engine.IO heartbeat, the namespace session, socket.io-client's reconnection manager and, when
/// configured, a dashboard's health check and custom ping), the same composition the simulated
/// client runs. This class only carries out the stack's actions over WebSocket or long-polling,
/// with the polling-to-WebSocket upgrade, and writes the event log.
public final class SocketIOClient: @unchecked Sendable {
    enum ClientTimer: Hashable {
        case stack(SocketIOClientStack.Timer)
        case upgrade(EngineIOUpgradeTimer)
    }

    enum Transport {
        case none
        case websocket(WebSocketClientConnection)
        case polling(sid: String)
    }

    private let loop: any EventLoop
    private let endpoint: EngineIOEndpoint
    /// How the client was configured (its name, transports, reconnection...).
    public let configuration: SocketIOClientConfiguration
    private let events: any EventSink
    private let startedAt: Instant
    private var stack: SocketIOClientStack
    private var transport: Transport = .none
    /// Counts transports: a callback from an older one than the current is ignored.
    private var generation = 0
    private var timers = MachineTimers<ClientTimer>()
    private var pollOutbox: [EngineIOPacket] = []
    private var posting = false
    private var pollInFlight = false
    private var pollingPaused = false
    private var upgrade: EngineIOClientUpgrade?
    private var probe: WebSocketClientConnection?

    private init(loop: any EventLoop, endpoint: EngineIOEndpoint, configuration: SocketIOClientConfiguration,
                 events: any EventSink, startedAt: Instant?) {
        self.loop = loop
        self.endpoint = endpoint
        self.configuration = configuration
        self.events = events
        self.startedAt = startedAt ?? loop.instant
        self.stack = SocketIOClientStack(
            configuration: .init(
                heartbeat: configuration.heartbeat,
                namespace: .init(auth: configuration.auth, connectTimeout: configuration.connectTimeout),
                reconnection: configuration.reconnection,
                customPing: configuration.customPing, healthCheck: configuration.healthCheck,
                emitInterval: configuration.emitInterval, broadcastReplay: configuration.broadcastReplay,
                broadcastRoom: configuration.broadcastRoom),
            generator: SeededGenerator(seed: configuration.seed, stream: [0x7265]))
    }

    /// Starts connecting (and reconnecting, as configured) to `endpoint`; event times count from
    /// `startedAt` (default: now).
    public static func start(group: any EventLoopGroup, endpoint: EngineIOEndpoint,
                             configuration: SocketIOClientConfiguration = .init(), events: any EventSink,
                             startedAt: Instant? = nil) -> SocketIOClient {
        let client = SocketIOClient(loop: group.next(), endpoint: endpoint, configuration: configuration, events: events,
                                    startedAt: startedAt)
        client.loop.execute {
            client.drive { $0.start(at: $1) }
        }
        return client
    }

    /// Disconnects as the application would (socket.disconnect(): "io client disconnect").
    public func stop() async {
        try? await loop.submit {
            self.drive { $0.stop(at: $1) }
        }.get()
        // Let the DISCONNECT packet and the close leave before the caller tears down the loop.
        try? await loop.scheduleTask(in: .milliseconds(50)) {}.futureResult.get()
    }

    /// Every Engine.IO sid a server gave this client, in order: an external server that logs its
    /// sessions under their sid (it got no name in the CONNECT auth) has them matched to this
    /// client by the run.
    public var engineIOSids: [String] { sids.withLockedValue { $0 } }
    private let sids = NIOLockedValueBox<[String]>([])

    private func noteSid(_ sid: String) {
        sids.withLockedValue { if $0.last != sid { $0.append(sid) } }
    }

    private func record(_ kind: EventKind, reason: String? = nil, attempt: Int? = nil, detail: String? = nil, at now: Instant) {
        events.record(LabEvent(time: now - startedAt, connection: configuration.name, side: .client, kind: kind,
                               reason: reason, attempt: attempt, detail: detail))
    }

    // MARK: Carrying out the stack's actions

    /// Gives the stack an input at the loop's now and carries out its answer.
    private func drive(_ input: (inout SocketIOClientStack, Instant) -> [SocketIOClientStack.Action]) {
        let now = loop.instant
        let actions = input(&stack, now)
        perform(actions, at: now)
    }

    /// Carries out the stack's actions; notes are stamped with `now`, the instant it decided at.
    private func perform(_ actions: [SocketIOClientStack.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .openTransport: openTransport()
            case .send(let packet): send(packet)
            case .closeTransport: closeTransport()
            case .arm(let timer, let at):
                arm(.stack(timer), at: at) { now in self.perform(self.stack.timerFired(timer, at: now), at: now) }
            case .cancel(let timer): timers.cancel(.stack(timer))
            case .cancelAllTimers: timers.cancelAll()
            case .note(let note):
                let fields = note.logFields
                record(fields.kind, reason: fields.reason, attempt: fields.attempt, detail: fields.detail, at: now)
            }
        }
    }

    private func arm(_ timer: ClientTimer, at instant: Instant, _ fire: @escaping (Instant) -> Void) {
        let box = UnsafeTransfer(fire)
        let instant = configuration.timerDeadline?(instant) ?? instant
        timers.arm(timer, at: instant, on: loop) { [weak self] in
            guard let self else { return }
            self.timers.fired(timer)
            box.value(self.loop.instant)
        }
    }

    // MARK: Opening and closing a transport

    private func openTransport() {
        generation += 1
        let generation = self.generation
        transport = .none
        pollOutbox.removeAll()
        posting = false
        pollInFlight = false
        pollingPaused = false
        upgrade = configuration.transports.contains("websocket") ? EngineIOClientUpgrade(probeTimeout: .seconds(10)) : nil
        probe?.close()
        probe = nil
        if configuration.transports.first == "polling" {
            PollingRequest.send(on: loop, endpoint: endpoint, method: .GET, target: endpoint.target(transport: "polling", sid: nil),
                                body: nil).whenComplete { result in
                guard generation == self.generation else { return }
                switch result {
                case .success(let body): self.pollingPayload(body, generation: generation)
                case .failure: self.drive { $0.transportOpenFailed(at: $1) }
                }
            }
        } else {
            let (connection, upgraded) = WebSocketClientConnection.connect(
                on: loop, endpoint: endpoint, sid: nil,
                onFrame: { [weak self] frame in
                    guard let self, generation == self.generation else { return }
                    self.received(frame)
                },
                onClose: { [weak self] in
                    guard let self, generation == self.generation else { return }
                    self.drive { $0.transportClosed(at: $1) }
                }
            )
            transport = .websocket(connection)
            upgraded.whenFailure { _ in
                guard generation == self.generation else { return }
                self.drive { $0.transportOpenFailed(at: $1) }
            }
        }
    }

    /// Closes the current transport (and any upgrade probe); later callbacks from it are ignored.
    private func closeTransport() {
        let old = transport
        transport = .none
        generation += 1
        if case .websocket(let c) = old { c.close() }
        probe?.close()
        probe = nil
        upgrade = nil
        timers.cancel(.upgrade(.upgradeTimeout))
    }

    // MARK: Polling

    private func pollingPayload(_ body: String, generation: Int) {
        pollInFlight = false
        guard let payload = try? EngineIOPayload(text: body) else {
            drive { $0.receivedMalformed(EngineIOParseError(.empty), at: $1) }
            return
        }
        for packet in payload.packets {
            guard generation == self.generation else { return }
            if case .open(let handshake) = packet {
                transport = .polling(sid: handshake.sid)
                noteSid(handshake.sid)
            }
            drive { $0.received(packet, at: $1) }
            if case .open(let handshake) = packet, generation == self.generation, var u = upgrade {
                let now = self.loop.instant
                let actions = u.start(upgrades: handshake.upgrades, at: now)
                upgrade = u
                performUpgrade(actions, at: now)
            }
        }
        poll(generation: generation)
    }

    /// Issues the next long-poll GET unless polling is paused for an upgrade or over.
    private func poll(generation: Int) {
        guard generation == self.generation, case .polling(let sid) = transport else { return }
        if pollingPaused {
            pausedIfIdle()
            return
        }
        pollInFlight = true
        PollingRequest.send(on: loop, endpoint: endpoint, method: .GET, target: endpoint.target(transport: "polling", sid: sid),
                            body: nil).whenComplete { result in
            guard generation == self.generation else { return }
            switch result {
            case .success(let body): self.pollingPayload(body, generation: generation)
            case .failure:
                self.pollInFlight = false
                self.drive { $0.transportError(at: $1) }
            }
        }
    }

    /// Polling is paused and nothing is in flight: tell the upgrade machine.
    private func pausedIfIdle() {
        guard pollingPaused, !pollInFlight, !posting, var u = upgrade else { return }
        let now = self.loop.instant
        let actions = u.currentPaused(at: now)
        upgrade = u
        performUpgrade(actions, at: now)
    }

    private func flushPolling() {
        guard !posting, !pollingPaused, !pollOutbox.isEmpty, case .polling(let sid) = transport else { return }
        posting = true
        let body = EngineIOPayload(packets: pollOutbox).encodedText
        pollOutbox.removeAll()
        let generation = self.generation
        PollingRequest.send(on: loop, endpoint: endpoint, method: .POST, target: endpoint.target(transport: "polling", sid: sid),
                            body: body).whenComplete { result in
            guard generation == self.generation else { return }
            self.posting = false
            if case .failure = result {
                self.drive { $0.transportError(at: $1) }
                return
            }
            self.flushPolling()
            self.pausedIfIdle()
        }
    }

    // MARK: Packets

    private func send(_ packet: EngineIOPacket) {
        if var u = upgrade, u.isPending {
            let now = self.loop.instant
            let actions = u.outbound(packet, at: now)
            upgrade = u
            performUpgrade(actions, at: now)
            return
        }
        sendOnCurrent(packet)
    }

    private func sendOnCurrent(_ packet: EngineIOPacket) {
        switch transport {
        case .websocket(let connection): connection.send(packet.frame)
        case .polling:
            pollOutbox.append(packet)
            flushPolling()
        case .none: break
        }
    }

    private func received(_ frame: EngineIOFrame) {
        let now = self.loop.instant
        do {
            let packet = try EngineIOPacket(frame: frame)
            if case .open(let handshake) = packet { noteSid(handshake.sid) }
            perform(stack.received(packet, at: now), at: now)
        } catch {
            perform(stack.receivedMalformed(error, at: now), at: now)
        }
    }

    // MARK: Upgrade from polling

    private func performUpgrade(_ actions: [EngineIOUpgradeAction], at now: Instant) {
        for action in actions {
            switch action {
            case .send(let packet, on: .current): sendOnCurrent(packet)
            case .send(let packet, on: .probe): probe?.send(packet.frame)
            case .arm(let timer, let at):
                arm(.upgrade(timer), at: at) { now in
                    guard var u = self.upgrade else { return }
                    let actions = u.timerFired(timer, at: now)
                    self.upgrade = u
                    self.performUpgrade(actions, at: now)
                }
            case .cancel(let timer): timers.cancel(.upgrade(timer))
            case .openProbe: openProbe()
            case .closeProbe:
                probe?.close()
                probe = nil
            case .pauseCurrent:
                pollingPaused = true
                pausedIfIdle()
            case .resumeCurrent:
                pollingPaused = false
                poll(generation: generation)
                flushPolling()
            case .upgraded:
                guard let probe else { continue }
                transport = .websocket(probe)
                self.probe = nil
                record(.connect, detail: "upgraded to websocket", at: now)
                let queued = pollOutbox
                pollOutbox.removeAll()
                for packet in queued { probe.send(packet.frame) }
            case .failed(let failure):
                record(.connectError, reason: "upgrade failed: \(failure)", at: now)
            }
        }
    }

    private func openProbe() {
        guard case .polling(let sid) = transport else { return }
        let generation = self.generation
        let (connection, upgraded) = WebSocketClientConnection.connect(
            on: loop, endpoint: endpoint, sid: sid,
            onFrame: { [weak self] frame in
                guard let self, generation == self.generation else { return }
                if let u = self.upgrade, u.isPending {
                    let now = self.loop.instant
                    guard let packet = try? EngineIOPacket(frame: frame) else { return }
                    var machine = u
                    let actions = machine.receivedOnProbe(packet, at: now)
                    self.upgrade = machine
                    self.performUpgrade(actions, at: now)
                } else {
                    self.received(frame)
                }
            },
            onClose: { [weak self] in
                guard let self, generation == self.generation else { return }
                let now = self.loop.instant
                if let u = self.upgrade, u.isPending {
                    var machine = u
                    let actions = machine.probeClosed(at: now)
                    self.upgrade = machine
                    self.performUpgrade(actions, at: now)
                } else if case .websocket = self.transport {
                    self.perform(self.stack.transportClosed(at: now), at: now)
                }
            }
        )
        probe = connection
        upgraded.whenComplete { result in
            guard generation == self.generation, var u = self.upgrade else { return }
            let now = self.loop.instant
            let actions: [EngineIOUpgradeAction]
            switch result {
            case .success: actions = u.probeOpened(at: now)
            case .failure: actions = u.probeClosed(at: now)
            }
            self.upgrade = u
            self.performUpgrade(actions, at: now)
        }
    }
}
