import LabCore
import Testing

/// `JSONValueEncoder`: a `Codable` type as a `JSONValue`, its keys in encoding order.
@Suite struct JSONValueEncoderTests {
    struct Inner: Codable { var z: Int; var a: [Double] }
    struct Outer: Codable {
        var name: String
        var flag: Bool
        var missing: String?
        var inner: Inner
        var list: [Inner]
        var big: UInt64
    }

    @Test func keysKeepTheirEncodingOrderAndNilOptionalsAreLeftOut() throws {
        let value = Outer(name: "n\"1", flag: true, missing: nil, inner: Inner(z: -3, a: [0.5, 2]),
                          list: [Inner(z: 1, a: [])], big: UInt64(Int64.max))
        let json = try JSONValueEncoder().encode(value)
        #expect(String(decoding: json.serialized, as: UTF8.self)
            == #"{"name":"n\"1","flag":true,"inner":{"z":-3,"a":[0.5,2]},"list":[{"z":1,"a":[]}],"big":9223372036854775807}"#)
        guard case .object(let object) = json else { Issue.record("not an object"); return }
        #expect(object.keys == ["name", "flag", "inner", "list", "big"])
    }

    @Test func anUnsignedValueAboveInt64MaxIsAnError() {
        #expect(throws: EncodingError.self) {
            try JSONValueEncoder().encode(Outer(name: "", flag: false, inner: Inner(z: 0, a: []), list: [], big: UInt64.max))
        }
    }

    @Test func singleValuesAndArraysAtTheTop() throws {
        #expect(try JSONValueEncoder().encode("x") == .string("x"))
        #expect(try JSONValueEncoder().encode([1, 2]) == .array([.integer(1), .integer(2)]))
        #expect(try JSONValueEncoder().encode(Double.infinity).serialized == Array("null".utf8))
    }
}
