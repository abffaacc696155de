import Foundation
import Heartbeat
import LabCore

extension Scenario {
    /// The top-level fields of a scenario file.
    public static let topLevelFields = ["name", "seed", "duration", "server", "clients", "link", "phases", "workload",
                                        "toleratedStall", "expect", "sweeps", "repetitions", "faults"]
    /// Built-in components.
    public static let builtinComponents = ["socketio"]
    /// The largest number of sweep combinations a file may ask for.
    public static let maxSweepPoints = 1_000

    /// Loads and validates the scenario file at `path`; errors name `path` as given.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let data: Data
        do {
            // Bounded before it is read: a file far larger than any scenario is refused at once.
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            guard size <= ScenarioDocumentLimits.maxBytes else {
                throw ScenarioError(file: path, line: 0, column: 0, path: "",
                                    message: "document too large: \(size) bytes, at most \(ScenarioDocumentLimits.maxBytes)")
            }
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as ScenarioError {
            throw error
        } catch {
            throw ScenarioError(file: path, line: 0, column: 0, path: "", message: "cannot read the file: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Self.notUTF8(data, file: path)
        }
        return try parse(yaml: text, source: path)
    }

    /// The error for bytes that are not UTF-8: the first bad byte's line, column and offset.
    static func notUTF8(_ data: Data, file: String) -> ScenarioError {
        var iterator = data.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var line = 1, column = 1, offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                if encoded.count == 1, encoded.first == 0x0A {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
                offset += encoded.count
            case .error(let length):
                return ScenarioError(file: file, line: line, column: column, path: "",
                                     message: "the file is not UTF-8 text: \(length) invalid byte\(length == 1 ? "" : "s") at byte \(offset)")
            case .emptyInput:
                return ScenarioError(file: file, line: line, column: column, path: "", message: "the file is not UTF-8 text")
            }
        }
    }

    /// Parses and validates a scenario from YAML text; `source` names it in errors (a file name).
    public static func parse(yaml: String, source: String = "<scenario>") throws(ScenarioError) -> Scenario {
        // A learned link's model.json is found beside the scenario file.
        let base = URL(fileURLWithPath: source).deletingLastPathComponent()
        let document = try ScenarioNode.parse(yaml: yaml, file: source).expandingLearnedLink(base: base)
        return try Scenario(document: document, validateSweeps: true)
    }

    /// Builds a scenario from a document, checking every field.
    init(document: ScenarioNode, validateSweeps: Bool) throws(ScenarioError) {
        let root = try MappingReader(document, "", known: Scenario.topLevelFields, what: "a mapping of scenario fields (name, duration, server, clients, …)")
        name = try ScenarioRead.string(try root.required("name"), "name")
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }), name.first != "." else {
            throw ScenarioRead.error(root["name"]!, "name", "'\(name)' may only contain letters, digits, '-', '_' and '.' and not start with '.' (it names the results folder)")
        }
        seed = try root.optional("seed", ScenarioRead.seed) ?? 1
        duration = try ScenarioRead.duration(try root.required("duration"), "duration", positive: true)
        guard duration <= ScenarioBounds.longestScenario else {
            throw ScenarioRead.error(root["duration"]!, "duration", "a scenario runs at most \(ScenarioBounds.longestScenario), got \(duration)")
        }
        server = try Scenario.server(try root.required("server", hint: ": a built-in (builtin: socketio) or external (command: [...]) server"), "server")
        (serverInstances, balance) = try Scenario.serverPool(root["server"]!, "server")
        var builtinServer = false
        var serverPingInterval: TimeSpan?
        if case .socketIO(let settings) = server {
            builtinServer = true
            serverPingInterval = settings.pingInterval
        }
        clients = try Scenario.clients(try root.required("clients", hint: ": at least { builtin: socketio } or { command: [...] }"), "clients",
                                       builtinServer: builtinServer, serverPingInterval: serverPingInterval)
        if let node = root["link"] {
            let r = try MappingReader(node, "link", known: ScenarioConditions.directions, what: "a mapping with both, upstream or downstream")
            link = try ScenarioConditions.link(r)
        } else {
            link = LinkConditions()
        }
        let duration = duration
        phases = []
        if let node = root["phases"] {
            let items = try ScenarioRead.sequence(node, "phases", expected: "a list of phases")
            for (index, item) in items.enumerated() {
                phases.append(try Scenario.phase(item, ScenarioRead.child("phases", index: index), duration: duration))
            }
        }
        workload = try root.optional("workload", Scenario.workload) ?? Workload()
        // rooms: each, one room a client.
        if workload.broadcastRooms == 0 { workload.broadcastRooms = max(1, clients.count) }
        toleratedStall = try root.optional("toleratedStall") { (n, p) throws(ScenarioError) in try ScenarioRead.duration(n, p) }
            ?? Scenario.defaultToleratedStall
        expectations = try root.optional("expect", Scenario.expectations) ?? Expectations()
        faults = try root.optional("faults", Scenario.faults) ?? FaultProcesses()
        repetitions = try root.optional("repetitions") { (n, p) throws(ScenarioError) in try ScenarioRead.integer(n, p, min: 1, max: 100_000) } ?? 1
        self.document = document
        sweeps = []
        sweepPoints = []
        if let node = root["sweeps"] {
            let (list, points) = try Scenario.sweeps(node, document: document, validate: validateSweeps)
            sweeps = list
            sweepPoints = points
        }
        // A phase's instances must exist.
        if let node = root["phases"], case .sequence(let items) = node.content {
            for (index, phase) in phases.enumerated() {
                for (k, key) in phase.instancesDown.map({ ($0, "down") }) + phase.instancesBlackholed.map({ ($0, "blackhole") })
                    + phase.instancesPaused.map({ ($0, "pause") })
                    where k > serverInstances {
                    throw ScenarioRead.error(items[index], ScenarioRead.child("phases", index: index) + ".server.\(key)",
                                             "instance \(k) does not exist: the server runs \(serverInstances) instance\(serverInstances == 1 ? "" : "s") (server.instances)")
                }
            }
        }
        try checkWork(root)
    }

    /// The work one run implies (messages and heartbeats over every connection) must stay within
    /// `ScenarioBounds.mostEventsPerRun`, so that no file that passes `check` runs out of memory or
    /// for ever; the error names the field that drives it.
    private func checkWork(_ root: MappingReader) throws(ScenarioError) {
        let connections = Double(clients.count)
        let seconds = duration.seconds
        let rates = (workload.serverToClient?.rate.perSecond ?? 0) + (workload.clientToServer?.rate.perSecond ?? 0)
            + (workload.broadcast?.rate.perSecond ?? 0)
        // Each message is logged twice (sent and received); each heartbeat about three times.
        let messages = connections * seconds * rates * 2
        var heartbeats = 0.0, pingInterval = TimeSpan.seconds(25)
        if case .socketIO(let settings) = server {
            pingInterval = settings.pingInterval
            heartbeats = connections * seconds / settings.pingInterval.seconds * 3
        }
        let limit = ScenarioBounds.mostEventsPerRun
        if messages + heartbeats > limit {
            let shares = "\(Self.count(messages)) message events (\(clients.count) clients × \(duration) × \(rates)/s × 2) and "
                + "\(Self.count(heartbeats)) heartbeat events (\(clients.count) clients × \(duration) / \(pingInterval) × 3)"
            if messages >= heartbeats, let node = root["workload"] {
                throw ScenarioRead.error(node, "workload", "the run implies \(shares), more than \(Self.count(limit)) events; "
                                         + "lower the rates, the clients' count or the duration")
            }
            let node = root["server"]!
            throw ScenarioRead.error(node, "server.pingInterval", "the run implies \(shares), more than \(Self.count(limit)) events; "
                                     + "raise pingInterval or lower the clients' count or the duration")
        }
        try checkChurn(root)
    }

    /// Events one reconnection cycle logs at least (open, connect, close and disconnect on both
    /// sides, the attempt), measured on the simulator.
    static let eventsPerReconnection = 8.0

    /// A condition that cuts every connection a fixed time after it opens or goes quiet (an idle
    /// timeout, a reset, a data limit) makes the built-in clients reconnect for as long as it is in
    /// force: at most one cycle per (the cut's delay + the shortest reconnection delay). The cycles
    /// that implies must stay within the bound; the error names the reconnection delay.
    private func checkChurn(_ root: MappingReader) throws(ScenarioError) {
        guard case .socketIO(let client) = clients.component, client.reconnection.enabled else { return }
        let reconnection = client.reconnection
        let shortestDelay = reconnection.delay.seconds * (1 - reconnection.randomization)
        func cut(_ link: LinkConditions) -> Double? {
            (link.upstream + link.downstream).compactMap { condition -> Double? in
                switch condition {
                case .idleTimeout(let c): c.after.seconds
                case .reset(let c): c.after.seconds
                case .limitData: 0
                default: nil
                }
            }.min()
        }
        var spans: [(cut: Double, seconds: Double)] = []
        if let c = cut(link) { spans.append((c, duration.seconds)) }
        for occurrence in timeline() {
            if let c = cut(phases[occurrence.phase].conditions) {
                spans.append((c, (occurrence.range.upperBound - occurrence.range.lowerBound).seconds))
            }
        }
        // A cycle also takes a connect; a millisecond is a floor well under any real one.
        let cycles = spans.reduce(0.0) { total, span in total + span.seconds / max(span.cut + shortestDelay, 0.001) }
        let events = Double(clients.count) * cycles * Self.eventsPerReconnection
        guard events > ScenarioBounds.mostEventsPerRun else { return }
        let node = root["clients"]!
        throw ScenarioRead.error(node, "clients.reconnection.delay",
                                 "the run implies \(Self.count(events)) events of reconnection churn: a condition cuts every connection "
                                 + "(idleTimeout, reset or limitData) and \(clients.count) clients reconnect after as little as "
                                 + "\(TimeSpan.seconds(shortestDelay)), more than \(Self.count(ScenarioBounds.mostEventsPerRun)) events; "
                                 + "raise clients.reconnection.delay, lower clients.count, or shorten the cut's span")
    }

    private static func count(_ value: Double) -> String {
        value >= 1e15 ? String(format: "%.1e", value) : String(Int64(value.rounded()))
    }

    // MARK: Components

    private static let serverBuiltinFields = ["builtin", "pingInterval", "pingTimeout", "stack", "detector", "connectionStateRecovery"]
        + serverPoolFields
    /// The fields of either kind of server that say how many instances run and how they are balanced.
    static let serverPoolFields = ["instances", "balance"]
    /// The transports a client may name.
    public static let clientTransports = ["polling", "websocket"]
    /// The server stacks whose detection semantics the built-in server can keep.
    public static let serverStacks = ["socketio-js", "python-socketio"]
    private static let externalFields = ["command", "env", "cwd"]
    private static let clientBuiltinFields = ["count", "builtin", "connectTimeout", "reconnection", "application", "auth", "detector", "stack",
                                              "transports"]
    /// The client stacks whose detection semantics the built-in client can keep.
    public static let clientStacks = ["socketio-js", "python-socketio"]

    static func server(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> ServerComponent {
        let probe = try MappingReader(anyKeys: node, path, what: "a mapping with builtin or command")
        try checkKind(probe, node, path, role: "server")
        if probe.has("builtin") {
            let r = try MappingReader(node, path, known: serverBuiltinFields)
            try builtinName(r)
            var settings = SocketIOServerSettings()
            if let n = r["pingInterval"] { settings.pingInterval = try ScenarioRead.duration(n, r.path("pingInterval"), positive: true) }
            if let n = r["pingTimeout"] { settings.pingTimeout = try ScenarioRead.duration(n, r.path("pingTimeout"), positive: true) }
            if let n = r["stack"] {
                let text = try ScenarioRead.scalar(n, r.path("stack"), expected: serverStacks.joined(separator: " or "))
                guard serverStacks.contains(text) else {
                    throw ScenarioRead.error(n, r.path("stack"), "unknown stack '\(text)'; expected one of \(serverStacks.joined(separator: ", "))")
                }
                settings.stack = text == "socketio-js" ? nil : text
            }
            if let n = r["detector"] { settings.detector = try detector(n, r.path("detector"), period: settings.pingInterval) }
            if let n = r["connectionStateRecovery"] {
                settings.connectionStateRecovery = try recovery(n, r.path("connectionStateRecovery"))
            }
            return .socketIO(settings)
        }
        let r = try MappingReader(node, path, known: externalFields + ["readiness"] + serverPoolFields)
        var component = try external(r, placeholders: ExternalComponent.serverPlaceholders)
        let usesPort = (component.command + component.environment.values).contains { $0.contains("{port}") }
        guard usesPort else {
            throw ScenarioRead.error(r["command"]!, r.path("command"),
                                     "an external server must be told its port: use {port} in the command or in env")
        }
        if let n = r["readiness"] { component.readiness = try readiness(n, r.path("readiness")) }
        return .external(component)
    }

    /// `connectionStateRecovery:` as socket.io takes it: a mapping (`{}` for socket.io's defaults)
    /// with `maxDisconnectionDuration` and `skipMiddlewares`, or true / false.
    static func recovery(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> SocketIORecoveryOptions? {
        if case .scalar = node.content {
            return try ScenarioRead.bool(node, path) ? SocketIORecoveryOptions() : nil
        }
        let r = try MappingReader(node, path, known: ["maxDisconnectionDuration", "skipMiddlewares"],
                                  what: "a mapping with maxDisconnectionDuration and skipMiddlewares, or true or false")
        var options = SocketIORecoveryOptions()
        if let n = r["maxDisconnectionDuration"] {
            options.maxDisconnectionDuration = try ScenarioRead.duration(n, r.path("maxDisconnectionDuration"), positive: true)
        }
        if let n = r["skipMiddlewares"] { options.skipMiddlewares = try ScenarioRead.bool(n, r.path("skipMiddlewares")) }
        return options
    }

    /// `server.instances` (1 to 16) and `server.balance`, for either kind of server.
    static func serverPool(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> (instances: Int, balance: BalancePolicy) {
        let r = try MappingReader(anyKeys: node, path, what: "a mapping")
        var instances = 1
        if let n = r["instances"] {
            instances = try ScenarioRead.integer(n, r.path("instances"), min: 1, max: Scenario.mostServerInstances)
        }
        var balance = BalancePolicy.roundRobin
        if let n = r["balance"] {
            let names = BalancePolicy.allCases.map(\.rawValue)
            let text = try ScenarioRead.scalar(n, r.path("balance"), expected: names.joined(separator: " or "))
            guard let policy = BalancePolicy(rawValue: text) else {
                throw ScenarioRead.error(n, r.path("balance"), "unknown balance '\(text)'; expected one of \(names.joined(separator: ", "))")
            }
            balance = policy
        }
        return (instances, balance)
    }

    static func clients(_ node: ScenarioNode, _ path: String, builtinServer: Bool = true,
                        serverPingInterval: TimeSpan? = nil) throws(ScenarioError) -> ClientGroup {
        let probe = try MappingReader(anyKeys: node, path, what: "a mapping with count and builtin or command")
        try checkKind(probe, node, path, role: "client")
        if probe.has("builtin") {
            let r = try MappingReader(node, path, known: clientBuiltinFields)
            try builtinName(r)
            let count = try count(r)
            var settings = SocketIOClientSettings()
            if let n = r["connectTimeout"] { settings.connectTimeout = try ScenarioRead.duration(n, r.path("connectTimeout"), positive: true) }
            if let n = r["reconnection"] { settings.reconnection = try reconnection(n, r.path("reconnection")) }
            if let n = r["application"] { settings.application = try application(n, r.path("application")) }
            if let n = r["auth"] { settings.auth = try auth(n, r.path("auth")) }
            if let n = r["detector"] {
                settings.detector = try detector(n, r.path("detector"), period: serverPingInterval ?? .seconds(25))
            }
            if let n = r["stack"] {
                let text = try ScenarioRead.scalar(n, r.path("stack"), expected: clientStacks.joined(separator: " or "))
                guard clientStacks.contains(text) else {
                    throw ScenarioRead.error(n, r.path("stack"), "unknown stack '\(text)'; expected one of \(clientStacks.joined(separator: ", "))")
                }
                settings.stack = text == "socketio-js" ? nil : text
            }
            if let n = r["transports"] {
                let items = try ScenarioRead.sequence(n, r.path("transports"), expected: "a list such as [polling, websocket]")
                var transports: [String] = []
                for (index, item) in items.enumerated() {
                    let itemPath = ScenarioRead.child(r.path("transports"), index: index)
                    let text = try ScenarioRead.scalar(item, itemPath, expected: clientTransports.joined(separator: " or "))
                    guard clientTransports.contains(text) else {
                        throw ScenarioRead.error(item, itemPath, "unknown transport '\(text)'; expected one of \(clientTransports.joined(separator: ", "))")
                    }
                    guard !transports.contains(text) else { throw ScenarioRead.error(item, itemPath, "'\(text)' is listed twice") }
                    transports.append(text)
                }
                guard !transports.isEmpty else { throw ScenarioRead.error(n, r.path("transports"), "needs at least one transport") }
                settings.transports = transports
            }
            return ClientGroup(count: count, component: .socketIO(settings))
        }
        let r = try MappingReader(node, path, known: ["count"] + externalFields)
        return ClientGroup(count: try count(r), component: .external(try external(r, placeholders: ExternalComponent.clientPlaceholders
            + (builtinServer ? ExternalComponent.serverSettingPlaceholders : []))))
    }

    /// `detector: adaptive` (the kind, with its default knob) or `{ kind: adaptive, price: 1h }`;
    /// the knob is checked by building the detector for heartbeats every `period`.
    static func detector(_ node: ScenarioNode, _ path: String, period: TimeSpan) throws(ScenarioError) -> DetectorChoice {
        let kinds = DetectorChoice.Kind.allCases.map(\.rawValue)
        func kind(_ n: ScenarioNode, _ p: String) throws(ScenarioError) -> DetectorChoice.Kind {
            let text = try ScenarioRead.scalar(n, p, expected: "a detector kind (\(kinds.joined(separator: ", ")))")
            guard let kind = DetectorChoice.Kind(rawValue: text) else {
                throw ScenarioRead.error(n, p, MappingReader.unknownMessage(text, known: kinds, noun: "detector kind"))
            }
            return kind
        }
        var choice: DetectorChoice
        var knobNode = node
        var knobPath = path
        if case .scalar = node.content, !node.isNull {
            let k = try kind(node, path)
            choice = DetectorChoice(kind: k, knob: k.defaultKnob(period: period))
        } else {
            let probe = try MappingReader(anyKeys: node, path, what: "a detector kind, or a mapping with kind and its knob")
            guard let kindNode = probe["kind"] else {
                throw ScenarioRead.error(node, path, "missing 'kind': one of \(kinds.joined(separator: ", "))")
            }
            let k = try kind(kindNode, probe.path("kind"))
            let r = try MappingReader(node, path, known: ["kind", k.knobField])
            choice = DetectorChoice(kind: k, knob: k.defaultKnob(period: period))
            if let n = r[k.knobField] {
                knobNode = n
                knobPath = r.path(k.knobField)
                choice.knob = k.knobIsDuration ? try ScenarioRead.duration(n, knobPath).seconds : try ScenarioRead.number(n, knobPath)
            }
        }
        do {
            _ = try choice.make(period: period)
        } catch {
            throw ScenarioRead.error(knobNode, knobPath, "\(choice.kind.rawValue) \(choice.kind.knobField) \(error.value): \(error.requirement)")
        }
        return choice
    }

    /// `auth: none`, or a mapping of texts, numbers and booleans sent as the CONNECT payload.
    private static func auth(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> SocketIOClientSettings.ClientAuth {
        if case .scalar(let text, _) = node.content, !node.isNull {
            guard text == "none" else { throw ScenarioRead.error(node, path, "expected none or a mapping (e.g. { token: abc }), got '\(text)'") }
            return .none
        }
        let r = try MappingReader(anyKeys: node, path, what: "none or a mapping of texts, numbers and booleans")
        var object = JSONObject()
        for key in r.order {
            let value = r[key]!
            let text = try ScenarioRead.scalar(value, r.path(key), expected: "a text, number or boolean")
            if case .scalar(_, plain: false) = value.content {
                object[key] = .string(text)
            } else if let b = Bool(text) {
                object[key] = .bool(b)
            } else if let i = Int64(text) {
                object[key] = .integer(i)
            } else if let d = Double(text), d.isFinite {
                object[key] = .number(d)
            } else {
                object[key] = .string(text)
            }
        }
        return .object(object)
    }

    private static func count(_ r: MappingReader) throws(ScenarioError) -> Int {
        try r.optional("count") { (n, p) throws(ScenarioError) in try ScenarioRead.integer(n, p, min: 1, max: 1_000_000) } ?? 1
    }

    private static func checkKind(_ probe: MappingReader, _ node: ScenarioNode, _ path: String, role: String) throws(ScenarioError) {
        if probe.has("builtin"), probe.has("command") {
            throw ScenarioRead.error(probe.keyNode("command")!, path, "'builtin' and 'command' are exclusive: a \(role) is either built in or external")
        }
        if !probe.has("builtin"), !probe.has("command") {
            throw ScenarioRead.error(node, path, "missing 'builtin' or 'command': a \(role) is built in (builtin: socketio) or external (command: [program, args…])")
        }
    }

    private static func builtinName(_ r: MappingReader) throws(ScenarioError) {
        let node = r["builtin"]!
        let text = try ScenarioRead.scalar(node, r.path("builtin"), expected: "the name of a built-in component (\(builtinComponents.joined(separator: ", ")))")
        guard builtinComponents.contains(text) else {
            throw ScenarioRead.error(node, r.path("builtin"), MappingReader.unknownMessage(text, known: builtinComponents, noun: "built-in component"))
        }
    }

    private static func external(_ r: MappingReader, placeholders: [String]) throws(ScenarioError) -> ExternalComponent {
        let commandNode = try r.required("command")
        let items = try ScenarioRead.sequence(commandNode, r.path("command"), expected: "a list: the program and its arguments, e.g. [python3, server.py, \"{port}\"]")
        guard !items.isEmpty else { throw ScenarioRead.error(commandNode, r.path("command"), "must name a program") }
        var command: [String] = []
        for (index, item) in items.enumerated() {
            let itemPath = ScenarioRead.child(r.path("command"), index: index)
            let text = try ScenarioRead.scalar(item, itemPath, expected: "a text")
            try checkPlaceholders(text, item, itemPath, allowed: placeholders)
            command.append(text)
        }
        guard !command[0].isEmpty else { throw ScenarioRead.error(items[0], ScenarioRead.child(r.path("command"), index: 0), "the program must not be empty") }
        var environment: [String: String] = [:]
        if let envNode = r["env"] {
            let e = try MappingReader(anyKeys: envNode, r.path("env"), what: "a mapping of environment variables")
            for key in e.order {
                guard !key.isEmpty, !key.contains("="), !key.contains("\0") else {
                    throw ScenarioRead.error(e.keyNode(key)!, e.path, "'\(key)' is not an environment variable name")
                }
                let valueNode = e[key]!
                let text = try ScenarioRead.scalar(valueNode, e.path(key), expected: "a text")
                try checkPlaceholders(text, valueNode, e.path(key), allowed: placeholders)
                environment[key] = text
            }
        }
        let cwd = try r.optional("cwd", ScenarioRead.string)
        return ExternalComponent(command: command, environment: environment, workingDirectory: cwd)
    }

    private static func checkPlaceholders(_ text: String, _ node: ScenarioNode, _ path: String, allowed: [String]) throws(ScenarioError) {
        for name in ExternalComponent.placeholders(in: text) where !allowed.contains(name) {
            if let (_, argument) = ExternalComponent.scaledPlaceholder(name) {
                guard let span = try? TimeSpan(parsing: argument), span >= .zero else {
                    throw ScenarioRead.error(node, path, "'{\(name)}': '\(argument)' is not a duration, e.g. {scaled:25s}")
                }
                continue
            }
            let expected = (allowed + ["scaled:DURATION", "scaledMs:DURATION"]).map { "{\($0)}" }.joined(separator: ", ")
            if ExternalComponent.serverSettingPlaceholders.contains(name) {
                throw ScenarioRead.error(node, path, "'{\(name)}' names a built-in server's setting, and this scenario's server is external")
            }
            throw ScenarioRead.error(node, path, "unknown placeholder '{\(name)}'; expected \(expected)")
        }
    }

    static func readiness(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> ReadinessProbe {
        if case .scalar(let text, _) = node.content, !node.isNull {
            guard text == "tcp" else {
                throw ScenarioRead.error(node, path, "expected tcp or a mapping with tcp or http (and timeout), got '\(text)'")
            }
            return ReadinessProbe(kind: .tcp)
        }
        let r = try MappingReader(node, path, known: ["tcp", "http", "timeout"], what: "tcp or a mapping with tcp or http (and timeout)")
        if r.has("tcp"), r.has("http") {
            throw ScenarioRead.error(r.keyNode("http")!, path, "'tcp' and 'http' are exclusive: choose one probe")
        }
        let kind: ReadinessProbe.Kind
        if let n = r["http"] {
            let text = try ScenarioRead.string(n, r.path("http"))
            guard text.hasPrefix("/") else { throw ScenarioRead.error(n, r.path("http"), "must be a path starting with '/', got '\(text)'") }
            kind = .http(path: text)
        } else if let n = r["tcp"] {
            guard try ScenarioRead.bool(n, r.path("tcp")) else {
                throw ScenarioRead.error(n, r.path("tcp"), "must be true (leave readiness out for no probe)")
            }
            kind = .tcp
        } else {
            throw ScenarioRead.error(node, path, "missing 'tcp' or 'http': tcp: true, or http: /health")
        }
        let timeout = try r.optional("timeout") { (n, p) throws(ScenarioError) in try ScenarioRead.duration(n, p, positive: true) }
        return ReadinessProbe(kind: kind, timeout: timeout ?? ReadinessProbe.defaultTimeout)
    }

    static func reconnection(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> ReconnectionSettings {
        let r = try MappingReader(node, path, known: ["enabled", "delay", "delayMax", "randomization", "attempts"])
        var settings = ReconnectionSettings()
        if let n = r["enabled"] { settings.enabled = try ScenarioRead.bool(n, r.path("enabled")) }
        if let n = r["delay"] { settings.delay = try ScenarioRead.duration(n, r.path("delay"), positive: true) }
        if let n = r["delayMax"] { settings.delayMax = try ScenarioRead.duration(n, r.path("delayMax"), positive: true) }
        if settings.delayMax < settings.delay {
            let n = r["delayMax"] ?? r["delay"]!
            throw ScenarioRead.error(n, r.path(r.has("delayMax") ? "delayMax" : "delay"),
                                     "delayMax (\(settings.delayMax)) must be at least delay (\(settings.delay))")
        }
        if let n = r["randomization"] { settings.randomization = try ScenarioRead.number(n, r.path("randomization"), min: 0, max: 1) }
        if let n = r["attempts"] {
            if n.scalarText == "unlimited" {
                settings.attempts = nil
            } else {
                settings.attempts = try ScenarioRead.integer(n, r.path("attempts"), min: 1, max: 1_000_000)
            }
        }
        return settings
    }

    static func application(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> ApplicationLayerSettings {
        let r = try MappingReader(node, path, known: ["healthCheck", "customPing"])
        var layer = ApplicationLayerSettings()
        if let n = r["healthCheck"] {
            let p = r.path("healthCheck")
            if case .mapping = n.content {
                let h = try MappingReader(n, p, known: ["staleAfter", "heartbeatsCount", "checkInterval", "events"])
                var settings = HealthCheckSettings(staleAfter: try ScenarioRead.duration(try h.required("staleAfter"), h.path("staleAfter"), positive: true))
                if let b = h["heartbeatsCount"] { settings.heartbeatsCount = try ScenarioRead.bool(b, h.path("heartbeatsCount")) }
                if let c = h["checkInterval"] { settings.checkInterval = try ScenarioRead.duration(c, h.path("checkInterval"), positive: true) }
                if let e = h["events"] {
                    let items = try ScenarioRead.sequence(e, h.path("events"), expected: "a list of event names, e.g. [ping]")
                    guard !items.isEmpty else { throw ScenarioRead.error(e, h.path("events"), "must name at least one event") }
                    var names = Set<String>()
                    for (index, item) in items.enumerated() {
                        names.insert(try ScenarioRead.scalar(item, ScenarioRead.child(h.path("events"), index: index), expected: "an event name"))
                    }
                    settings.events = names
                }
                layer.healthCheck = settings
            } else {
                layer.healthCheck = HealthCheckSettings(staleAfter: try ScenarioRead.duration(n, p, positive: true))
            }
        }
        if let n = r["customPing"] {
            let c = try MappingReader(n, r.path("customPing"), known: ["interval", "timeout", "firstPingAfter", "pingEvent", "pongEvent"],
                                      what: "a mapping with interval and timeout")
            var settings = CustomPingSettings(interval: try ScenarioRead.duration(try c.required("interval"), c.path("interval"), positive: true),
                                              timeout: try ScenarioRead.duration(try c.required("timeout"), c.path("timeout"), positive: true))
            settings.firstPingAfter = try c.optional("firstPingAfter") { (n, p) throws(ScenarioError) in try ScenarioRead.duration(n, p) }
            if let e = c["pingEvent"] { settings.pingEvent = try ScenarioRead.string(e, c.path("pingEvent")) }
            if let e = c["pongEvent"] { settings.pongEvent = try ScenarioRead.string(e, c.path("pongEvent")) }
            layer.customPing = settings
        }
        return layer
    }

    // MARK: Timeline

    static let phaseFields = ["at", "for", "until", "every", "note", "server", "clients"] + ScenarioConditions.directions

    /// `faults: { stalls: { rate, duration, direction }, deadPeers: { rate, recoverAfter },
    /// serverRestarts: { rate, downFor } }`.
    static func faults(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> FaultProcesses {
        let r = try MappingReader(node, path, known: ["stalls", "deadPeers", "serverRestarts"],
                                  what: "a mapping with stalls, deadPeers or serverRestarts")
        func law(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> Distribution {
            let d = try MappingReader(anyKeys: node, path, what: "one distribution of durations, e.g. { lognormal: { median: 3s, p99: 20s } }")
            guard d.order.count == 1, let name = d.order.first else {
                throw ScenarioRead.error(node, path, "expected exactly one distribution (\(ScenarioConditions.distributions.joined(separator: ", ")))")
            }
            let law = try ScenarioConditions.distribution(name, d[name]!, d.path(name))
            guard law.quantile(0.5) > 0 else { throw ScenarioRead.error(node, path, "its median must be > 0") }
            return law
        }
        func rate(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> EventRate {
            let rate = try ScenarioRead.eventRate(node, path)
            guard rate.perSecond > 0 else { throw ScenarioRead.error(node, path, "must be > 0; leave the process out to have none") }
            return rate
        }
        var result = FaultProcesses()
        if let n = r["stalls"] {
            let s = try MappingReader(n, r.path("stalls"), known: ["rate", "duration", "direction"], what: "a mapping with rate, duration and optionally direction")
            var direction: LinkDirection?
            if let d = s["direction"] {
                let text = try ScenarioRead.scalar(d, s.path("direction"), expected: "both, upstream or downstream")
                switch text {
                case "both": direction = nil
                case "upstream": direction = .upstream
                case "downstream": direction = .downstream
                default: throw ScenarioRead.error(d, s.path("direction"), "expected both, upstream or downstream, got '\(text)'")
                }
            }
            result.stalls = FaultProcesses.Stalls(rate: try rate(try s.required("rate"), s.path("rate")),
                                                  duration: try law(try s.required("duration"), s.path("duration")), direction: direction)
        }
        if let n = r["deadPeers"] {
            let s = try MappingReader(n, r.path("deadPeers"), known: ["rate", "recoverAfter"], what: "a mapping with rate and optionally recoverAfter")
            result.deadPeers = FaultProcesses.DeadPeers(rate: try rate(try s.required("rate"), s.path("rate")),
                                                        recoverAfter: try s.optional("recoverAfter", law))
        }
        if let n = r["serverRestarts"] {
            let s = try MappingReader(n, r.path("serverRestarts"), known: ["rate", "downFor"], what: "a mapping with rate and downFor")
            result.serverRestarts = FaultProcesses.ServerRestarts(rate: try rate(try s.required("rate"), s.path("rate")),
                                                                  downFor: try law(try s.required("downFor"), s.path("downFor")))
        }
        return result
    }

    static func phase(_ node: ScenarioNode, _ path: String, duration: TimeSpan) throws(ScenarioError) -> Phase {
        let r = try MappingReader(node, path, known: phaseFields, what: "a phase mapping (at, for or until, conditions)")
        let at = try ScenarioRead.duration(try r.required("at"), r.path("at"))
        guard at < duration else {
            throw ScenarioRead.error(r["at"]!, r.path("at"), "starts at \(at), at or after the scenario's end (duration \(duration))")
        }
        let end: Phase.End
        switch (r["for"], r["until"]) {
        case (.some, .some):
            throw ScenarioRead.error(r.keyNode("until")!, path, "'for' and 'until' are exclusive: give one")
        case (nil, nil):
            throw ScenarioRead.error(node, path, "missing 'for' or 'until': say how long the phase lasts (for: 8s) or when it ends (until: end)")
        case (.some(let n), nil):
            let length = try ScenarioRead.duration(n, r.path("for"), positive: true)
            guard at + length <= duration else {
                throw ScenarioRead.error(n, r.path("for"), "the phase ends at \(at + length), after the scenario's end (duration \(duration)); shorten it or use 'until: end'")
            }
            end = .after(length)
        case (nil, .some(let n)):
            if n.scalarText == "end" {
                end = .scenarioEnd
            } else {
                let text = try ScenarioRead.scalar(n, r.path("until"), expected: "end or a time such as 20m")
                let until: TimeSpan
                do { until = try TimeSpan(parsing: text) } catch {
                    throw ScenarioRead.error(n, r.path("until"), "expected end or a time such as 20m: \(error.message)")
                }
                guard until > at else { throw ScenarioRead.error(n, r.path("until"), "must be after at (\(at)), got \(until)") }
                guard until <= duration else {
                    throw ScenarioRead.error(n, r.path("until"), "\(until) is after the scenario's end (duration \(duration)); use 'until: end'")
                }
                end = .at(until)
            }
        }
        var every: TimeSpan?
        if let n = r["every"] {
            let period = try ScenarioRead.duration(n, r.path("every"), positive: true)
            guard case .after(let length) = end else {
                throw ScenarioRead.error(r.keyNode("every")!, path, "'every' repeats a phase of fixed length: use 'for', not 'until'")
            }
            guard period > length else {
                throw ScenarioRead.error(n, r.path("every"), "must be longer than the phase (for: \(length)), got \(period)")
            }
            every = period
        }
        let conditions = try ScenarioConditions.link(r)
        var serverPause = false
        var instancesDown: [Int] = []
        var instancesBlackholed: [Int] = []
        var instancesPaused: [Int] = []
        if let n = r["server"] {
            if case .mapping = n.content {
                let s = try MappingReader(n, r.path("server"), known: ["down", "blackhole", "pause"],
                                          what: "a mapping such as { down: [2] } (instance 2 is down), { blackhole: [2] } or { pause: [2] }")
                guard s.has("down") || s.has("blackhole") || s.has("pause") else {
                    throw ScenarioRead.error(n, r.path("server"), "needs down: [k], blackhole: [k] or pause: [k]")
                }
                func instances(_ key: String) throws(ScenarioError) -> [Int] {
                    guard let listNode = s[key] else { return [] }
                    let items: [ScenarioNode]
                    if case .sequence(let list) = listNode.content { items = list } else { items = [listNode] }
                    var out: [Int] = []
                    for (index, item) in items.enumerated() {
                        let itemPath = !ScenarioNode.isSequence(listNode) ? s.path(key) : ScenarioRead.child(s.path(key), index: index)
                        let k = try ScenarioRead.integer(item, itemPath, min: 1, max: Scenario.mostServerInstances)
                        guard !out.contains(k) else { throw ScenarioRead.error(item, itemPath, "instance \(k) is listed twice") }
                        out.append(k)
                    }
                    guard !out.isEmpty else { throw ScenarioRead.error(listNode, s.path(key), "needs at least one instance") }
                    return out
                }
                instancesDown = try instances("down")
                instancesBlackholed = try instances("blackhole")
                instancesPaused = try instances("pause")
            } else {
                let text = try ScenarioRead.scalar(n, r.path("server"), expected: "pause, or { down: [k] }")
                guard text == "pause" else {
                    throw ScenarioRead.error(n, r.path("server"), "expected 'pause' (the server's event loop is blocked for the phase) or { down: [k] } (instance k is down), got '\(text)'")
                }
                serverPause = true
            }
        }
        var alignment: TimeSpan?
        if let n = r["clients"] {
            let c = try MappingReader(n, r.path("clients"), known: ["timerAlignment"],
                                      what: "a mapping such as { timerAlignment: 1m } (a throttled background tab)")
            alignment = try ScenarioRead.duration(try c.required("timerAlignment"), c.path("timerAlignment"), positive: true)
        }
        guard ScenarioConditions.directions.contains(where: { r.has($0) }) || serverPause || alignment != nil || !instancesDown.isEmpty || !instancesBlackholed.isEmpty
            || !instancesPaused.isEmpty else {
            throw ScenarioRead.error(node, path, "a phase needs conditions (both, upstream or downstream, e.g. both: stall), "
                + "server: pause, or clients: { timerAlignment: … }")
        }
        let note = try r.optional("note") { (n, p) throws(ScenarioError) in try ScenarioRead.scalar(n, p, expected: "a text") }
        return Phase(at: at, end: end, every: every, conditions: conditions, note: note, serverPause: serverPause,
                     clientTimerAlignment: alignment, instancesDown: instancesDown, instancesBlackholed: instancesBlackholed,
                     instancesPaused: instancesPaused)
    }

    // MARK: Workload and expectations

    static func workload(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> Workload {
        let r = try MappingReader(node, path, known: ["serverToClient", "clientToServer", "broadcast"])
        var replay: BroadcastReplay?
        var rooms: Int?
        func flow(_ key: String) throws(ScenarioError) -> MessageFlow? {
            guard let n = r[key] else { return nil }
            let f = try MappingReader(n, r.path(key), known: key == "broadcast" ? ["rate", "size", "replay", "rooms"] : ["rate", "size"],
                                      what: "a mapping with rate and size")
            if let n = f["replay"] { replay = try broadcastReplay(n, f.path("replay")) }
            if let n = f["rooms"] {
                if n.scalarText == "each" {
                    rooms = 0  // one per client: resolved once the clients are read
                } else {
                    rooms = try ScenarioRead.integer(n, f.path("rooms"), min: 1, max: 10_000)
                }
            }
            let sizeNode = try f.required("size")
            let size = try ScenarioRead.size(sizeNode, f.path("size"))
            // Each message is made whole in memory: bounded, so no file that passes check aborts a run.
            guard size.bytes <= ScenarioBounds.largestMessage else {
                throw ScenarioRead.error(sizeNode, f.path("size"), "a message is at most \(ScenarioBounds.largestMessage) bytes (16 MiB), got \(size.bytes)")
            }
            return MessageFlow(rate: try ScenarioRead.eventRate(try f.required("rate"), f.path("rate")), size: size)
        }
        var workload = Workload(serverToClient: try flow("serverToClient"), clientToServer: try flow("clientToServer"),
                                broadcast: try flow("broadcast"))
        workload.broadcastReplay = replay
        workload.broadcastRooms = rooms
        return workload
    }

    /// `replay: { last: 20, mode: push | request }`: the application's history on connect.
    static func broadcastReplay(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> BroadcastReplay {
        let r = try MappingReader(node, path, known: ["last", "mode"], what: "a mapping with last and mode")
        let last = try ScenarioRead.integer(try r.required("last"), r.path("last"), min: 1, max: 100_000)
        let modes = BroadcastReplay.Mode.allCases.map(\.rawValue)
        let modeNode = try r.required("mode")
        let text = try ScenarioRead.scalar(modeNode, r.path("mode"), expected: modes.joined(separator: " or "))
        guard let mode = BroadcastReplay.Mode(rawValue: text) else {
            throw ScenarioRead.error(modeNode, r.path("mode"), "unknown mode '\(text)'; expected one of \(modes.joined(separator: ", "))")
        }
        return BroadcastReplay(last: last, mode: mode)
    }

    static func expectations(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> Expectations {
        let r = try MappingReader(node, path, known: Expectations.names + ["optional"])
        var e = Expectations()
        if let n = r["falseDisconnects"] { e.falseDisconnects = try ScenarioRead.integer(n, r.path("falseDisconnects"), min: 0, max: Int(Int32.max)) }
        if let n = r["detectionWithin"] { e.detectionWithin = try ScenarioRead.duration(n, r.path("detectionWithin"), positive: true) }
        if let n = r["deliveryAtLeast"] { e.deliveryAtLeast = try ScenarioRead.probability(n, r.path("deliveryAtLeast")) }
        if let n = r["stabilityAtLeast"] { e.stabilityAtLeast = try ScenarioRead.number(n, r.path("stabilityAtLeast"), min: 0, max: 100) }
        if let n = r["missedEventsAtMost"] {
            e.missedEventsAtMost = try ScenarioRead.integer(n, r.path("missedEventsAtMost"), min: 0, max: Int(Int32.max))
        }
        if let n = r["optional"] {
            let items = try ScenarioRead.sequence(n, r.path("optional"), expected: "a list of expectation names, e.g. [deliveryAtLeast]")
            for (index, item) in items.enumerated() {
                let itemPath = ScenarioRead.child(r.path("optional"), index: index)
                let name = try ScenarioRead.scalar(item, itemPath, expected: "an expectation name")
                guard Expectations.names.contains(name) else {
                    throw ScenarioRead.error(item, itemPath, MappingReader.unknownMessage(name, known: Expectations.names, noun: "expectation"))
                }
                guard r[name] != nil else {
                    throw ScenarioRead.error(item, itemPath, "'\(name)' is not set in this expect, so it cannot be optional")
                }
                e.optional.insert(name)
            }
        }
        return e
    }
}
