import Heartbeat
import LabCore
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
    /// Connection id used in the event log.
    public var name = "c1"
    /// A dashboard's health check on top of the session (nil: none), as the simulated client runs it.
    public var healthCheck: HealthCheck.Options?
    /// A dashboard's custom ping over Socket.IO events (nil: none), as the simulated client runs it.
    public var customPing: CustomPing.Options?
    /// When a timer due at an instant actually runs (a throttled background tab); nil: on time.
    public var timerDeadline: (@Sendable (Instant) -> Instant)?

    /// The defaults.
    public init() {}
}

/// Flatline's built-in Socket.IO client on SwiftNIO: Engine.IO over WebSocket or long-polling,
/// the client heartbeat, the namespace session and socket.io-client's reconnection manager, all
/// run from the Heartbeat machines; every step goes to the event log. On top, when configured, a
/// dashboard's application layer (health check, custom ping), wired exactly as the simulated
/// client wires it: both start on the namespace's connect, stop on any disconnect, and force a
/// reconnect when they fire.
public final class SocketIOClient: @unchecked Sendable {
    enum ClientTimer: Hashable {
        case heartbeat(EngineIOClientHeartbeat.Timer)
        case upgrade(EngineIOUpgradeTimer)
        case session(SocketIOTimer)
        case reconnect(ReconnectionTimer)
        case emit
        case customPing(CustomPingTimer)
        case healthCheck
    }

    enum Transport {
        case none
        case websocket(WebSocketClientConnection)
        case polling(sid: String)
    }

    private let loop: any EventLoop
    private let endpoint: EngineIOEndpoint
    private let configuration: SocketIOClientConfiguration
    private let events: any EventSink
    private let startedAt: Instant
    private var reconnection: ReconnectionManager
    private var heartbeat = EngineIOClientHeartbeat()
    private var session: SocketIOClientSession
    private var transport: Transport = .none
    private var generation = 0
    private var timers = MachineTimers<ClientTimer>()
    private var pollOutbox: [EngineIOPacket] = []
    private var posting = false
    private var pollInFlight = false
    private var pollingPaused = false
    private var upgrade: EngineIOClientUpgrade?
    private var probe: WebSocketClientConnection?
    private var stopped = false
    private var echoCount: Int64 = 0
    private var customPing: CustomPing?
    private var healthCheck: HealthCheck?

    private init(loop: any EventLoop, endpoint: EngineIOEndpoint, configuration: SocketIOClientConfiguration,
                 events: any EventSink, startedAt: Instant?) {
        self.loop = loop
        self.endpoint = endpoint
        self.configuration = configuration
        self.events = events
        self.startedAt = startedAt ?? Instant.monotonicNow()
        self.reconnection = ReconnectionManager(options: configuration.reconnection,
                                                generator: SeededGenerator(seed: configuration.seed, stream: [0x7265]))
        self.session = SocketIOClientSession(options: .init(auth: ["flatline": .string(configuration.name)], connectTimeout: configuration.connectTimeout))
        self.customPing = configuration.customPing.map { CustomPing(options: $0) }
        self.healthCheck = configuration.healthCheck.map { HealthCheck(options: $0) }
    }

    /// Starts connecting (and reconnecting, as configured) to `endpoint`; event times count from
    /// `startedAt` (default: now).
    public static func start(group: any EventLoopGroup, endpoint: EngineIOEndpoint,
                             configuration: SocketIOClientConfiguration = .init(), events: any EventSink,
                             startedAt: Instant? = nil) -> SocketIOClient {
        let client = SocketIOClient(loop: group.next(), endpoint: endpoint, configuration: configuration, events: events,
                                    startedAt: startedAt)
        client.loop.execute {
            let now = Instant.monotonicNow()
            client.performReconnection(client.reconnection.start(at: now), at: now)
        }
        return client
    }

    /// Disconnects as the application would (socket.disconnect(): "io client disconnect").
    public func stop() async {
        try? await loop.submit {
            self.stopped = true
            let now = Instant.monotonicNow()
            self.performSession(self.session.disconnect(at: now), at: now)
            self.performReconnection(self.reconnection.stop(at: now), at: now)
            self.timers.cancelAll()
        }.get()
        // Let the DISCONNECT packet and the close leave before the caller tears down the loop.
        try? await loop.scheduleTask(in: .milliseconds(50)) {}.futureResult.get()
    }

    private func record(_ kind: EventKind, reason: String? = nil, attempt: Int? = nil, detail: String? = nil, at now: Instant) {
        events.record(LabEvent(time: now - startedAt, connection: configuration.name, side: .client, kind: kind,
                               reason: reason, attempt: attempt, detail: detail))
    }

    // MARK: Opening a transport

    private func open(attempt: Int, at now: Instant) {
        guard !stopped else { return }
        generation += 1
        let generation = self.generation
        if attempt > 0 { record(.reconnectAttempt, attempt: attempt, at: now) }
        heartbeat = EngineIOClientHeartbeat()
        session = SocketIOClientSession(options: .init(auth: ["flatline": .string(configuration.name)], connectTimeout: configuration.connectTimeout))
        pollOutbox.removeAll()
        posting = false
        pollInFlight = false
        pollingPaused = false
        upgrade = configuration.transports.contains("websocket") ? EngineIOClientUpgrade(probeTimeout: .seconds(10)) : nil
        probe?.close()
        probe = nil
        performSession(session.start(at: now), at: now)
        if configuration.transports.first == "polling" {
            PollingRequest.send(on: loop, endpoint: endpoint, method: .GET, target: endpoint.target(transport: "polling", sid: nil),
                                body: nil).whenComplete { result in
                guard generation == self.generation else { return }
                switch result {
                case .success(let body): self.pollingPayload(body, generation: generation)
                case .failure: self.openFailed(at: Instant.monotonicNow())
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
                    let now = Instant.monotonicNow()
                    self.performHeartbeat(self.heartbeat.transportClosed(at: now), at: now)
                }
            )
            transport = .websocket(connection)
            upgraded.whenFailure { _ in
                guard generation == self.generation else { return }
                self.openFailed(at: Instant.monotonicNow())
            }
        }
    }

    private func openFailed(at now: Instant) {
        record(.connectError, reason: "transport error", at: now)
        generation += 1
        timers.cancelAll()
        transport = .none
        performReconnection(reconnection.openFailed(at: now), at: now)
    }

    // MARK: Polling

    private func pollingPayload(_ body: String, generation: Int) {
        pollInFlight = false
        guard let payload = try? EngineIOPayload(text: body) else {
            let now = Instant.monotonicNow()
            performHeartbeat(heartbeat.receivedMalformed(EngineIOParseError(.empty), at: now), at: now)
            return
        }
        for packet in payload.packets {
            guard generation == self.generation else { return }
            if case .open(let handshake) = packet { transport = .polling(sid: handshake.sid) }
            received(packet)
            if case .open(let handshake) = packet, generation == self.generation, var u = upgrade {
                let now = Instant.monotonicNow()
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
                let now = Instant.monotonicNow()
                self.performHeartbeat(self.heartbeat.transportError(at: now), at: now)
            }
        }
    }

    /// Polling is paused and nothing is in flight: tell the upgrade machine.
    private func pausedIfIdle() {
        guard pollingPaused, !pollInFlight, !posting, var u = upgrade else { return }
        let now = Instant.monotonicNow()
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
                let now = Instant.monotonicNow()
                self.performHeartbeat(self.heartbeat.transportError(at: now), at: now)
                return
            }
            self.flushPolling()
            self.pausedIfIdle()
        }
    }

    // MARK: Packets

    private func send(_ packet: EngineIOPacket) {
        if var u = upgrade, u.isPending {
            let now = Instant.monotonicNow()
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
        let now = Instant.monotonicNow()
        do {
            received(try EngineIOPacket(frame: frame), at: now)
        } catch {
            performHeartbeat(heartbeat.receivedMalformed(error, at: now), at: now)
        }
    }

    private func received(_ packet: EngineIOPacket, at now: Instant = Instant.monotonicNow()) {
        let generation = self.generation
        performHeartbeat(heartbeat.received(packet, at: now), at: now)
        switch packet {
        case .message, .binary: observeTraffic(.message, at: now)
        case .ping, .pong: observeTraffic(.heartbeat, at: now)
        default: break
        }
        // The heartbeat or the health check may have closed the connection.
        guard generation == self.generation else { return }
        switch packet {
        case .open:
            performReconnection(reconnection.opened(at: now), at: now)
            performSession(session.transportOpened(at: now), at: now)
        case .ping:
            record(.ping, at: now)
        case .message(let text):
            performSession(session.receive(.text(text), at: now), at: now)
        case .binary(let bytes):
            performSession(session.receive(.binary(bytes), at: now), at: now)
        case .close:
            closeTransport(reason: .transportClose, at: now)
        default:
            break
        }
    }

    // MARK: Machines

    private func arm(_ timer: ClientTimer, at instant: Instant, _ fire: @escaping (Instant) -> Void) {
        let box = UnsafeTransfer(fire)
        let instant = configuration.timerDeadline?(instant) ?? instant
        timers.arm(timer, at: instant, on: loop) { [weak self] in
            guard let self else { return }
            self.timers.fired(timer)
            box.value(Instant.monotonicNow())
        }
    }

    private func performHeartbeat(_ actions: [EngineIOClientHeartbeat.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .send(let packet): send(packet)
            case .arm(let timer, let at):
                arm(.heartbeat(timer), at: at) { now in self.performHeartbeat(self.heartbeat.timerFired(timer, at: now), at: now) }
            case .cancel(let timer): timers.cancel(.heartbeat(timer))
            case .close(let reason): closeTransport(reason: reason, at: now)
            case .observe: break
            }
        }
    }

    private func performSession(_ actions: [SocketIOClientSession.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .send(let output): sessionOutput(output, at: now)
            case .arm(let timer, let at):
                arm(.session(timer), at: at) { now in self.performSession(self.session.timerFired(timer, at: now), at: now) }
            case .cancel(let timer): timers.cancel(.session(timer))
            case .close(let reason):
                closeTransport(reason: reason, at: now, fromSession: true)
            case .observe: break
            }
        }
    }

    private func sessionOutput(_ output: SocketIOClientOutput, at now: Instant) {
        switch output {
        case .message(let message):
            for frame in message.frames {
                switch frame {
                case .text(let text): send(.message(text))
                case .binary(let bytes): send(.binary(bytes))
                }
            }
        case .connected:
            record(.connect, detail: "socket.io /", at: now)
            if let interval = configuration.emitInterval { arm(.emit, at: now + interval) { now in self.emitEcho(at: now) } }
            // The dashboard's socket.on("connect"): start the custom ping and the health check.
            if customPing != nil { performCustomPing(customPing!.connected(at: now), at: now) }
            if healthCheck != nil, session.isConnected { performHealthCheck(healthCheck!.connected(at: now), at: now) }
        case .connectFailed(let failure):
            let reason = switch failure {
            case .timedOut: CloseReason.connectTimeout.rawValue
            case .refused: "refused by server"
            case .incompatibleServer: "incompatible server"
            }
            record(.connectError, reason: reason, at: now)
            // A server refusal (CONNECT_ERROR) destroys the socket: socket.io-client stops reconnecting.
            if case .refused = failure { performReconnection(reconnection.stop(at: now), at: now) }
        case .event(let event):
            record(.messageReceived, detail: event.name, at: now)
            if let id = event.ackID { performSession(session.ack(id, event.arguments, at: now), at: now) }
            if customPing != nil, session.isConnected {
                performCustomPing(customPing!.received(event: event.name, arguments: event.arguments, at: now), at: now)
            }
        case .ackReceived:
            record(.messageReceived, detail: "ack", at: now)
        case .ackFailed(let id, let failure):
            record(.messageReceived, reason: "\(failure)", detail: "ack \(id) failed", at: now)
        }
    }

    /// Inbound traffic for the health check; it may find the connection stale and close it.
    private func observeTraffic(_ traffic: HealthCheckTraffic, at now: Instant) {
        guard let check = healthCheck, check.state == .watching else { return }
        performHealthCheck(healthCheck!.received(traffic, at: now), at: now)
    }

    private func performCustomPing(_ actions: [CustomPing.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .send(let emit):
                guard session.isConnected, let emitted = try? session.emit(emit.event, emit.arguments, at: now) else { continue }
                record(.messageSent, detail: emit.event, at: now)
                performSession(emitted, at: now)
            case .arm(let timer, let at):
                arm(.customPing(timer), at: at) { now in
                    guard self.customPing != nil else { return }
                    self.performCustomPing(self.customPing!.timerFired(timer, at: now), at: now)
                }
            case .cancel(let timer): timers.cancel(.customPing(timer))
            case .close(let reason): closeTransport(reason: reason, at: now)
            case .observe: break
            }
        }
    }

    private func performHealthCheck(_ actions: [HealthCheck.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .arm(let timer, let at):
                arm(.healthCheck, at: at) { now in
                    guard self.healthCheck != nil else { return }
                    self.performHealthCheck(self.healthCheck!.timerFired(timer, at: now), at: now)
                }
            case .cancel: timers.cancel(.healthCheck)
            case .close(let reason): closeTransport(reason: reason, at: now)
            case .observe, .send: break
            }
        }
    }

    private func emitEcho(at now: Instant) {
        guard session.isConnected, let interval = configuration.emitInterval else { return }
        echoCount += 1
        // "echo" is not a reserved name, so this cannot throw.
        if let emitted = try? session.emitWithAck("echo", [.object(["n": .integer(echoCount)])], timeout: nil, at: now) {
            performSession(emitted.actions, at: now)
        }
        record(.messageSent, detail: "echo", at: now)
        arm(.emit, at: now + interval) { now in self.emitEcho(at: now) }
    }

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
                    let now = Instant.monotonicNow()
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
                let now = Instant.monotonicNow()
                if let u = self.upgrade, u.isPending {
                    var machine = u
                    let actions = machine.probeClosed(at: now)
                    self.upgrade = machine
                    self.performUpgrade(actions, at: now)
                } else if case .websocket = self.transport {
                    self.performHeartbeat(self.heartbeat.transportClosed(at: now), at: now)
                }
            }
        )
        probe = connection
        upgraded.whenComplete { result in
            guard generation == self.generation, var u = self.upgrade else { return }
            let now = Instant.monotonicNow()
            let actions: [EngineIOUpgradeAction]
            switch result {
            case .success: actions = u.probeOpened(at: now)
            case .failure: actions = u.probeClosed(at: now)
            }
            self.upgrade = u
            self.performUpgrade(actions, at: now)
        }
    }

    private func performReconnection(_ actions: [ReconnectionManager.Action], at now: Instant) {
        for action in actions {
            switch action {
            case .send(.openTransport(let attempt)): open(attempt: attempt, at: now)
            case .send(.reconnected(let attempts)): record(.connect, detail: "reconnected after \(attempts) attempts", at: now)
            case .send(.reconnectFailed): record(.connectError, reason: "reconnect failed", at: now)
            case .arm(let timer, let at):
                arm(.reconnect(timer), at: at) { now in self.performReconnection(self.reconnection.timerFired(timer, at: now), at: now) }
            case .cancel(let timer): timers.cancel(.reconnect(timer))
            case .close(let reason):
                // Stopped while an attempt was under way: abandon that attempt.
                if case .none = transport { generation += 1 } else { closeTransport(reason: reason, at: now) }
            case .observe: break
            }
        }
    }

    /// The connection ended for `reason`: tell every machine once, record it, close the transport.
    private func closeTransport(reason: CloseReason, at now: Instant, fromSession: Bool = false) {
        guard case .none = transport else {
            let old = transport
            transport = .none
            generation += 1
            timers.cancel(.emit)
            for t in [EngineIOClientHeartbeat.Timer.pingTimeout] { timers.cancel(.heartbeat(t)) }
            if case .websocket(let c) = old { c.close() }
            probe?.close()
            probe = nil
            upgrade = nil
            let wasConnected = session.isConnected
            if !fromSession { performSession(session.transportClosed(reason, at: now), at: now) }
            _ = heartbeat.close(at: now)
            // Any disconnect stops the application layer (a forced close has stopped its own machine).
            if customPing != nil { performCustomPing(customPing!.disconnected(at: now), at: now) }
            if healthCheck != nil { performHealthCheck(healthCheck!.disconnected(at: now), at: now) }
            record(.disconnect, reason: reason.rawValue, at: now)
            if wasConnected || reason != .connectTimeout {
                performReconnection(reconnection.disconnected(reason, at: now), at: now)
            } else {
                performReconnection(reconnection.openFailed(at: now), at: now)
            }
            return
        }
    }
}
