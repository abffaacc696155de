import FaultProxy
import LabCore

/// A toxic as a client describes it, before it is installed: Toxiproxy's wrapper fields plus the
/// attributes exactly as given, kept so responses echo them in the client's units.
struct ToxicDraft: Sendable {
    var toxic: Toxic
    /// The attributes as the client sent them (after a PATCH, merged).
    var attributes: JSONObject
}

/// Reads toxics from request JSON and writes them back in Toxiproxy's shape
/// `{"name","type","stream","toxicity","attributes"}` (+ Flatline's optional "connection").
enum ToxicCodec {
    /// Parses a toxic creation body: type (required), stream (default downstream), name (default
    /// "<type>_<stream>"), toxicity (default 1), attributes, and the "connection" extension.
    static func parseNew(_ body: JSONValue) throws(APIError) -> ToxicDraft {
        guard case .object(let object) = body else {
            throw APIError.badBody("expected a JSON object, got \(body.typeName)")
        }
        let top = AttributeReader(object: object, path: "")
        let streamName = try top.string("stream") ?? "downstream"
        guard let stream = LinkDirection(rawValue: streamName.lowercased()) else {
            throw APIError.badRequest("'\(streamName)' is invalid, can be either upstream or downstream", field: "stream")
        }
        let typeName = try top.string("type") ?? ""
        guard !typeName.isEmpty else { throw APIError.missingField("type") }
        guard let kind = ToxicKind.named(typeName) else {
            throw APIError.badRequest("unknown toxic type '\(typeName)'; expected one of \(ToxicKind.names)", field: "type")
        }
        var name = try top.string("name") ?? ""
        if name.isEmpty { name = "\(typeName)_\(stream.rawValue)" }
        let toxicity = try top.probability("toxicity") ?? 1
        let connection = try parseConnection(top)
        let attributes = try attributesObject(top)
        let condition = try kind.condition(from: attributes)
        let toxic = Toxic(name: name, type: typeName, stream: stream, toxicity: toxicity, condition: condition,
                          connection: connection)
        return ToxicDraft(toxic: toxic, attributes: attributes)
    }

    /// Applies a PATCH (or POST) update to an existing toxic as Toxiproxy does: given attributes
    /// are merged into the current ones (null removes one), toxicity replaced when given; name,
    /// type and stream stay.
    static func merge(_ body: JSONValue, into current: ToxicDraft) throws(APIError) -> ToxicDraft {
        guard case .object(let object) = body else {
            throw APIError.badBody("expected a JSON object, got \(body.typeName)")
        }
        let top = AttributeReader(object: object, path: "")
        guard let kind = ToxicKind.named(current.toxic.type) else {
            throw APIError.badRequest("toxic type '\(current.toxic.type)' cannot be changed through the API", field: "type")
        }
        var draft = current
        if let toxicity = try top.probability("toxicity") { draft.toxic.toxicity = toxicity }
        if object["connection"] != nil { draft.toxic.connection = try parseConnection(top) }
        let patch = try attributesObject(top)
        for member in patch.members {
            draft.attributes[member.key] = member.value == .null ? nil : member.value
        }
        draft.toxic.condition = try kind.condition(from: draft.attributes)
        return draft
    }

    private static func attributesObject(_ top: AttributeReader) throws(APIError) -> JSONObject {
        guard let value = top.value("attributes") else { return JSONObject() }
        guard case .object(let attributes) = value else {
            throw APIError.wrongType("attributes", expected: "an object", got: value)
        }
        return attributes
    }

    private static func parseConnection(_ top: AttributeReader) throws(APIError) -> UInt64? {
        guard let id = try top.integer("connection") else { return nil }
        guard id >= 0 else { throw top.error("connection", "must be a connection id (>= 0), got \(id)") }
        return UInt64(id)
    }

    /// The toxic's JSON; `attributes` are the client's form when remembered for this very
    /// condition, otherwise they are derived from the condition.
    static func render(_ toxic: Toxic, attributes remembered: JSONObject?) -> JSONValue {
        let attributes: JSONObject
        if let kind = ToxicKind.named(toxic.type) {
            attributes = kind.display(remembered ?? derivedAttributes(toxic.condition, type: toxic.type))
        } else {
            attributes = derivedAttributes(toxic.condition, type: toxic.type)
        }
        var object: JSONObject = [
            "name": .string(toxic.name),
            "type": .string(toxic.type),
            "stream": .string(toxic.stream.rawValue),
            "toxicity": .number(toxic.toxicity),
            "attributes": .object(attributes),
        ]
        if let connection = toxic.connection { object["connection"] = .integer(Int64(truncatingIfNeeded: connection)) }
        return .object(object)
    }

    /// Attributes that express `condition` in the API's units for a toxic of `type`.
    static func derivedAttributes(_ condition: Condition, type: String) -> JSONObject {
        func ms(_ t: TimeSpan) -> JSONValue { .number(DistributionCodec.roundedForDisplay(t.milliseconds)) }
        switch condition {
        case .latency(let c):
            var o: JSONObject = ["latency": ms(c.latency), "jitter": ms(c.jitter)]
            if let d = c.distribution { o["distribution"] = DistributionCodec.render(d) }
            if c.correlation != 0 { o["correlation"] = .number(c.correlation) }
            return o
        case .bandwidth(let c):
            // Rate 0 holds; a scenario's unlimited rate has no Toxiproxy spelling and shows as 0 too.
            if c.rate.isUnlimited || c.rate.bytesPerSecond == 0 { return ["rate": .integer(0)] }
            return ["rate": .number(DistributionCodec.roundedForDisplay(c.rate.bytesPerSecond / 1000))]
        case .stall(let c):
            return c.duration.map { ["duration": ms($0)] } ?? [:]
        case .blackhole(let c):
            return ["timeout": c.closeAfter.map(ms) ?? .integer(0)]
        case .loss(let c):
            var o = JSONObject()
            switch c.model {
            case .none:
                o["probability"] = .integer(0)
            case .bernoulli(let p):
                o["probability"] = .number(p)
            case .gilbertElliott(let p, let r, let bad, let good):
                o = ["model": .string("gilbert_elliott"), "p": .number(p), "r": .number(r),
                     "loss_in_bad": .number(bad), "loss_in_good": .number(good)]
            case .fourState(let p13, let p31, let p32, let p23, let p14):
                o = ["model": .string("4state"), "p13": .number(p13), "p31": .number(p31), "p32": .number(p32),
                     "p23": .number(p23), "p14": .number(p14)]
            }
            o["segment_size"] = .integer(Int64(c.segmentSize))
            o["rto"] = ms(c.initialRTO)
            o["max_rto"] = ms(c.maxRTO)
            return o
        case .slicer(let c):
            return ["average_size": .integer(Int64(c.averageSize)), "size_variation": .integer(Int64(c.sizeVariation)),
                    "delay": .number(DistributionCodec.roundedForDisplay(Double(c.delay.nanoseconds) / 1e3))]
        case .limitData(let c):
            return ["bytes": .integer(c.bytes)]
        case .slowClose(let c):
            return ["delay": ms(c.delay)]
        case .reset(let c):
            return ["timeout": ms(c.after)]
        case .idleTimeout(let c):
            return ["timeout": ms(c.after), "action": .string(c.action.rawValue)]
        case .slowConnect(let c):
            return ["delay": ms(c.delay)]
        }
    }
}
