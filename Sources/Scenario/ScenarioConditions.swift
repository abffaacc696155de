import LabCore

/// Reads link conditions (`latency`, `loss`, `stall`, …) from a scenario document into LabCore
/// `Condition` values.
enum ScenarioConditions {
    /// Condition names as written in a file, in the order the docs list them.
    static let names = ["latency", "loss", "bandwidth", "stall", "blackhole", "reset", "idleTimeout", "slicer",
                        "limitData", "slowClose", "slowConnect"]
    /// Conditions that can be written as a bare keyword (`both: stall`).
    static let keywords = ["stall", "blackhole", "reset"]
    /// Latency distributions.
    static let distributions = ["constant", "uniform", "normal", "lognormal", "pareto", "paretonormal", "empirical"]
    /// The direction keys.
    static let directions = ["both", "upstream", "downstream"]

    /// Reads the direction keys of `reader` (a `link:` or a phase) into per-direction conditions.
    static func link(_ reader: MappingReader) throws(ScenarioError) -> LinkConditions {
        var result = LinkConditions()
        var setBy: [LinkDirection: [String: String]] = [.upstream: [:], .downstream: [:]]
        for key in directions {
            guard let node = reader[key] else { continue }
            let path = reader.path(key)
            let conditions = try set(node, path)
            let targets: [LinkDirection] = key == "both" ? [.upstream, .downstream] : [key == "upstream" ? .upstream : .downstream]
            for (name, condition, place) in conditions {
                for direction in targets {
                    if let earlier = setBy[direction]?[name] {
                        throw ScenarioRead.error(place, path, "\(name) is already set for \(direction.rawValue) by '\(earlier)'; set it in one place")
                    }
                    setBy[direction]?[name] = key
                    result[direction].append(condition)
                }
            }
        }
        return result
    }

    /// A direction's conditions: a mapping of condition names, or one keyword.
    static func set(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> [(String, Condition, ScenarioNode)] {
        if case .scalar(let text, _) = node.content, !node.isNull {
            guard keywords.contains(text) else {
                var message = "unknown condition '\(text)'"
                if let s = MappingReader.suggestion(for: text, among: keywords) { message += " (did you mean '\(s)'?)" }
                throw ScenarioRead.error(node, path, message + "; expected a mapping of conditions or one of \(keywords.joined(separator: ", "))")
            }
            return [(text, try condition(text, ScenarioNode(content: .scalar("", plain: true), place: node.place), path), node)]
        }
        guard case .mapping = node.content else {
            throw ScenarioRead.error(node, path, "expected a mapping of conditions (\(names.joined(separator: ", "))) or one of \(keywords.joined(separator: ", ")), got \(node.kindDescription)")
        }
        let reader = try MappingReader(node, path, known: names, what: "a mapping of conditions")
        var result: [(String, Condition, ScenarioNode)] = []
        for name in reader.order {
            let value = reader[name]!
            result.append((name, try condition(name, value, reader.path(name)), reader.keyNode(name)!))
        }
        return result
    }

    /// One condition from its name and its value node.
    static func condition(_ name: String, _ node: ScenarioNode, _ path: String) throws(ScenarioError) -> Condition {
        let condition: Condition
        switch name {
        case "latency": condition = .latency(try latency(node, path))
        case "loss": condition = .loss(try loss(node, path))
        case "bandwidth":
            if case .mapping = node.content {
                let r = try MappingReader(node, path, known: ["rate"])
                condition = .bandwidth(BandwidthCondition(rate: try ScenarioRead.byteRate(try r.required("rate"), r.path("rate"))))
            } else {
                condition = .bandwidth(BandwidthCondition(rate: try ScenarioRead.byteRate(node, path)))
            }
        case "stall":
            condition = .stall(StallCondition(duration: try optionalSpan(node, path, field: "duration", positive: true)))
        case "blackhole":
            condition = .blackhole(BlackholeCondition(closeAfter: try optionalSpan(node, path, field: "closeAfter", positive: false)))
        case "reset":
            condition = .reset(ResetCondition(after: try optionalSpan(node, path, field: "after", positive: false) ?? .zero))
        case "idleTimeout":
            if case .mapping = node.content {
                let r = try MappingReader(node, path, known: ["after", "action"])
                let after = try ScenarioRead.duration(try r.required("after"), r.path("after"), positive: true)
                var action = MiddleboxAction.close
                if let a = r["action"] {
                    let text = try ScenarioRead.scalar(a, r.path("action"), expected: "close, reset or blackhole")
                    guard let parsed = MiddleboxAction(rawValue: text) else {
                        throw ScenarioRead.error(a, r.path("action"), "unknown action '\(text)'; expected one of close, reset, blackhole")
                    }
                    action = parsed
                }
                condition = .idleTimeout(IdleTimeoutCondition(after: after, action: action))
            } else {
                condition = .idleTimeout(IdleTimeoutCondition(after: try ScenarioRead.duration(node, path, positive: true)))
            }
        case "slicer":
            let r = try MappingReader(node, path, known: ["averageSize", "sizeVariation", "delay"], what: "a mapping with averageSize")
            let average = try ScenarioRead.size(try r.required("averageSize"), r.path("averageSize"))
            guard average.bytes > 0, average.bytes <= Int64(Int32.max) else {
                throw ScenarioRead.error(r["averageSize"]!, r.path("averageSize"), "must be between 1B and 2GiB, got \(average)")
            }
            let variation = try r.optional("sizeVariation", ScenarioRead.size) ?? ByteCount(bytes: 0)
            guard variation.bytes < average.bytes else {
                throw ScenarioRead.error(r["sizeVariation"]!, r.path("sizeVariation"), "must be less than averageSize (\(average)), got \(variation)")
            }
            let delay = try r.optional("delay") { (n, p) throws(ScenarioError) in try ScenarioRead.duration(n, p) } ?? .zero
            condition = .slicer(SlicerCondition(averageSize: Int(average.bytes), sizeVariation: Int(variation.bytes), delay: delay))
        case "limitData":
            let size: ByteCount
            if case .mapping = node.content {
                let r = try MappingReader(node, path, known: ["bytes"])
                size = try ScenarioRead.size(try r.required("bytes"), r.path("bytes"))
            } else {
                size = try ScenarioRead.size(node, path)
            }
            condition = .limitData(LimitDataCondition(bytes: size.bytes))
        case "slowClose":
            condition = .slowClose(SlowCloseCondition(delay: try requiredSpan(node, path, field: "delay")))
        case "slowConnect":
            condition = .slowConnect(SlowConnectCondition(delay: try requiredSpan(node, path, field: "delay")))
        default:
            throw ScenarioRead.error(node, path, MappingReader.unknownMessage(name, known: names, noun: "condition"))
        }
        do { try condition.validate() } catch { throw ScenarioRead.error(node, path, error.description) }
        return condition
    }

    /// `{}`, null, a duration, or `{field: duration}`.
    private static func optionalSpan(_ node: ScenarioNode, _ path: String, field: String, positive: Bool) throws(ScenarioError) -> TimeSpan? {
        if node.isNull { return nil }
        if case .mapping(let entries) = node.content {
            if entries.isEmpty { return nil }
            let r = try MappingReader(node, path, known: [field])
            return try r.optional(field) { (n, p) throws(ScenarioError) in try ScenarioRead.duration(n, p, positive: positive) }
        }
        return try ScenarioRead.duration(node, path, positive: positive)
    }

    /// A duration, or `{field: duration}`.
    private static func requiredSpan(_ node: ScenarioNode, _ path: String, field: String) throws(ScenarioError) -> TimeSpan {
        if case .mapping = node.content {
            let r = try MappingReader(node, path, known: [field])
            return try ScenarioRead.duration(try r.required(field), r.path(field))
        }
        return try ScenarioRead.duration(node, path)
    }

    // MARK: Latency

    static let latencyFields = ["fixed", "jitter", "correlation"]

    static func latency(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> LatencyCondition {
        if case .scalar = node.content, !node.isNull {
            return LatencyCondition(latency: try ScenarioRead.duration(node, path))
        }
        let r = try MappingReader(anyKeys: node, path, what: "a latency such as \"40ms\" or a mapping (fixed, jitter, correlation, a distribution)")
        var distribution: Distribution?
        var distributionKey: String?
        for key in r.order where !latencyFields.contains(key) {
            let keyNode = r.keyNode(key)!
            guard distributions.contains(key) else {
                if case .mapping = r[key]!.content, MappingReader.suggestion(for: key, among: latencyFields) == nil {
                    throw ScenarioRead.error(keyNode, path, "unknown distribution '\(key)'; expected one of \(distributions.joined(separator: ", "))")
                }
                throw ScenarioRead.error(keyNode, path, MappingReader.unknownMessage(key, known: latencyFields + distributions, noun: "field"))
            }
            if let first = distributionKey {
                throw ScenarioRead.error(keyNode, path, "only one distribution per latency; '\(first)' is already given")
            }
            distributionKey = key
            distribution = try self.distribution(key, r[key]!, r.path(key))
        }
        let fixed = try r.optional("fixed") { (n, p) throws(ScenarioError) in try ScenarioRead.duration(n, p) } ?? .zero
        let jitter = try r.optional("jitter") { (n, p) throws(ScenarioError) in try ScenarioRead.duration(n, p) } ?? .zero
        let correlation = try r.optional("correlation") { (n, p) throws(ScenarioError) in try ScenarioRead.probability(n, p, upperOpen: true) } ?? 0
        guard r.has("fixed") || r.has("jitter") || distribution != nil else {
            throw ScenarioRead.error(node, path, "a latency needs fixed, jitter or a distribution (\(distributions.joined(separator: ", ")))")
        }
        if correlation > 0, distribution == nil {
            throw ScenarioRead.error(r.keyNode("correlation")!, path, "correlation applies to a distribution; add one (\(distributions.joined(separator: ", ")))")
        }
        return LatencyCondition(latency: fixed, jitter: jitter, distribution: distribution, correlation: correlation)
    }

    static func distribution(_ name: String, _ node: ScenarioNode, _ path: String) throws(ScenarioError) -> Distribution {
        func ns(_ span: TimeSpan) -> Double { Double(span.nanoseconds) }
        let result: Distribution
        switch name {
        case "constant":
            result = .constant(ns(try ScenarioRead.duration(node, path)))
        case "uniform":
            let r = try MappingReader(node, path, known: ["min", "max"], what: "a mapping with min and max")
            let low = try ScenarioRead.duration(try r.required("min"), r.path("min"))
            let high = try ScenarioRead.duration(try r.required("max"), r.path("max"))
            guard high >= low else { throw ScenarioRead.error(r["max"]!, r.path("max"), "must be at least min (\(low)), got \(high)") }
            result = .uniform(lower: ns(low), upper: ns(high))
        case "normal":
            let r = try MappingReader(node, path, known: ["mean", "stddev"], what: "a mapping with mean and stddev")
            result = .normal(mean: ns(try ScenarioRead.duration(try r.required("mean"), r.path("mean"))),
                             standardDeviation: ns(try ScenarioRead.duration(try r.required("stddev"), r.path("stddev"))))
        case "lognormal":
            let r = try MappingReader(node, path, known: ["median", "p99"], what: "a mapping with median and p99")
            let median = try ScenarioRead.duration(try r.required("median"), r.path("median"), positive: true)
            let p99 = try ScenarioRead.duration(try r.required("p99"), r.path("p99"))
            guard p99 > median else {
                throw ScenarioRead.error(r["p99"]!, r.path("p99"), "must be greater than median (\(median)), got \(p99)")
            }
            do { result = try Distribution.lognormal(median: ns(median), p99: ns(p99)) } catch {
                throw ScenarioRead.error(node, path, error.message)
            }
        case "pareto":
            let r = try MappingReader(node, path, known: ["scale", "shape"], what: "a mapping with scale and shape")
            let scale = try ScenarioRead.duration(try r.required("scale"), r.path("scale"), positive: true)
            let shape = try ScenarioRead.number(try r.required("shape"), r.path("shape"), min: 0, lowerOpen: true)
            result = .pareto(scale: ns(scale), shape: shape)
        case "paretonormal":
            let r = try MappingReader(node, path, known: ["mean", "jitter"], what: "a mapping with mean and jitter")
            result = .paretoNormal(mean: ns(try ScenarioRead.duration(try r.required("mean"), r.path("mean"))),
                                   standardDeviation: ns(try ScenarioRead.duration(try r.required("jitter"), r.path("jitter"))))
        case "empirical":
            var listNode = node
            var listPath = path
            if case .mapping = node.content {
                let r = try MappingReader(node, path, known: ["samples"], what: "a list of durations or a mapping with samples")
                listNode = try r.required("samples")
                listPath = r.path("samples")
            }
            let items = try ScenarioRead.sequence(listNode, listPath, expected: "a list of durations such as [12ms, 15ms, 40ms]")
            guard !items.isEmpty else { throw ScenarioRead.error(listNode, listPath, "needs at least one sample") }
            var samples: [Double] = []
            for (index, item) in items.enumerated() {
                samples.append(ns(try ScenarioRead.duration(item, ScenarioRead.child(listPath, index: index))))
            }
            do { result = .empirical(try EmpiricalSamples(samples)) } catch { throw ScenarioRead.error(listNode, listPath, error.message) }
        default:
            throw ScenarioRead.error(node, path, "unknown distribution '\(name)'; expected one of \(distributions.joined(separator: ", "))")
        }
        do { try result.validate() } catch { throw ScenarioRead.error(node, path, error.message) }
        return result
    }

    // MARK: Loss

    static let lossModels = ["bernoulli", "gilbertElliott", "fourState"]

    static func loss(_ node: ScenarioNode, _ path: String) throws(ScenarioError) -> LossCondition {
        if case .scalar = node.content, !node.isNull {
            return LossCondition(model: .bernoulli(probability: try ScenarioRead.probability(node, path)))
        }
        let r = try MappingReader(node, path, known: lossModels + ["segmentSize", "rto", "maxRTO"],
                                  what: "a probability such as \"1%\" or a mapping with a loss model (\(lossModels.joined(separator: ", ")))")
        let given = lossModels.filter { r.has($0) }
        guard given.count == 1 else {
            if given.count > 1 { throw ScenarioRead.error(r.keyNode(given[1])!, path, "only one loss model; '\(given[0])' is already given") }
            throw ScenarioRead.error(node, path, "missing a loss model; expected one of \(lossModels.joined(separator: ", "))")
        }
        let modelPath = r.path(given[0])
        let modelNode = r[given[0]]!
        let model: LossModel
        switch given[0] {
        case "bernoulli":
            model = .bernoulli(probability: try ScenarioRead.probability(modelNode, modelPath))
        case "gilbertElliott":
            let m = try MappingReader(modelNode, modelPath, known: ["p", "r", "h", "k"], what: "a mapping with p and r (h, k optional)")
            let p = try ScenarioRead.probability(try m.required("p"), m.path("p"))
            let rr = try ScenarioRead.probability(try m.required("r"), m.path("r"))
            let h = try m.optional("h") { (n, p) throws(ScenarioError) in try ScenarioRead.probability(n, p) } ?? 0
            let k = try m.optional("k") { (n, p) throws(ScenarioError) in try ScenarioRead.probability(n, p) } ?? 1
            model = .gilbertElliott(p: p, r: rr, lossInBad: 1 - h, lossInGood: 1 - k)
        default:
            let m = try MappingReader(modelNode, modelPath, known: ["p13", "p31", "p32", "p23", "p14"], what: "a mapping with p13 and p31")
            func prob(_ key: String, _ fallback: Double?) throws(ScenarioError) -> Double {
                guard let n = m[key] else {
                    if let fallback { return fallback }
                    _ = try m.required(key)
                    return 0
                }
                return try ScenarioRead.probability(n, m.path(key))
            }
            model = .fourState(p13: try prob("p13", nil), p31: try prob("p31", nil), p32: try prob("p32", 0),
                               p23: try prob("p23", 1), p14: try prob("p14", 0))
        }
        do { try model.validate() } catch { throw ScenarioRead.error(modelNode, modelPath, error.message) }
        var condition = LossCondition(model: model)
        if let n = r["segmentSize"] {
            let size = try ScenarioRead.size(n, r.path("segmentSize"))
            guard size.bytes > 0, size.bytes <= 65_535 else {
                throw ScenarioRead.error(n, r.path("segmentSize"), "must be between 1B and 65535B, got \(size)")
            }
            condition.segmentSize = Int(size.bytes)
        }
        if let n = r["rto"] { condition.initialRTO = try ScenarioRead.duration(n, r.path("rto"), positive: true) }
        if let n = r["maxRTO"] {
            condition.maxRTO = try ScenarioRead.duration(n, r.path("maxRTO"), positive: true)
            guard condition.maxRTO >= condition.initialRTO else {
                throw ScenarioRead.error(n, r.path("maxRTO"), "must be at least rto (\(condition.initialRTO)), got \(condition.maxRTO)")
            }
        }
        return condition
    }
}
