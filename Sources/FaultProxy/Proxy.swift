import EventLoopTime
import LabCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// A snapshot of one live connection, for the API's connections listing.
public struct ConnectionInfo: Sendable, Hashable {
    /// The connection's id, usable to target a toxic at it.
    public var id: UInt64
    /// The client's address.
    public var client: String
    /// When it was accepted (live clock).
    public var openedAt: Instant
    /// Bytes read from the client so far.
    public var bytesUpstream: Int64
    /// Bytes read from the server so far.
    public var bytesDownstream: Int64
    /// Names of the toxics this connection suffers (after its toxicity draws).
    public var toxics: [String]
}

/// A snapshot of a proxy's configuration, as the API shows it.
public struct ProxySnapshot: Sendable, Hashable {
    public var name: String
    /// The address it listens on, with the real port once listening.
    public var listen: String
    public var upstream: String
    public var enabled: Bool
    public var toxics: [Toxic]
    /// Every upstream (server instance), in order; `upstream` is the first.
    public var upstreams: [String] = []
    /// How new connections are spread over them.
    public var balance: BalancePolicy = .roundRobin
    /// Each upstream's state: in or out, and its open connections.
    public var upstreamStates: [UpstreamBalancer.Upstream] = []
}

/// Counters of one proxy, for the Prometheus endpoint.
public struct ProxyCounters: Sendable, Hashable {
    public var connectionsAccepted: Int64
    public var connectionsActive: Int64
    public var bytesUpstream: Int64
    public var bytesDownstream: Int64
    public var resets: Int64
}

/// One listener forwarding to one upstream, with its toxics and its live connections. Thread-safe:
/// configuration is under a lock; connections run on their event loops.
public final class Proxy: @unchecked Sendable {
    /// Unique name within the registry.
    public let name: String
    /// Read allocator for both channels of a connection: reads grow up to 256 KiB for throughput
    /// and start small so idle connections cost little.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 512, initial: 4096, maximum: 256 * 1024)
    /// One read per readable event: the flow-control gate (`ProxyConnection.mayRead`) is asked
    /// between read cycles, so with NIO's default of four reads a cycle a link could take up to
    /// four reads (1 MiB) past its window before the gate closed.
    static let readsPerCycle = 1

    private struct State {
        var listen: HostPort
        var upstreams: [HostPort]
        var balancer: UpstreamBalancer
        var enabled: Bool
        var toxics: [Toxic] = []
        var listener: (any Channel)?
        var connections: [UInt64: ProxyConnection] = [:]
    }

    private let state: NIOLockedValueBox<State>
    private let group: any EventLoopGroup
    private let seed: UInt64
    private let window: Int
    private let observer: (any ChunkObserver)?
    private let connector: UpstreamConnector
    private let nextConnectionID: Synchronization.Atomic<UInt64>
    private let accepted = Synchronization.Atomic<Int64>(0)
    private let bytesUp = Synchronization.Atomic<Int64>(0)
    private let bytesDown = Synchronization.Atomic<Int64>(0)
    private let resets = Synchronization.Atomic<Int64>(0)

    init(name: String, listen: HostPort, upstream: HostPort, group: any EventLoopGroup, seed: UInt64,
         window: Int, observer: (any ChunkObserver)?, connectionIDs: UInt64,
         connector: @escaping UpstreamConnector = ProxyConnection.tcpConnector, enabled: Bool = false) {
        self.name = name
        // `enabled` without a listener: a test's proxy, handed its client channels through `accept`.
        self.state = NIOLockedValueBox(State(listen: listen, upstreams: [upstream],
                                             balancer: UpstreamBalancer(count: 1, policy: .roundRobin), enabled: enabled))
        self.group = group
        self.seed = seed
        self.window = window
        self.observer = observer
        self.connector = connector
        self.nextConnectionID = Atomic(connectionIDs)
    }

    /// The proxy's clock: its event loops' (`loop.now`), which stamps toxics as they are installed
    /// and dates its connections; virtual when the proxy runs on a testing loop.
    public var now: Instant { Instant(group.any().now) }

    /// The current configuration.
    public var snapshot: ProxySnapshot {
        state.withLockedValue { s in
            ProxySnapshot(name: name, listen: s.listen.description, upstream: s.upstreams[0].description,
                          enabled: s.enabled, toxics: s.toxics, upstreams: s.upstreams.map(\.description),
                          balance: s.balancer.policy, upstreamStates: s.balancer.upstreams)
        }
    }

    /// The address actually listened on (port resolved), or the configured one when disabled.
    public var listenAddress: HostPort { state.withLockedValue { $0.listen } }

    /// The proxy's counters.
    public var counters: ProxyCounters {
        let active = state.withLockedValue { Int64($0.connections.count) }
        return ProxyCounters(connectionsAccepted: accepted.load(ordering: .relaxed), connectionsActive: active,
                             bytesUpstream: bytesUp.load(ordering: .relaxed),
                             bytesDownstream: bytesDown.load(ordering: .relaxed), resets: resets.load(ordering: .relaxed))
    }

    /// The live connections, oldest first.
    public var connections: [ConnectionInfo] {
        let (conns, toxics) = state.withLockedValue { (Array($0.connections.values), $0.toxics) }
        return conns.sorted { $0.id < $1.id }.map { c in
            let applied = (c.activeConditions(toxics, direction: .upstream) + c.activeConditions(toxics, direction: .downstream))
                .filter(\.applies).map(\.name)
            return ConnectionInfo(id: c.id, client: c.clientAddress, openedAt: c.openedAt,
                                  bytesUpstream: c.bytesUpstream.load(ordering: .relaxed),
                                  bytesDownstream: c.bytesDownstream.load(ordering: .relaxed), toxics: applied)
        }
    }

    // MARK: Enable / disable

    /// Starts listening; no-op when already enabled.
    public func enable() async throws(ProxyError) {
        let listen = state.withLockedValue { $0.enabled ? nil : $0.listen }
        guard let listen else { return }
        let proxy = self
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: Proxy.receiveAllocator)
            .childChannelOption(.maxMessagesPerRead, value: UInt(Proxy.readsPerCycle))
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try proxy.accept(child)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: listen.host, port: listen.port).get()
            let port = channel.localAddress?.port ?? listen.port
            let stale: (any Channel)? = state.withLockedValue { s in
                if s.enabled { return channel }  // lost a race with another enable
                s.enabled = true
                s.listener = channel
                s.listen = HostPort(host: listen.host, port: port)
                return nil
            }
            if let stale { try? await stale.close() }
        } catch {
            throw .listenFailed(listen.description, reason: Self.listenFailure(error))
        }
    }

    /// A bind failure as Go's net package words it ("bind: address already in use"), not NIO's
    /// internal call site and errno.
    static func listenFailure(_ error: any Error) -> String {
        if let io = error as? IOError {
            let text = String(cString: strerror(io.errnoCode)).lowercased()
            return io.description.hasPrefix("bind") ? "bind: \(text)" : text
        }
        if let unknown = error as? SocketAddressError.UnknownHost { return "lookup \(unknown.host): no such host" }
        return "\(error)"
    }

    /// Stops listening and closes every connection, as Toxiproxy does for `enabled: false`.
    public func disable() async {
        let (listener, conns) = state.withLockedValue { s -> ((any Channel)?, [ProxyConnection]) in
            let result = (s.listener, Array(s.connections.values))
            s.enabled = false
            s.listener = nil
            return result
        }
        try? await listener?.close()
        // Wait for every connection to be closed, so nothing of this proxy outlives the call.
        for closing in conns.map({ $0.abort(reason: "proxy disabled") }) { try? await closing.get() }
    }

    /// Changes the listen and upstream addresses; a changed listen address rebinds.
    public func update(listen: HostPort?, upstream: HostPort?) async throws(ProxyError) {
        let (wasEnabled, listenChanged) = state.withLockedValue { s -> (Bool, Bool) in
            let changed = listen.map { $0 != s.listen } ?? false
            if let upstream {
                s.upstreams = [upstream]
                s.balancer = UpstreamBalancer(count: 1, policy: s.balancer.policy)
            }
            return (s.enabled, changed)
        }
        if listenChanged, let listen {
            await disable()
            state.withLockedValue { $0.listen = listen }
            if wasEnabled { try await enable() }
        }
    }

    /// Puts several upstreams (server instances) behind the proxy, spread by `balance`; open
    /// connections keep theirs. One upstream is the plain proxy.
    /// `firstTurn` is the upstream the turn starts at (several proxies in front of one pool, one per
    /// client, start apart so that their first clients spread).
    public func setUpstreams(_ upstreams: [HostPort], balance: BalancePolicy, firstTurn: Int = 0) throws(ProxyError) {
        guard !upstreams.isEmpty else { throw .invalidUpstreams("at least one upstream is needed") }
        state.withLockedValue { s in
            var balancer = UpstreamBalancer(count: upstreams.count, policy: balance, firstTurn: firstTurn)
            // The connections still open to an upstream that stays (same index) count on it.
            for c in s.connections.values {
                if let i = c.upstreamIndex, i < upstreams.count, i < s.upstreams.count, s.upstreams[i] == upstreams[i] {
                    balancer.count(openOn: i)
                }
            }
            s.upstreams = upstreams
            s.balancer = balancer
        }
    }

    /// Takes upstream `index` out (no new connections go to it; open ones stay) or puts it back.
    public func setUpstream(_ index: Int, enabled: Bool) throws(ProxyError) {
        let found = state.withLockedValue { s -> Bool in
            guard s.upstreams.indices.contains(index) else { return false }
            s.balancer.setEnabled(enabled, upstream: index)
            return true
        }
        guard found else { throw .upstreamNotFound(index) }
    }

    /// Closes every open connection to upstream `index` (a reset, as a load balancer that drops an
    /// instance's connections): the clients reconnect, to the instances still in.
    public func dropConnections(toUpstream index: Int) async {
        let conns = state.withLockedValue { s in s.connections.values.filter { $0.upstreamIndex == index } }
        for closing in conns.map({ $0.abort(reason: "upstream \(index) dropped", reset: true) }) { try? await closing.get() }
    }

    /// How many upstreams the proxy balances over now.
    var upstreamCount: Int { state.withLockedValue { $0.upstreams.count } }

    func learnSession(_ sid: String, upstream: Int) {
        state.withLockedValue { $0.balancer.learn(sid: sid, upstream: upstream) }
    }

    // MARK: Toxics

    /// Adds a toxic; 409-style error when the name is taken. Returns once every live connection
    /// has it in force, so data sent afterwards is affected.
    public func addToxic(_ toxic: Toxic) async throws(ProxyError) {
        do { try toxic.condition.validate() } catch { throw .invalidToxic(error) }
        let toxic = stamped(toxic)
        try await mutateToxics { toxics throws(ProxyError) in
            if toxics.contains(where: { $0.name.hasSameBytes(as: toxic.name) }) { throw .toxicExists(toxic.name) }
            toxics.append(toxic)
        }
    }

    /// Replaces a toxic with the same name, keeping its creation time; returns once in force.
    public func updateToxic(_ toxic: Toxic) async throws(ProxyError) {
        do { try toxic.condition.validate() } catch { throw .invalidToxic(error) }
        try await mutateToxics { toxics throws(ProxyError) in
            guard let i = toxics.firstIndex(where: { $0.name.hasSameBytes(as: toxic.name) }) else { throw .toxicNotFound(toxic.name) }
            var updated = toxic
            updated.createdAt = toxics[i].createdAt
            toxics[i] = updated
        }
    }

    /// Removes a toxic by name; returns once no connection applies it any more.
    public func removeToxic(named name: String) async throws(ProxyError) {
        try await mutateToxics { toxics throws(ProxyError) in
            guard let i = toxics.firstIndex(where: { $0.name.hasSameBytes(as: name) }) else { throw .toxicNotFound(name) }
            toxics.remove(at: i)
        }
    }

    /// Removes every toxic; returns once no connection applies any.
    public func removeAllToxics() async {
        try? await mutateToxics { toxics throws(ProxyError) in toxics.removeAll() }
    }

    /// Adds and removes toxics in one step without waiting for connections to confirm: for timed
    /// changes fired from an event-loop timer (a scenario's phases), where waiting would only add
    /// delay. Names to remove that are not present are ignored; a name to add that exists is replaced.
    public func changeToxics(adding: [Toxic], removing: [String]) {
        let adding = adding.map(stamped)
        let (toxics, conns) = state.withLockedValue { s -> ([Toxic], [ProxyConnection]) in
            s.toxics.removeAll { t in removing.contains { $0.hasSameBytes(as: t.name) } || adding.contains { $0.name.hasSameBytes(as: t.name) } }
            s.toxics.append(contentsOf: adding)
            return (s.toxics, Array(s.connections.values))
        }
        for c in conns { _ = c.applyToxics(toxics) }
    }

    /// The toxic with its installation instant: the one it was given, or now.
    private func stamped(_ toxic: Toxic) -> Toxic {
        var toxic = toxic
        if toxic.createdAt == nil { toxic.createdAt = now }
        return toxic
    }

    /// The toxic with this name.
    public func toxic(named name: String) throws(ProxyError) -> Toxic {
        guard let t = state.withLockedValue({ $0.toxics.first { $0.name.hasSameBytes(as: name) } }) else { throw .toxicNotFound(name) }
        return t
    }

    private func mutateToxics(_ body: (inout [Toxic]) throws(ProxyError) -> Void) async throws(ProxyError) {
        let result: Result<([Toxic], [ProxyConnection]), ProxyError> = state.withLockedValue { s in
            var toxics = s.toxics
            do throws(ProxyError) {
                try body(&toxics)
            } catch {
                return .failure(error)
            }
            s.toxics = toxics
            return .success((toxics, Array(s.connections.values)))
        }
        let (toxics, conns) = try result.get()
        for future in conns.map({ $0.applyToxics(toxics) }) {
            try? await future.get()
        }
    }

    // MARK: Connections

    /// Takes over an accepted client channel (from the listener, or a test's embedded channel): a
    /// new connection, started unless the proxy is disabled.
    func accept(_ child: any Channel) throws {
        let id = nextConnectionID.wrappingAdd(1, ordering: .relaxed).newValue
        let connection = ProxyConnection(id: id, client: child, owner: self, seed: seed, window: window, observer: observer,
                                         connector: connector)
        try child.pipeline.syncOperations.addHandler(ProxySideHandler(connection: connection, side: .client))
        let host = Self.host(of: connection.clientAddress)
        let (toxics, chosen, policy, enabled) = state.withLockedValue { s -> ([Toxic], (HostPort, Int)?, BalancePolicy, Bool) in
            s.connections[id] = connection
            guard s.enabled, s.balancer.policy != .sid else { return (s.toxics, nil, s.balancer.policy, s.enabled) }
            let index = s.balancer.choose(clientHost: host)
            return (s.toxics, index.map { (s.upstreams[$0], $0) }, s.balancer.policy, s.enabled)
        }
        accepted.add(1, ordering: .relaxed)
        guard enabled else {
            connection.terminate(reason: "proxy disabled", reset: false)
            return
        }
        if policy == .sid {
            connection.startRouted(toxics: toxics, connectTimeout: .seconds(10)) { [weak self] sid in
                self?.state.withLockedValue { s in
                    s.balancer.choose(clientHost: host, sid: sid).map { (s.upstreams[$0], $0) }
                }
            }
        } else if let (upstream, index) = chosen {
            connection.start(toxics: toxics, upstream: upstream, index: index, connectTimeout: .seconds(10))
        } else {
            connection.terminate(reason: "no upstream in", reset: true)
        }
    }

    /// The IP of "[IPv4]127.0.0.1/127.0.0.1:5000"-style or "127.0.0.1:5000" addresses (stickiness
    /// by address ignores the port).
    static func host(of address: String) -> String {
        var text = Substring(address)
        if let slash = text.lastIndex(of: "/") { text = text[text.index(after: slash)...] }
        if let colon = text.lastIndex(of: ":") { text = text[..<colon] }
        return String(text)
    }

    func connectionEnded(_ connection: ProxyConnection, reason: String) {
        if reason.contains("reset") { resets.add(1, ordering: .relaxed) }
        state.withLockedValue { s in
            if s.connections.removeValue(forKey: connection.id) != nil, let i = connection.upstreamIndex { s.balancer.closed(i) }
        }
    }

    func countBytes(_ count: Int, direction: LinkDirection) {
        if direction == .upstream {
            bytesUp.add(Int64(count), ordering: .relaxed)
        } else {
            bytesDown.add(Int64(count), ordering: .relaxed)
        }
    }
}
