import LabCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// All proxies of one Flatline process, by name (its exact bytes): what Toxiproxy calls the proxy collection. The
/// control API and tests drive it; it owns no event loops, it is given them.
public final class ProxyRegistry: @unchecked Sendable {
    /// The seed every connection's random streams and toxicity draws derive from.
    public let seed: UInt64
    /// Bytes a link may hold (scheduled or held) before the proxy stops reading from its sender.
    public let window: Int
    private let group: any EventLoopGroup
    private let observer: (any ChunkObserver)?
    private let proxies = NIOLockedValueBox<[ExactName: Proxy]>([:])
    private let order = NIOLockedValueBox<UInt64>(0)

    /// Creates a registry on `group`; `window` bounds memory per link (default 4 MiB).
    public init(group: any EventLoopGroup, seed: UInt64 = 0, window: Int = 4 << 20, observer: (any ChunkObserver)? = nil) {
        self.group = group
        self.seed = seed
        self.window = window
        self.observer = observer
    }

    /// The proxies, sorted by name.
    public var all: [Proxy] {
        proxies.withLockedValue { Array($0.values) }.sorted { ExactName($0.name) < ExactName($1.name) }
    }

    /// The proxy with this name.
    public func proxy(named name: String) throws(ProxyError) -> Proxy {
        guard let p = proxies.withLockedValue({ $0[ExactName(name)] }) else { throw .proxyNotFound(name) }
        return p
    }

    /// Creates a proxy and, when `enabled`, starts listening; a name in use is an error.
    @discardableResult
    public func create(name: String, listen: HostPort, upstream: HostPort, enabled: Bool = true) async throws(ProxyError) -> Proxy {
        // Connection ids are unique across the registry: each proxy gets its own block of ids.
        let base = order.withLockedValue { n -> UInt64 in
            n += 1
            return n << 40
        }
        let proxy = Proxy(name: name, listen: listen, upstream: upstream, group: group, seed: seed, window: window,
                          observer: observer, connectionIDs: base)
        let inserted = proxies.withLockedValue { p -> Bool in
            if p[ExactName(name)] != nil { return false }
            p[ExactName(name)] = proxy
            return true
        }
        guard inserted else { throw .proxyExists(name) }
        if enabled {
            do {
                try await proxy.enable()
            } catch {
                _ = proxies.withLockedValue { $0.removeValue(forKey: ExactName(name)) }
                throw error
            }
        }
        return proxy
    }

    /// Disables and removes a proxy.
    public func delete(name: String) async throws(ProxyError) {
        guard let p = proxies.withLockedValue({ $0.removeValue(forKey: ExactName(name)) }) else { throw .proxyNotFound(name) }
        await p.disable()
    }

    /// Toxiproxy's /reset: enable every proxy and remove every toxic.
    public func reset() async throws(ProxyError) {
        for p in all {
            await p.removeAllToxics()
            try await p.enable()
        }
    }

    /// Disables and removes every proxy (shutdown).
    public func removeAll() async {
        let ps = proxies.withLockedValue { p -> [Proxy] in
            defer { p.removeAll() }
            return Array(p.values)
        }
        for p in ps { await p.disable() }
    }
}
