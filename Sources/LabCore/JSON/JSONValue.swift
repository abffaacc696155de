import Foundation

/// A JSON document as a plain value: what the control API reads and writes, what Socket.IO
/// packets carry, what the event log is made of. Objects keep their key order so responses list fields the way Toxiproxy does.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON type's name as error messages say it ("number", "string", ...).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer, .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The value as a Double when it is a number.
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }
}

/// A JSON object with ordered keys; lookups are linear, which suits the handful of keys the API uses.
/// Equality ignores key order, as JSON's does.
public struct JSONObject: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    /// One key and its value.
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue
    }

    public private(set) var members: [Member] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (key, value) in elements { self[key] = value }
    }

    /// The keys in order.
    public var keys: [String] { members.map(\.key) }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.members.count == rhs.members.count && lhs.members.allSatisfy { rhs[$0.key] == $0.value }
    }

    public func hash(into hasher: inout Hasher) {
        for m in members.sorted(by: { ExactName($0.key) < ExactName($1.key) }) {
            hasher.combine(m.key)
            hasher.combine(m.value)
        }
    }

    public var isEmpty: Bool { members.isEmpty }

    /// Gets or sets a member; setting nil removes it, setting an existing key replaces it in place.
    /// Keys match by their bytes, as JSON compares them: "é" and "e" + U+0301 are two keys.
    public subscript(key: String) -> JSONValue? {
        get { members.first { $0.key.hasSameBytes(as: key) }?.value }
        set {
            if let i = members.firstIndex(where: { $0.key.hasSameBytes(as: key) }) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append(Member(key: key, value: newValue))
            }
        }
    }
}

/// Why a request body is not a JSON document.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension JSONValue {
    /// Parses a complete JSON document (any value at the top level). Invalid UTF-8, syntax errors
    /// and nesting deeper than Foundation's limit (512) are errors, never crashes.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw JSONSyntaxError(description: "empty body, expected a JSON document")
        }
        try StrictJSONSyntax.check(bytes)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            throw JSONSyntaxError(description: detail ?? "not valid JSON")
        }
        return try convert(object)
    }

    private static func convert(_ object: Any) throws(JSONSyntaxError) -> JSONValue {
        switch object {
        case is NSNull:
            return .null
        case let string as String:
            return .string(string)
        case let number as NSNumber:
            // Foundation on Linux reports JSON booleans as NSNumber with objCType "c"; numbers never parse to "c".
            let code = String(cString: number.objCType)
            switch code {
            case "c", "B":
                return .bool(number.boolValue)
            case "d", "f":
                return .number(number.doubleValue)
            case "Q", "L", "I", "S", "C":
                let u = number.uint64Value
                return u <= UInt64(Int64.max) ? .integer(Int64(u)) : .number(number.doubleValue)
            default:
                if number is NSDecimalNumber { return .number(number.doubleValue) }
                return .integer(number.int64Value)
            }
        case let array as [Any]:
            var out: [JSONValue] = []
            out.reserveCapacity(array.count)
            for element in array { out.append(try convert(element)) }
            return .array(out)
        case let dictionary as [String: Any]:
            var out = JSONObject()
            for key in dictionary.keys.sorted() { out[key] = try convert(dictionary[key]!) }
            return .object(out)
        default:
            throw JSONSyntaxError(description: "unsupported JSON value \(type(of: object))")
        }
    }

    /// The compact JSON text of this value, UTF-8 encoded.
    public var serialized: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    private func write(to out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .integer(let i): out += Array(String(i).utf8)
        case .number(let d): out += Array(JSONValue.format(d).utf8)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (i, v) in values.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (i, m) in object.members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Formats a double the way Go's encoder does for whole numbers ("100", not "100.0"); NaN and
    /// infinities, which JSON cannot express, become null.
    public static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
