import LabCore

/// Reads typed values out of a JSON object (a toxic's attributes, a distribution), so every
/// wrong type, sign or range becomes a 400 that names the field: "attributes.latency: expected a
/// number, got string". A JSON null counts as absent.
struct AttributeReader {
    /// The object read.
    let object: JSONObject
    /// The path of the object in the request, e.g. "attributes" or "attributes.distribution".
    let path: String

    /// The longest duration an attribute may give (1e17 ns, about 3 years): far beyond any useful
    /// fault, and small enough that latency + jitter + a distribution's largest draw still fit the
    /// schedule's Int64 nanoseconds.
    static let maxNanoseconds = 1e17

    private func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// The error for `name` with `reason`.
    func error(_ name: String, _ reason: String) -> APIError { APIError(status: 400, field: field(name), reason: reason) }

    /// The raw value, nil when absent or null.
    func value(_ name: String) -> JSONValue? {
        guard let v = object[name] else { return nil }
        if case .null = v { return nil }
        return v
    }

    /// Whether the attribute is present (and not null).
    func has(_ name: String) -> Bool { value(name) != nil }

    /// Rejects keys not in `known`, listing the known ones.
    func rejectUnknown(known: [String], what: String) throws(APIError) {
        for key in object.keys where !known.contains(key) {
            throw error(key, "unknown attribute for \(what); known: \(known.joined(separator: ", "))")
        }
    }

    /// A finite number.
    func number(_ name: String) throws(APIError) -> Double? {
        guard let v = value(name) else { return nil }
        guard let d = v.doubleValue else { throw APIError.wrongType(field(name), expected: "a number", got: v) }
        guard d.isFinite else { throw error(name, "must be a finite number") }
        return d
    }

    /// A number >= 0.
    func nonNegative(_ name: String) throws(APIError) -> Double? {
        guard let d = try number(name) else { return nil }
        guard d >= 0 else { throw error(name, "must be >= 0, got \(JSONValue.format(d))") }
        return d
    }

    /// A probability in [0, 1].
    func probability(_ name: String) throws(APIError) -> Double? {
        guard let d = try number(name) else { return nil }
        guard d >= 0, d <= 1 else { throw error(name, "must be in [0, 1], got \(JSONValue.format(d))") }
        return d
    }

    /// A whole number (an integral JSON number).
    func integer(_ name: String) throws(APIError) -> Int64? {
        guard let v = value(name) else { return nil }
        switch v {
        case .integer(let i):
            return i
        case .number(let d):
            guard d == d.rounded(), abs(d) < 9.2e18 else {
                throw error(name, "expected an integer, got \(JSONValue.format(d))")
            }
            return Int64(d)
        default:
            throw APIError.wrongType(field(name), expected: "an integer", got: v)
        }
    }

    /// A whole number >= 0.
    func count(_ name: String) throws(APIError) -> Int64? {
        guard let i = try integer(name) else { return nil }
        guard i >= 0 else { throw error(name, "must be >= 0, got \(i)") }
        return i
    }

    /// A duration given as a number >= 0 of `unit` nanoseconds (1e6 for milliseconds).
    func duration(_ name: String, unit: Double, unitName: String) throws(APIError) -> TimeSpan? {
        guard let d = try nonNegative(name) else { return nil }
        let ns = d * unit
        guard ns < AttributeReader.maxNanoseconds else {
            let limit = JSONValue.format((AttributeReader.maxNanoseconds / unit).rounded(.down))
            throw error(name, "too large, at most \(limit) \(unitName)")
        }
        return TimeSpan(nanoseconds: Int64(ns.rounded()))
    }

    /// A duration in milliseconds (Toxiproxy's unit for every time attribute but slicer's delay).
    func milliseconds(_ name: String) throws(APIError) -> TimeSpan? {
        try duration(name, unit: 1e6, unitName: "ms")
    }

    /// A string.
    func string(_ name: String) throws(APIError) -> String? {
        guard let v = value(name) else { return nil }
        guard case .string(let s) = v else { throw APIError.wrongType(field(name), expected: "a string", got: v) }
        return s
    }

    /// A nested object, read with its own path.
    func object(_ name: String) throws(APIError) -> AttributeReader? {
        guard let v = value(name) else { return nil }
        guard case .object(let o) = v else { throw APIError.wrongType(field(name), expected: "an object", got: v) }
        return AttributeReader(object: o, path: field(name))
    }

    /// An array of finite numbers.
    func numbers(_ name: String) throws(APIError) -> [Double]? {
        guard let v = value(name) else { return nil }
        guard case .array(let items) = v else { throw APIError.wrongType(field(name), expected: "an array of numbers", got: v) }
        var out: [Double] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard let d = item.doubleValue else {
                throw APIError.wrongType("\(field(name))[\(i)]", expected: "a number", got: item)
            }
            out.append(d)
        }
        return out
    }

    /// `value` or a "missing required field" error.
    func required<T>(_ name: String, _ value: T?) throws(APIError) -> T {
        guard let value else { throw APIError.missingField(field(name)) }
        return value
    }
}
