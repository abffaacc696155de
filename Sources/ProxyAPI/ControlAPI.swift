import FaultProxy
import LabCore

/// The Toxiproxy-2.x-compatible control API without HTTP: maps a request (method, path, body)
/// to a status and a JSON body over a `ProxyRegistry`. The HTTP handler is a thin shell around
/// it, and tests call it directly. Requests are applied one at a time, in arrival order, as under
/// Toxiproxy's collection lock, so a PATCH never merges into a toxic another request is changing.
public actor ControlAPI {
    /// The proxies this API manages.
    public let registry: ProxyRegistry

    /// A toxic's attributes in the client's own form, valid while the toxic's condition is `condition`.
    private struct Remembered {
        var condition: Condition
        var attributes: JSONObject
    }

    /// Proxy name -> toxic name -> the attributes as last given, so responses echo the client's units.
    private var remembered: [ExactName: [ExactName: Remembered]] = [:]

    /// Whether a request is being applied; the actor alone does not serialise across its awaits.
    private var busy = false
    /// Requests waiting for their turn, oldest first.
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Creates the API over `registry`.
    public init(registry: ProxyRegistry) {
        self.registry = registry
    }

    private func acquire() async {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
    }

    private func release() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }

    /// Answers one request; never throws: every failure is an HTTP error response.
    public func handle(_ request: APIRequest) async -> APIResponse {
        await acquire()
        defer { release() }
        do {
            return try await route(request)
        } catch {
            return .error(error)
        }
    }

    private func route(_ request: APIRequest) async throws(APIError) -> APIResponse {
        let route: Route
        do {
            route = try Route.match(request.path)
        } catch .badEncoding {
            throw APIError.badRequest("invalid percent-encoding in path '\(request.path)'")
        } catch {
            throw APIError(status: 404, reason: "not found: \(request.path)")
        }
        let method = request.method.uppercased()
        guard route.allowedMethods.contains(method) else {
            let allowed = route.allowedMethods.joined(separator: ", ")
            var error = APIError(status: 405,
                                 reason: "method \(request.method) not allowed on \(request.path); allowed: \(allowed)")
            error.headers = ["Allow": allowed]
            throw error
        }
        switch (route, method) {
        case (.version, _):
            return .json(200, .object(["version": .string(flatlineVersion)]))
        case (.metrics, _):
            return APIResponse(status: 200, contentType: PrometheusText.contentType,
                               body: Array(PrometheusText.render(registry.all).utf8))
        case (.reset, _):
            do throws(ProxyError) { try await registry.reset() } catch { throw APIError(error) }
            remembered = [:]
            return .noContent()
        case (.populate, _):
            return await populateEndpoint(request.body)
        case (.proxies, "GET"):
            var object = JSONObject()
            for proxy in registry.all { object[proxy.name] = proxyJSON(proxy) }
            return .json(200, .object(object))
        case (.proxies, _):
            return try await createProxy(try body(request))
        case (.proxy(let name), "GET"):
            return .json(200, proxyJSON(try proxy(name)))
        case (.proxy(let name), "DELETE"):
            do throws(ProxyError) { try await registry.delete(name: name) } catch { throw APIError(error) }
            remembered[ExactName(name)] = nil
            return .noContent()
        case (.proxy(let name), _):
            let proxy = try proxy(name)
            return try await updateProxy(proxy, try body(request))
        case (.toxics(let name), "GET"):
            let proxy = try proxy(name)
            return .json(200, .array(proxy.snapshot.toxics.map { toxicJSON($0, proxy: name) }))
        case (.toxics(let name), _):
            return try await createToxic(try proxy(name), try body(request))
        case (.toxic(let name, let toxicName), "GET"):
            let toxic = try toxic(toxicName, of: try proxy(name))
            return .json(200, toxicJSON(toxic, proxy: name))
        case (.toxic(let name, let toxicName), "DELETE"):
            let proxy = try proxy(name)
            do throws(ProxyError) { try await proxy.removeToxic(named: toxicName) } catch { throw APIError(error) }
            remembered[ExactName(name)]?[ExactName(toxicName)] = nil
            return .noContent()
        case (.toxic(let name, let toxicName), _):
            return try await updateToxic(toxicName, of: try proxy(name), try body(request))
        case (.connections(let name), _):
            return .json(200, connectionsJSON(try proxy(name)))
        case (.upstreams(let name), _):
            return .json(200, upstreamsJSON(try proxy(name)))
        case (.upstream(let name, let index), "GET"):
            let proxy = try proxy(name)
            guard case .array(let all) = upstreamsJSON(proxy), all.indices.contains(index) else {
                throw APIError(ProxyError.upstreamNotFound(index))
            }
            return .json(200, all[index])
        case (.upstream(let name, let index), _):
            return try await updateUpstream(index, of: try proxy(name), try body(request))
        }
    }

    // MARK: Proxies

    private func body(_ request: APIRequest) throws(APIError) -> JSONValue {
        do throws(JSONSyntaxError) {
            return try JSONValue.parse(request.body)
        } catch {
            throw APIError.badBody(error.description)
        }
    }

    private func proxy(_ name: String) throws(APIError) -> Proxy {
        do throws(ProxyError) { return try registry.proxy(named: name) } catch { throw APIError(error) }
    }

    private func toxic(_ name: String, of proxy: Proxy) throws(APIError) -> Toxic {
        do throws(ProxyError) { return try proxy.toxic(named: name) } catch { throw APIError(error) }
    }

    private func createProxy(_ body: JSONValue) async throws(APIError) -> APIResponse {
        let draft = try ProxyDraft.parse(body, withToxics: false)
        let proxy: Proxy
        do throws(ProxyError) {
            proxy = try await registry.create(name: draft.name, listen: draft.listen, upstream: draft.upstream,
                                              enabled: draft.enabled)
            if let pool = draft.pool { try proxy.setUpstreams(pool.upstreams, balance: pool.balance) }
        } catch {
            throw APIError(error)
        }
        remembered[ExactName(draft.name)] = nil
        return .json(201, proxyJSON(proxy))
    }

    private func updateProxy(_ proxy: Proxy, _ body: JSONValue) async throws(APIError) -> APIResponse {
        guard case .object(let object) = body else { throw APIError.badBody("expected a JSON object, got \(body.typeName)") }
        let r = AttributeReader(object: object, path: "")
        let listen = try r.string("listen").map { s throws(APIError) in try ProxyDraft.address(s, field: "listen") }
        let upstream = try r.string("upstream").map { s throws(APIError) in try ProxyDraft.address(s, field: "upstream") }
        let enabled: Bool?
        switch r.value("enabled") {
        case nil: enabled = nil
        case .bool(let b)?: enabled = b
        case let other?: throw APIError.wrongType("enabled", expected: "a boolean", got: other)
        }
        // A balance alone keeps the proxy's upstreams.
        let current = proxy.snapshot.upstreams.compactMap { try? HostPort(parsing: $0, field: "upstream") }
        let pool = try ProxyDraft.pool(r, upstream: upstream, current: upstream == nil ? current : [])
        do throws(ProxyError) {
            if let pool {
                try proxy.setUpstreams(pool.upstreams, balance: pool.balance)
            }
            let current = proxy.snapshot
            let newListen = listen.flatMap { $0.description == current.listen ? nil : $0 }
            let newUpstream = upstream.flatMap { $0.description == current.upstream ? nil : $0 }
            if newListen != nil || newUpstream != nil {
                try await proxy.update(listen: newListen, upstream: newUpstream)
            }
            if enabled == false {
                await proxy.disable()
            } else if enabled == true {
                try await proxy.enable()
            }
        } catch {
            throw APIError(error)
        }
        return .json(200, proxyJSON(proxy))
    }

    // MARK: Toxics

    private func createToxic(_ proxy: Proxy, _ body: JSONValue) async throws(APIError) -> APIResponse {
        let draft = try ToxicCodec.parseNew(body)
        do throws(ProxyError) { try await proxy.addToxic(draft.toxic) } catch { throw APIError(error) }
        remember(draft, proxy: proxy.name)
        let installed = (try? proxy.toxic(named: draft.toxic.name)) ?? draft.toxic
        return .json(200, toxicJSON(installed, proxy: proxy.name))
    }

    private func updateToxic(_ name: String, of proxy: Proxy, _ body: JSONValue) async throws(APIError) -> APIResponse {
        let current = try toxic(name, of: proxy)
        let draft = ToxicDraft(toxic: current, attributes: attributes(of: current, proxy: proxy.name))
        let updated = try ToxicCodec.merge(body, into: draft)
        do throws(ProxyError) { try await proxy.updateToxic(updated.toxic) } catch { throw APIError(error) }
        remember(updated, proxy: proxy.name)
        let installed = (try? proxy.toxic(named: name)) ?? updated.toxic
        return .json(200, toxicJSON(installed, proxy: proxy.name))
    }

    private func remember(_ draft: ToxicDraft, proxy: String) {
        remembered[ExactName(proxy), default: [:]][ExactName(draft.toxic.name)] = Remembered(condition: draft.toxic.condition,
                                                                       attributes: draft.attributes)
    }

    /// The client's form of the toxic's attributes if it still describes the installed
    /// condition (another component may have changed it), else a form derived from the condition.
    private func attributes(of toxic: Toxic, proxy: String) -> JSONObject {
        if let r = remembered[ExactName(proxy)]?[ExactName(toxic.name)], r.condition == toxic.condition { return r.attributes }
        return ToxicCodec.derivedAttributes(toxic.condition, type: toxic.type)
    }

    private func toxicJSON(_ toxic: Toxic, proxy: String) -> JSONValue {
        ToxicCodec.render(toxic, attributes: attributes(of: toxic, proxy: proxy))
    }

    private func proxyJSON(_ proxy: Proxy) -> JSONValue {
        let s = proxy.snapshot
        var object: JSONObject = [
            "name": .string(s.name),
            "listen": .string(s.listen),
            "upstream": .string(s.upstream),
            "enabled": .bool(s.enabled),
            "toxics": .array(s.toxics.map { toxicJSON($0, proxy: s.name) }),
        ]
        // Flatline's extension: shown only for a pool, so a plain proxy reads as Toxiproxy's.
        if s.upstreams.count > 1 || s.balance != .roundRobin {
            object["upstreams"] = .array(s.upstreams.map(JSONValue.string))
            object["balance"] = .string(s.balance.rawValue)
        }
        return .object(object)
    }

    private func upstreamsJSON(_ proxy: Proxy) -> JSONValue {
        let s = proxy.snapshot
        return .array(s.upstreams.enumerated().map { i, address in
            let state = s.upstreamStates.indices.contains(i) ? s.upstreamStates[i] : UpstreamBalancer.Upstream()
            return .object(["index": .integer(Int64(i)), "address": .string(address), "enabled": .bool(state.enabled),
                            "connections": .integer(Int64(state.active))])
        })
    }

    /// `POST /proxies/{name}/upstreams/{i}` `{"enabled": false, "drop": true}`: takes the instance
    /// out of the balancing (and with `drop`, resets its open connections, so its clients reconnect
    /// to the others), or puts it back.
    private func updateUpstream(_ index: Int, of proxy: Proxy, _ body: JSONValue) async throws(APIError) -> APIResponse {
        guard case .object(let object) = body else { throw APIError.badBody("expected a JSON object, got \(body.typeName)") }
        let r = AttributeReader(object: object, path: "")
        for key in object.keys where !["enabled", "drop"].contains(key) {
            throw APIError.badRequest("unknown field '\(key)'; expected enabled or drop", field: key)
        }
        var drop = false
        switch r.value("drop") {
        case nil: break
        case .bool(let b)?: drop = b
        case let other?: throw APIError.wrongType("drop", expected: "a boolean", got: other)
        }
        var enabled: Bool?
        switch r.value("enabled") {
        case nil: break
        case .bool(let b)?: enabled = b
        case let other?: throw APIError.wrongType("enabled", expected: "a boolean", got: other)
        }
        do throws(ProxyError) {
            if let enabled {
                try proxy.setUpstream(index, enabled: enabled)
            } else if !proxy.snapshot.upstreams.indices.contains(index) {
                throw .upstreamNotFound(index)
            }
        } catch {
            throw APIError(error)
        }
        if drop { await proxy.dropConnections(toUpstream: index) }
        guard case .array(let all) = upstreamsJSON(proxy) else { return .noContent() }
        return .json(200, all[index])
    }

    private func connectionsJSON(_ proxy: Proxy) -> JSONValue {
        let now = proxy.now
        return .array(proxy.connections.map { c in
            .object([
                "id": .integer(Int64(truncatingIfNeeded: c.id)),
                "client": .string(c.client),
                "age_ms": .integer(max(0, (now - c.openedAt).nanoseconds / 1_000_000)),
                "bytes_upstream": .integer(c.bytesUpstream),
                "bytes_downstream": .integer(c.bytesDownstream),
                "toxics": .array(c.toxics.map(JSONValue.string)),
            ])
        })
    }

    // MARK: Populate

    private func populateEndpoint(_ bytes: [UInt8]) async -> APIResponse {
        var created: [Proxy] = []
        do {
            let drafts: [ProxyDraft]
            do {
                drafts = try ProxyDraft.parsePopulate(try JSONValue.parse(bytes))
            } catch let error as JSONSyntaxError {
                throw APIError.badBody(error.description)
            }
            try await apply(drafts, created: &created)
            return .json(201, .object(["proxies": .array(created.map(proxyJSON))]))
        } catch {
            let apiError = error as? APIError ?? APIError(status: 500, reason: "\(error)")
            var object = apiError.json
            object["proxies"] = .array(created.map(proxyJSON))
            return .json(apiError.status, .object(object))
        }
    }

    /// Creates or replaces the proxies of a `--config` file (a JSON array of proxies, or
    /// `{"proxies": [...]}`); errors name `source` and the entry, e.g. "flatline.json: [2].upstream: ...".
    public func populate(json: [UInt8], source: String) async throws(PopulateError) -> [ProxySnapshot] {
        await acquire()
        defer { release() }
        var created: [Proxy] = []
        do throws(APIError) {
            let document: JSONValue
            do { document = try JSONValue.parse(json) } catch {
                throw APIError.badRequest("not valid JSON: \(error.description)")
            }
            try await apply(try ProxyDraft.parsePopulate(document), created: &created)
        } catch {
            throw PopulateError(source: source, message: error.message)
        }
        return created.map(\.snapshot)
    }

    /// Toxiproxy's AddOrReplace for each entry: an existing proxy with the same listen and
    /// upstream is kept (its enabled state and, when given, its toxics set); any other is replaced.
    /// Every entry was validated before the first change.
    private func apply(_ drafts: [ProxyDraft], created: inout [Proxy]) async throws(APIError) {
        for (index, draft) in drafts.enumerated() {
            let prefix = "proxies[\(index)]"
            do {
                let proxy: Proxy
                if let existing = try? registry.proxy(named: draft.name),
                   existing.snapshot.upstream == draft.upstream.description,
                   existing.snapshot.listen == draft.listen.description {
                    proxy = existing
                    if draft.enabled { try await proxy.enable() } else { await proxy.disable() }
                } else {
                    if (try? registry.proxy(named: draft.name)) != nil { try await registry.delete(name: draft.name) }
                    remembered[ExactName(draft.name)] = nil
                    proxy = try await registry.create(name: draft.name, listen: draft.listen, upstream: draft.upstream,
                                                      enabled: draft.enabled)
                }
                if let pool = draft.pool { try proxy.setUpstreams(pool.upstreams, balance: pool.balance) }
                if let toxics = draft.toxics {
                    await proxy.removeAllToxics()
                    remembered[ExactName(draft.name)] = nil
                    for (t, toxic) in toxics.enumerated() {
                        do throws(ProxyError) {
                            try await proxy.addToxic(toxic.toxic)
                        } catch {
                            throw APIError(error).within("toxics[\(t)]")
                        }
                        remember(toxic, proxy: draft.name)
                    }
                }
                created.append(proxy)
            } catch let error as APIError {
                throw error.within(prefix)
            } catch let error as ProxyError {
                throw APIError(error).within(prefix)
            } catch {
                throw APIError(status: 500, reason: "\(error)").within(prefix)
            }
        }
    }
}

/// Why a `--config` file could not populate the proxies: the file and the entry and field at fault.
public struct PopulateError: Error, Sendable, CustomStringConvertible {
    /// The file (or other source) the JSON came from.
    public var source: String
    /// The entry, field and reason, e.g. "proxies[1].upstream: 'db' must be host:port".
    public var message: String

    /// Creates an error.
    public init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    /// "file: entry.field: reason", printed once at the edge.
    public var description: String { "\(source): \(message)" }
}

/// A proxy as a request or config file describes it, validated before anything changes.
struct ProxyDraft: Sendable {
    var name: String
    var listen: HostPort
    var upstream: HostPort
    var enabled: Bool
    /// Toxics to install (populate only, Flatline's extension); nil leaves a kept proxy's toxics alone.
    var toxics: [ToxicDraft]?
    /// The most upstreams one proxy balances over.
    static let mostUpstreams = 64
    /// Several upstreams and how to balance over them (Flatline's extension); nil for one.
    var pool: (upstreams: [HostPort], balance: BalancePolicy)?

    /// `upstreams: ["h:p", …]` and `balance: "round_robin" | "least_connections" | "source" | "sid"`,
    /// if either is given; `upstream`, when given too, must be the first of `upstreams`.
    static func pool(_ r: AttributeReader, upstream: HostPort?,
                     current: [HostPort] = []) throws(APIError) -> (upstreams: [HostPort], balance: BalancePolicy)? {
        let list = r.value("upstreams")
        let balanceValue = r.value("balance")
        guard list != nil || balanceValue != nil else { return nil }
        var upstreams: [HostPort] = upstream.map { [$0] } ?? current
        if let list {
            guard case .array(let items) = list, !items.isEmpty else {
                throw APIError.wrongType("upstreams", expected: "a non-empty array of host:port", got: list)
            }
            guard items.count <= Self.mostUpstreams else {
                throw APIError.badRequest("at most \(Self.mostUpstreams) upstreams, got \(items.count)", field: "upstreams")
            }
            upstreams = []
            for (i, item) in items.enumerated() {
                guard case .string(let text) = item else {
                    throw APIError.wrongType("upstreams[\(i)]", expected: "a host:port string", got: item)
                }
                do throws(APIError) {
                    upstreams.append(try address(text, field: "upstream"))
                } catch {
                    throw APIError.badRequest("'\(text)' must be host:port with a port in 1-65535", field: "upstreams[\(i)]")
                }
            }
            if let upstream, upstream != upstreams[0] {
                throw APIError.badRequest("'\(upstream)' is not the first of upstreams", field: "upstream")
            }
        }
        guard !upstreams.isEmpty else { throw APIError.missingField("upstreams") }
        var balance = BalancePolicy.roundRobin
        if let balanceValue {
            let names = BalancePolicy.allCases.map(\.rawValue)
            guard case .string(let text) = balanceValue, let policy = BalancePolicy(rawValue: text) else {
                throw APIError.badRequest("expected one of \(names.joined(separator: ", ")), got \(balanceValue)", field: "balance")
            }
            balance = policy
        }
        return (upstreams, balance)
    }

    /// Parses "host:port"; an upstream needs a real port.
    static func address(_ text: String, field: String) throws(APIError) -> HostPort {
        let address: HostPort
        do throws(ProxyError) { address = try HostPort(parsing: text, field: field) } catch { throw APIError(error) }
        if field == "upstream", address.port == 0 {
            throw APIError.badRequest("'\(text)' needs a port in 1-65535", field: field)
        }
        return address
    }

    /// Parses a proxy object: name and upstream required, listen defaulting to 127.0.0.1:0 (any
    /// free loopback port), enabled to true; `toxics` only when `withToxics`.
    static func parse(_ value: JSONValue, withToxics: Bool) throws(APIError) -> ProxyDraft {
        guard case .object(let object) = value else {
            throw APIError.badBody("expected a JSON object, got \(value.typeName)")
        }
        let r = AttributeReader(object: object, path: "")
        let name = try r.string("name") ?? ""
        guard !name.isEmpty else { throw APIError.missingField("name") }
        try ResourceName.validate(name, field: "name")
        let upstreamText = try r.string("upstream") ?? ""
        let listenText = try r.string("listen") ?? ""
        let listen = try address(listenText.isEmpty ? "127.0.0.1:0" : listenText, field: "listen")
        let given = upstreamText.isEmpty ? nil : try address(upstreamText, field: "upstream")
        let pool = try Self.pool(r, upstream: given)
        guard let upstream = given ?? pool?.upstreams.first else { throw APIError.missingField("upstream") }
        var enabled = true
        switch r.value("enabled") {
        case nil: break
        case .bool(let b)?: enabled = b
        case let other?: throw APIError.wrongType("enabled", expected: "a boolean", got: other)
        }
        var toxics: [ToxicDraft]?
        if withToxics, let list = r.value("toxics") {
            guard case .array(let items) = list else { throw APIError.wrongType("toxics", expected: "an array", got: list) }
            var drafts: [ToxicDraft] = []
            for (i, item) in items.enumerated() {
                let draft: ToxicDraft
                do throws(APIError) { draft = try ToxicCodec.parseNew(item) } catch { throw error.within("toxics[\(i)]") }
                if drafts.contains(where: { $0.toxic.name.hasSameBytes(as: draft.toxic.name) }) {
                    throw APIError(status: 409, field: "toxics[\(i)].name", reason: "toxic already exists: '\(draft.toxic.name)'")
                }
                drafts.append(draft)
            }
            toxics = drafts
        }
        return ProxyDraft(name: name, listen: listen, upstream: upstream, enabled: enabled, toxics: toxics, pool: pool)
    }

    /// Parses a populate document: an array of proxies or `{"proxies": [...]}`; a name given twice is an error.
    static func parsePopulate(_ document: JSONValue) throws(APIError) -> [ProxyDraft] {
        let items: [JSONValue]
        switch document {
        case .array(let a):
            items = a
        case .object(let o):
            guard let list = o["proxies"] else { throw APIError.missingField("proxies") }
            guard case .array(let a) = list else { throw APIError.wrongType("proxies", expected: "an array", got: list) }
            items = a
        default:
            throw APIError.badBody("expected an array of proxies or {\"proxies\": [...]}, got \(document.typeName)")
        }
        var drafts: [ProxyDraft] = []
        for (i, item) in items.enumerated() {
            let draft: ProxyDraft
            do throws(APIError) { draft = try parse(item, withToxics: true) } catch { throw error.within("proxies[\(i)]") }
            if drafts.contains(where: { $0.name.hasSameBytes(as: draft.name) }) {
                throw APIError.badRequest("proxy '\(draft.name)' appears more than once", field: "proxies[\(i)].name")
            }
            drafts.append(draft)
        }
        return drafts
    }
}
