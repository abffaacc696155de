/// Encodes an `Encodable` value as a `JSONValue`, keeping object keys in the order they were
/// encoded, so a `Codable` type written through `JSONValue.serialized` gives the same bytes every
/// time, field order included (Foundation's `JSONEncoder` either sorts keys or promises no order).
///
/// Whole numbers become `.integer`, `Double` and `Float` `.number` (non-finite ones `null` when
/// serialized); an unsigned value above `Int64.max` is an error.
public struct JSONValueEncoder {
    /// Creates an encoder.
    public init() {}

    /// The JSON value of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = JSONValueEncoderNode()
        try value.encode(to: JSONValueEncoderImplementation(node: root, codingPath: []))
        return root.value
    }
}

/// One value under construction: a plain value, or an object or array whose members are filled in
/// by containers that may outlive the call that created them (hence a class).
private final class JSONValueEncoderNode {
    enum Content {
        case unset
        case value(JSONValue)
        case object([(String, JSONValueEncoderNode)])
        case array([JSONValueEncoderNode])
    }

    var content: Content = .unset

    var value: JSONValue {
        switch content {
        case .unset: return .object(JSONObject())
        case .value(let v): return v
        case .object(let members):
            var object = JSONObject()
            for (key, node) in members { object[key] = node.value }
            return .object(object)
        case .array(let elements): return .array(elements.map(\.value))
        }
    }

    /// The member `key` of this object (made an object if it was not one yet), replacing an
    /// earlier member of that key in place.
    func member(_ key: String) -> JSONValueEncoderNode {
        var members: [(String, JSONValueEncoderNode)] = []
        if case .object(let existing) = content { members = existing }
        let node = JSONValueEncoderNode()
        if let i = members.firstIndex(where: { $0.0 == key }) {
            members[i].1 = node
        } else {
            members.append((key, node))
        }
        content = .object(members)
        return node
    }

    /// A new last element of this array (made an array if it was not one yet).
    func appendElement() -> JSONValueEncoderNode {
        var elements: [JSONValueEncoderNode] = []
        if case .array(let existing) = content { elements = existing }
        let node = JSONValueEncoderNode()
        elements.append(node)
        content = .array(elements)
        return node
    }

    var count: Int {
        if case .array(let elements) = content { return elements.count }
        return 0
    }

    func makeObject() { if case .object = content {} else { content = .object([]) } }
    func makeArray() { if case .array = content {} else { content = .array([]) } }
}

/// A key for positions in arrays, for coding paths.
private struct JSONValueIndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

private struct JSONValueEncoderImplementation: Encoder {
    let node: JSONValueEncoderNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(JSONValueKeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return JSONValueUnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONValueSingleContainer(node: node, codingPath: codingPath)
    }
}

/// Converts the primitive values every container accepts.
private enum JSONValuePrimitive {
    static func integer<T: BinaryInteger>(_ value: T, path: [any CodingKey]) throws -> JSONValue {
        guard let exact = Int64(exactly: value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "\(value) does not fit in a JSON integer (Int64)"))
        }
        return .integer(exact)
    }

    static func encode<T: Encodable>(_ value: T, into node: JSONValueEncoderNode, path: [any CodingKey]) throws {
        switch value {
        case let v as String: node.content = .value(.string(v))
        case let v as Bool: node.content = .value(.bool(v))
        case let v as Double: node.content = .value(.number(v))
        case let v as Float: node.content = .value(.number(Double(v)))
        case let v as Int: node.content = .value(try integer(v, path: path))
        case let v as Int64: node.content = .value(.integer(v))
        case let v as UInt64: node.content = .value(try integer(v, path: path))
        default: try value.encode(to: JSONValueEncoderImplementation(node: node, codingPath: path))
        }
    }
}

private struct JSONValueKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONValueEncoderNode
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.member(key.stringValue).content = .value(.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { node.member(key.stringValue).content = .value(.bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { node.member(key.stringValue).content = .value(.string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { node.member(key.stringValue).content = .value(.number(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { node.member(key.stringValue).content = .value(.number(Double(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodeInteger(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodeInteger(value, key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try JSONValuePrimitive.encode(value, into: node.member(key.stringValue), path: codingPath + [key])
    }

    private func encodeInteger<T: BinaryInteger>(_ value: T, _ key: Key) throws {
        node.member(key.stringValue).content = .value(try JSONValuePrimitive.integer(value, path: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = node.member(key.stringValue)
        child.makeObject()
        return KeyedEncodingContainer(JSONValueKeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.member(key.stringValue)
        child.makeArray()
        return JSONValueUnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        JSONValueEncoderImplementation(node: node.member("super"), codingPath: codingPath + [JSONValueIndexKey(stringValue: "super")])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        JSONValueEncoderImplementation(node: node.member(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct JSONValueUnkeyedContainer: UnkeyedEncodingContainer {
    let node: JSONValueEncoderNode
    let codingPath: [any CodingKey]
    var count: Int { node.count }

    private var nextPath: [any CodingKey] { codingPath + [JSONValueIndexKey(intValue: count)] }

    mutating func encodeNil() throws { node.appendElement().content = .value(.null) }
    mutating func encode(_ value: Bool) throws { node.appendElement().content = .value(.bool(value)) }
    mutating func encode(_ value: String) throws { node.appendElement().content = .value(.string(value)) }
    mutating func encode(_ value: Double) throws { node.appendElement().content = .value(.number(value)) }
    mutating func encode(_ value: Float) throws { node.appendElement().content = .value(.number(Double(value))) }
    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = nextPath
        try JSONValuePrimitive.encode(value, into: node.appendElement(), path: path)
    }

    private func encodeInteger<T: BinaryInteger>(_ value: T) throws {
        let encoded = try JSONValuePrimitive.integer(value, path: nextPath)
        node.appendElement().content = .value(encoded)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        let child = node.appendElement()
        child.makeObject()
        return KeyedEncodingContainer(JSONValueKeyedContainer<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = nextPath
        let child = node.appendElement()
        child.makeArray()
        return JSONValueUnkeyedContainer(node: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = nextPath
        return JSONValueEncoderImplementation(node: node.appendElement(), codingPath: path)
    }
}

private struct JSONValueSingleContainer: SingleValueEncodingContainer {
    let node: JSONValueEncoderNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.content = .value(.null) }
    mutating func encode(_ value: Bool) throws { node.content = .value(.bool(value)) }
    mutating func encode(_ value: String) throws { node.content = .value(.string(value)) }
    mutating func encode(_ value: Double) throws { node.content = .value(.number(value)) }
    mutating func encode(_ value: Float) throws { node.content = .value(.number(Double(value))) }
    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try JSONValuePrimitive.encode(value, into: node, path: codingPath)
    }

    private func encodeInteger<T: BinaryInteger>(_ value: T) throws {
        node.content = .value(try JSONValuePrimitive.integer(value, path: codingPath))
    }
}
