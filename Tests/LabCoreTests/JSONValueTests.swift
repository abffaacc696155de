import Testing
import LabCore

/// The JSON model under the API: Foundation's parser mapped to typed values, and the writer.
@Suite struct JSONValueTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func typesAreTellApart() throws {
        let v = try parse(#"[true, false, 0, 1, -7, 1.5, 1e3, 18446744073709551615, "s", null, {"k": [1]}]"#)
        #expect(v == .array([
            .bool(true), .bool(false), .integer(0), .integer(1), .integer(-7), .number(1.5), .number(1000),
            .number(1.8446744073709552e19), .string("s"), .null, .object(["k": .array([.integer(1)])]),
        ]))
        #expect(try parse("1").typeName == "number")
        #expect(try parse("true").typeName == "boolean")
        #expect(try parse(#""x""#).typeName == "string")
    }

    @Test func invalidDocumentsAreErrorsNotCrashes() {
        let bad: [[UInt8]] = [
            [], Array("   ".utf8), Array("{".utf8), Array("[1 2]".utf8), Array("{\"a\":1} x".utf8),
            [0x22, 0xFF, 0x22], Array("1e400".utf8), Array(String(repeating: "[", count: 10_000).utf8),
            Array((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8),
        ]
        for bytes in bad {
            #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(bytes) }
        }
    }

    @Test func writerEscapesAndKeepsOrder() {
        let object: JSONObject = ["b": .string("q\"\\\n\t\u{1}é"), "a": .number(0.25), "c": .number(100), "d": .integer(-3)]
        #expect(String(decoding: JSONValue.object(object).serialized, as: UTF8.self)
            == #"{"b":"q\"\\\n\t\u0001é","a":0.25,"c":100,"d":-3}"#)
        #expect(JSONValue.format(.infinity) == "null")
        #expect(JSONValue.format(1e20) == "1e+20")
    }

    @Test func objectsCompareWithoutOrderAndSettingNilRemoves() {
        var o: JSONObject = ["a": .integer(1), "b": .integer(2)]
        #expect(o == ["b": .integer(2), "a": .integer(1)])
        o["a"] = nil
        #expect(o.keys == ["b"])
        o["b"] = .integer(3)
        #expect(o == ["b": .integer(3)])
    }
}
