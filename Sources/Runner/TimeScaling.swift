import Heartbeat
import LabCore
import Scenario

extension Scenario {
    /// The scenario with every duration multiplied by `factor` (and every rate divided by it), so
    /// a 30-minute scenario can be checked live in 3 minutes with `factor` 0.1: the timeline, the
    /// tolerated stall, the built-in components' settings, the conditions' times and the
    /// detection bound all shrink together. Latency distributions are not rescaled (noted).
    public func scaled(by factor: Double) -> Scenario {
        guard factor != 1 else { return self }
        func s(_ span: TimeSpan) -> TimeSpan { .seconds(span.seconds * factor) }
        var out = self
        out.duration = s(duration)
        out.toleratedStall = s(toleratedStall)
        if case .socketIO(var server) = server {
            server.pingInterval = s(server.pingInterval)
            server.pingTimeout = s(server.pingTimeout)
            server.detector = server.detector?.scaled(by: factor)
            server.connectionStateRecovery = server.connectionStateRecovery?.scaled(by: factor)
            out.server = .socketIO(server)
        }
        if case .socketIO(var client) = clients.component {
            client.connectTimeout = s(client.connectTimeout)
            client.detector = client.detector?.scaled(by: factor)
            client.reconnection.delay = s(client.reconnection.delay)
            client.reconnection.delayMax = s(client.reconnection.delayMax)
            if var h = client.application.healthCheck {
                h.staleAfter = s(h.staleAfter)
                h.checkInterval = h.checkInterval.map(s)
                client.application.healthCheck = h
            }
            if var p = client.application.customPing {
                p.interval = s(p.interval)
                p.timeout = s(p.timeout)
                p.firstPingAfter = p.firstPingAfter.map(s)
                client.application.customPing = p
            }
            out.clients.component = .socketIO(client)
        }
        out.link = Self.scale(link, factor)
        out.phases = phases.map { phase in
            var p = phase
            p.at = s(phase.at)
            p.every = phase.every.map(s)
            p.clientTimerAlignment = phase.clientTimerAlignment.map(s)
            switch phase.end {
            case .after(let length): p.end = .after(s(length))
            case .at(let until): p.end = .at(s(until))
            case .scenarioEnd: break
            }
            p.conditions = Self.scale(phase.conditions, factor)
            return p
        }
        for flow in [\Workload.serverToClient, \Workload.clientToServer, \Workload.broadcast] {
            if var f = out.workload[keyPath: flow] {
                f.rate = EventRate(perSecond: f.rate.perSecond / factor)
                out.workload[keyPath: flow] = f
            }
        }
        out.expectations.detectionWithin = expectations.detectionWithin.map(s)
        // Random faults: as often per scaled second, each as long in scaled time.
        func rate(_ r: EventRate) -> EventRate { EventRate(perSecond: r.perSecond / factor) }
        if var stalls = faults.stalls {
            stalls.rate = rate(stalls.rate)
            stalls.duration = stalls.duration.scaled(by: factor)
            out.faults.stalls = stalls
        }
        if var dead = faults.deadPeers {
            dead.rate = rate(dead.rate)
            dead.recoverAfter = dead.recoverAfter?.scaled(by: factor)
            out.faults.deadPeers = dead
        }
        if var restarts = faults.serverRestarts {
            restarts.rate = rate(restarts.rate)
            restarts.downFor = restarts.downFor.scaled(by: factor)
            out.faults.serverRestarts = restarts
        }
        return out
    }

    static func scale(_ conditions: LinkConditions, _ factor: Double) -> LinkConditions {
        LinkConditions(upstream: conditions.upstream.map { scale($0, factor) },
                       downstream: conditions.downstream.map { scale($0, factor) })
    }

    static func scale(_ condition: Condition, _ factor: Double) -> Condition {
        func s(_ span: TimeSpan) -> TimeSpan { .seconds(span.seconds * factor) }
        switch condition {
        case .latency(var c):
            c.latency = s(c.latency)
            c.jitter = s(c.jitter)
            return .latency(c)
        case .stall(var c):
            c.duration = c.duration.map(s)
            return .stall(c)
        case .blackhole(var c):
            c.closeAfter = c.closeAfter.map(s)
            return .blackhole(c)
        case .loss(var c):
            c.initialRTO = s(c.initialRTO)
            c.maxRTO = s(c.maxRTO)
            return .loss(c)
        case .slicer(var c):
            c.delay = s(c.delay)
            return .slicer(c)
        case .slowClose(var c):
            c.delay = s(c.delay)
            return .slowClose(c)
        case .reset(var c):
            c.after = s(c.after)
            return .reset(c)
        case .idleTimeout(var c):
            c.after = s(c.after)
            return .idleTimeout(c)
        case .slowConnect(var c):
            c.delay = s(c.delay)
            return .slowConnect(c)
        case .bandwidth, .limitData:
            return condition
        }
    }
}
