import LabCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One toxic type the API accepts: its Toxiproxy (or Flatline) name, its attributes in the order
/// responses list them, the defaults Toxiproxy echoes for absent ones, and how the attributes
/// become a LabCore `Condition`.
struct ToxicKind: Sendable {
    /// The type name clients send ("latency", "timeout", "stall"...).
    let name: String
    /// Every attribute this type knows, in display order.
    let attributes: [String]
    /// Values shown for attributes the client did not give (Toxiproxy echoes its whole struct).
    let defaults: JSONObject
    /// Builds the condition from the attributes; errors name the attribute.
    let build: @Sendable (AttributeReader) throws(APIError) -> Condition

    /// The kinds, Toxiproxy's first, then Flatline's own.
    static let all: [ToxicKind] = [
        latency, bandwidth, slowClose, timeout, resetPeer, slicer, limitData,
        stall, blackhole, loss, idleTimeout, slowConnect,
    ]

    /// The kind named `name`.
    static func named(_ name: String) -> ToxicKind? { all.first { $0.name == name } }

    /// The names, for "expected one of ..." messages.
    static var names: String { all.map(\.name).joined(separator: ", ") }

    /// Parses and validates `attributes` into a condition: unknown attribute names, wrong types,
    /// negative or out-of-range values are 400s naming the field.
    func condition(from attributes: JSONObject) throws(APIError) -> Condition {
        let reader = AttributeReader(object: attributes, path: "attributes")
        try reader.rejectUnknown(known: self.attributes, what: name)
        let condition = try build(reader)
        do throws(ConditionError) {
            try condition.validate()
        } catch {
            throw APIError(status: 400, field: "attributes.\(error.field)", reason: error.reason)
        }
        return condition
    }

    /// The attributes as responses show them: the client's values where given, defaults for the
    /// rest, in the kind's order.
    func display(_ attributes: JSONObject) -> JSONObject {
        var out = JSONObject()
        for name in self.attributes {
            if let v = attributes[name], v != .null {
                out[name] = v
            } else if let d = defaults[name] {
                out[name] = d
            }
        }
        return out
    }

    // MARK: Toxiproxy's types

    static let latency = ToxicKind(
        name: "latency", attributes: ["latency", "jitter", "distribution", "correlation"],
        defaults: ["latency": .integer(0), "jitter": .integer(0)]
    ) { a throws(APIError) in
        let distribution = try a.object("distribution").map { r throws(APIError) in try DistributionCodec.parse(r) }
        let correlation = try a.number("correlation") ?? 0
        if a.has("correlation"), distribution == nil {
            throw a.error("correlation", "needs a distribution to correlate")
        }
        guard correlation >= 0, correlation < 1 else {
            throw a.error("correlation", "must be in [0, 1), got \(JSONValue.format(correlation))")
        }
        return .latency(LatencyCondition(latency: try a.milliseconds("latency") ?? .zero,
                                         jitter: try a.milliseconds("jitter") ?? .zero,
                                         distribution: distribution, correlation: correlation))
    }

    static let bandwidth = ToxicKind(
        name: "bandwidth", attributes: ["rate"], defaults: ["rate": .integer(0)]
    ) { a throws(APIError) in
        let rate = try a.nonNegative("rate") ?? 0
        guard rate <= 1e12 else { throw a.error("rate", "too large, at most 1000000000000 KB/s") }
        // As in Toxiproxy, a rate of 0 (also the default) holds the data until the toxic is changed
        // or removed, when what it held passes on (toxics/bandwidth.go: its loop sends empty
        // slices every 100 ms and never advances; on an interrupt it passes the chunk on).
        return .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: rate * 1000)))
    }

    static let slowClose = ToxicKind(
        name: "slow_close", attributes: ["delay"], defaults: ["delay": .integer(0)]
    ) { a throws(APIError) in
        .slowClose(SlowCloseCondition(delay: try a.milliseconds("delay") ?? .zero))
    }

    static let timeout = ToxicKind(
        name: "timeout", attributes: ["timeout"], defaults: ["timeout": .integer(0)]
    ) { a throws(APIError) in
        let t = try a.milliseconds("timeout") ?? .zero
        return .blackhole(BlackholeCondition(closeAfter: t == .zero ? nil : t))
    }

    static let resetPeer = ToxicKind(
        name: "reset_peer", attributes: ["timeout"], defaults: ["timeout": .integer(0)]
    ) { a throws(APIError) in
        .reset(ResetCondition(after: try a.milliseconds("timeout") ?? .zero))
    }

    static let slicer = ToxicKind(
        name: "slicer", attributes: ["average_size", "size_variation", "delay"],
        defaults: ["average_size": .integer(0), "size_variation": .integer(0), "delay": .integer(0)]
    ) { a throws(APIError) in
        let average = try a.count("average_size") ?? 0
        let variation = try a.count("size_variation") ?? 0
        guard average <= Int64(Int32.max) else { throw a.error("average_size", "must be at most \(Int32.max)") }
        guard variation <= Int64(Int32.max) else { throw a.error("size_variation", "must be at most \(Int32.max)") }
        return .slicer(SlicerCondition(averageSize: Int(average), sizeVariation: Int(variation),
                                       delay: try a.duration("delay", unit: 1e3, unitName: "us") ?? .zero))
    }

    static let limitData = ToxicKind(
        name: "limit_data", attributes: ["bytes"], defaults: ["bytes": .integer(0)]
    ) { a throws(APIError) in
        .limitData(LimitDataCondition(bytes: try a.count("bytes") ?? 0))
    }

    // MARK: Flatline's types

    static let stall = ToxicKind(
        name: "stall", attributes: ["duration"], defaults: [:]
    ) { a throws(APIError) in
        let d = try a.milliseconds("duration")
        return .stall(StallCondition(duration: d == .zero ? nil : d))
    }

    static let blackhole = ToxicKind(
        name: "blackhole", attributes: ["timeout"], defaults: [:]
    ) { a throws(APIError) in
        let t = try a.milliseconds("timeout")
        return .blackhole(BlackholeCondition(closeAfter: t == .zero ? nil : t))
    }

    static let idleTimeout = ToxicKind(
        name: "idle_timeout", attributes: ["timeout", "action"], defaults: ["action": .string("close")]
    ) { a throws(APIError) in
        let t = try a.required("timeout", try a.milliseconds("timeout"))
        guard t > .zero else { throw a.error("timeout", "must be > 0") }
        let actionName = try a.string("action") ?? "close"
        guard let action = MiddleboxAction(rawValue: actionName) else {
            let known = MiddleboxAction.allCases.map(\.rawValue).joined(separator: ", ")
            throw a.error("action", "unknown action '\(actionName)'; expected one of \(known)")
        }
        return .idleTimeout(IdleTimeoutCondition(after: t, action: action))
    }

    static let slowConnect = ToxicKind(
        name: "slow_connect", attributes: ["delay"], defaults: ["delay": .integer(0)]
    ) { a throws(APIError) in
        .slowConnect(SlowConnectCondition(delay: try a.milliseconds("delay") ?? .zero))
    }

    /// Loss models by name and the attributes each uses.
    static let lossModels: [(name: String, attributes: [String])] = [
        ("bernoulli", ["probability"]),
        ("gilbert_elliott", ["p", "r", "loss_in_bad", "loss_in_good"]),
        ("4state", ["p13", "p31", "p32", "p23", "p14"]),
    ]

    static let loss = ToxicKind(
        name: "loss",
        attributes: ["model", "probability", "p", "r", "loss_in_bad", "loss_in_good",
                     "p13", "p31", "p32", "p23", "p14", "segment_size", "rto", "max_rto"],
        defaults: [:]
    ) { a throws(APIError) in
        let modelName = try a.string("model") ?? "bernoulli"
        guard let entry = lossModels.first(where: { $0.name == modelName }) else {
            let known = lossModels.map(\.name).joined(separator: ", ")
            throw a.error("model", "unknown loss model '\(modelName)'; expected one of \(known)")
        }
        for other in lossModels where other.name != modelName {
            for key in other.attributes where a.has(key) {
                throw a.error(key, "not used by loss model \(modelName) (it takes \(entry.attributes.joined(separator: ", ")))")
            }
        }
        let model: LossModel
        switch modelName {
        case "gilbert_elliott":
            model = .gilbertElliott(p: try a.required("p", try a.probability("p")),
                                    r: try a.required("r", try a.probability("r")),
                                    lossInBad: try a.probability("loss_in_bad") ?? 1,
                                    lossInGood: try a.probability("loss_in_good") ?? 0)
        case "4state":
            // netem's defaults for `loss state p13 [p31 [p32 [p23 [p14]]]]`.
            let p13 = try a.required("p13", try a.probability("p13"))
            model = .fourState(p13: p13, p31: try a.probability("p31") ?? 1 - p13, p32: try a.probability("p32") ?? 0,
                               p23: try a.probability("p23") ?? 1, p14: try a.probability("p14") ?? 0)
        default:
            model = .bernoulli(probability: try a.required("probability", try a.probability("probability")))
        }
        do throws(DistributionError) {
            try model.validate()
        } catch {
            throw a.error("model", error.message)
        }
        var condition = LossCondition(model: model)
        if let size = try a.count("segment_size") {
            guard size > 0, size <= 1 << 30 else { throw a.error("segment_size", "must be in 1...\(1 << 30), got \(size)") }
            condition.segmentSize = Int(size)
        }
        if let rto = try a.milliseconds("rto") {
            guard rto > .zero else { throw a.error("rto", "must be > 0") }
            condition.initialRTO = rto
            if !a.has("max_rto"), condition.maxRTO < rto { condition.maxRTO = rto }
        }
        if let maxRTO = try a.milliseconds("max_rto") {
            guard maxRTO >= condition.initialRTO else {
                throw a.error("max_rto", "must be >= rto (\(JSONValue.format(condition.initialRTO.milliseconds)) ms)")
            }
            condition.maxRTO = maxRTO
        }
        return .loss(condition)
    }
}

/// Latency distributions in the API: `{"type": "lognormal", "median": ms, "p99": ms}` and the like,
/// given in milliseconds and stored in nanoseconds (the unit LabCore samples delays in).
enum DistributionCodec {
    /// The parameters each distribution type takes, all in milliseconds except pareto's shape.
    static let types: [(name: String, parameters: [String])] = [
        ("lognormal", ["median", "p99"]),
        ("normal", ["mean", "stddev"]),
        ("uniform", ["lower", "upper"]),
        ("pareto", ["scale", "shape"]),
        ("paretonormal", ["mean", "stddev"]),
        ("constant", ["value"]),
        ("empirical", ["samples"]),
    ]

    static let nanosecondsPerMillisecond = 1e6

    /// Parses a distribution object (in ms) into a validated `Distribution` over nanoseconds.
    static func parse(_ r: AttributeReader) throws(APIError) -> Distribution {
        let typeName = try r.required("type", try r.string("type"))
        guard let entry = types.first(where: { $0.name == typeName }) else {
            let known = types.map(\.name).joined(separator: ", ")
            throw r.error("type", "unknown distribution '\(typeName)'; expected one of \(known)")
        }
        try r.rejectUnknown(known: ["type"] + entry.parameters, what: "distribution \(typeName)")
        func need(_ name: String) throws(APIError) -> Double { try r.required(name, try r.number(name)) }
        let ms: Distribution
        do {
            switch typeName {
            case "lognormal":
                let median = try need("median")
                let p99 = try need("p99")
                guard median > 0 else { throw r.error("median", "must be > 0, got \(JSONValue.format(median))") }
                guard p99 > median else {
                    throw r.error("p99", "must be > median (\(JSONValue.format(median))), got \(JSONValue.format(p99))")
                }
                ms = try Distribution.lognormal(median: median, p99: p99)
            case "normal", "paretonormal":
                let mean = try need("mean")
                let sd = try need("stddev")
                guard sd >= 0 else { throw r.error("stddev", "must be >= 0, got \(JSONValue.format(sd))") }
                ms = typeName == "normal"
                    ? .normal(mean: mean, standardDeviation: sd)
                    : .paretoNormal(mean: mean, standardDeviation: sd)
            case "uniform":
                let lower = try need("lower")
                let upper = try need("upper")
                guard upper >= lower else {
                    throw r.error("upper", "must be >= lower (\(JSONValue.format(lower))), got \(JSONValue.format(upper))")
                }
                ms = .uniform(lower: lower, upper: upper)
            case "pareto":
                let scale = try need("scale")
                let shape = try need("shape")
                guard scale > 0 else { throw r.error("scale", "must be > 0, got \(JSONValue.format(scale))") }
                guard shape > 0 else { throw r.error("shape", "must be > 0, got \(JSONValue.format(shape))") }
                ms = .pareto(scale: scale, shape: shape)
            case "constant":
                ms = .constant(try need("value"))
            default:
                let samples = try r.required("samples", try r.numbers("samples"))
                guard !samples.isEmpty else { throw r.error("samples", "must not be empty") }
                ms = .empirical(try EmpiricalSamples(samples))
            }
            try ms.validate()
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: 400, field: r.errorPath, reason: "\(error)")
        }
        let ns = ms.scaled(by: nanosecondsPerMillisecond)
        // The largest draw must be a representable delay; a heavy tail (pareto with a tiny shape)
        // would otherwise overflow the schedule's nanosecond arithmetic.
        let top = ns.quantile(1.0.nextDown)
        let bottom = ns.quantile(Double.leastNormalMagnitude)
        guard top.isFinite, bottom.isFinite, top < AttributeReader.maxNanoseconds,
              bottom > -AttributeReader.maxNanoseconds else {
            throw APIError(status: 400, field: r.errorPath,
                           reason: "its extreme draws exceed ±1e11 ms (about 3 years), the longest delay an attribute may give")
        }
        return ns
    }

    /// The API object for a distribution over nanoseconds, in milliseconds (used when no
    /// client-given form of the attributes is remembered).
    static func render(_ ns: Distribution) -> JSONValue {
        let d = ns.scaled(by: 1 / nanosecondsPerMillisecond)
        func n(_ x: Double) -> JSONValue { .number(roundedForDisplay(x)) }
        switch d {
        case .constant(let v): return .object(["type": .string("constant"), "value": n(v)])
        case .uniform(let lower, let upper): return .object(["type": .string("uniform"), "lower": n(lower), "upper": n(upper)])
        case .normal(let mean, let sd): return .object(["type": .string("normal"), "mean": n(mean), "stddev": n(sd)])
        case .lognormal:
            return .object(["type": .string("lognormal"), "median": n(d.quantile(0.5)), "p99": n(d.quantile(0.99))])
        case .pareto(let scale, let shape): return .object(["type": .string("pareto"), "scale": n(scale), "shape": n(shape)])
        case .paretoNormal(let mean, let sd):
            return .object(["type": .string("paretonormal"), "mean": n(mean), "stddev": n(sd)])
        case .empirical(let samples):
            return .object(["type": .string("empirical"), "samples": .array(samples.sorted.map(n))])
        }
    }

    /// `x` rounded to 12 significant digits, so unit conversions do not show as 40.000000000000007.
    static func roundedForDisplay(_ x: Double) -> Double {
        guard x.isFinite, x != 0 else { return x }
        let digits = 12 - Int(floor(log10(abs(x)))) - 1
        let scale = pow(10, Double(digits))
        let r = (x * scale).rounded() / scale
        return r.isFinite ? r : x
    }
}

extension AttributeReader {
    /// The reader's own path, for errors about the whole object.
    var errorPath: String { path }
}
