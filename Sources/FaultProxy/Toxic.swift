import LabCore

/// A condition installed on a proxy, in Toxiproxy's terms: a unique name, the stream it acts on,
/// the share of connections that suffer it, and, as Flatline's extension, an optional single
/// connection it is limited to.
public struct Toxic: Sendable, Hashable {
    /// Unique within the proxy; Toxiproxy's default is "<type>_<stream>".
    public var name: String
    /// The Toxiproxy type name it was created with ("latency", "timeout", "stall"...), kept so the
    /// API can answer with the same type the client sent.
    public var type: String
    /// The link it acts on.
    public var stream: LinkDirection
    /// Probability in [0, 1] that a connection suffers it, drawn once per connection from the seed.
    public var toxicity: Double
    /// What it does.
    public var condition: Condition
    /// When set, only this connection (by id) suffers it.
    public var connection: UInt64?
    /// When set, only connections to this upstream (by index, a server instance) suffer it.
    public var upstream: Int?
    /// When it was installed, on the proxy's clock (its event loops'), so that timed conditions on
    /// older connections count from here; nil until a proxy installs it (and stamps it then).
    public var createdAt: Instant?

    /// Creates a toxic.
    public init(name: String, type: String, stream: LinkDirection, toxicity: Double = 1, condition: Condition,
                connection: UInt64? = nil, upstream: Int? = nil, createdAt: Instant? = nil) {
        self.upstream = upstream
        self.name = name
        self.type = type
        self.stream = stream
        self.toxicity = toxicity
        self.condition = condition
        self.connection = connection
        self.createdAt = createdAt
    }
}

/// Why a proxy operation was refused; the API maps each case to Toxiproxy's status code.
public enum ProxyError: Error, Sendable, Equatable, CustomStringConvertible {
    case proxyNotFound(String)
    case proxyExists(String)
    case toxicNotFound(String)
    case toxicExists(String)
    case invalidAddress(field: String, value: String, reason: String)
    case listenFailed(String, reason: String)
    case invalidToxic(ConditionError)
    /// An upstream pool that cannot be (none given).
    case invalidUpstreams(String)
    /// No upstream with this index.
    case upstreamNotFound(Int)

    public var description: String {
        switch self {
        case .proxyNotFound: "proxy not found"
        case .proxyExists: "proxy already exists"
        case .toxicNotFound: "toxic not found"
        case .toxicExists: "toxic already exists"
        case .invalidAddress(let field, let value, let reason): "\(field): '\(value)' \(reason)"
        case .listenFailed(let address, let reason): "listen \(address): \(reason)"
        case .invalidToxic(let error): "attributes.\(error.field): \(error.reason)"
        case .invalidUpstreams(let reason): "upstreams: \(reason)"
        case .upstreamNotFound(let index): "upstream not found: \(index)"
        }
    }
}

/// A host and port as Toxiproxy writes them ("127.0.0.1:8474", "localhost:6379", "[::1]:80").
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// Host name or address literal, without brackets.
    public var host: String
    /// TCP port; 0 on a listen address asks for any free port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses "host:port"; a missing host means 127.0.0.1 (loopback by default).
    public init(parsing text: String, field: String) throws(ProxyError) {
        guard let colon = text.lastIndex(of: ":") else {
            throw .invalidAddress(field: field, value: text, reason: "must be host:port")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        let digits = text[text.index(after: colon)...]
        // Digits only: Int("+80") is 80, and " 80" or "+80" is no port a user would write.
        guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(digits), (0...65535).contains(port) else {
            throw .invalidAddress(field: field, value: text, reason: "has no valid port (0-65535)")
        }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
