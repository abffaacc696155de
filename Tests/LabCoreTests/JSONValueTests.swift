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

    /// Foundation's parser on Linux takes what RFC 8259 forbids; the strict check refuses it,
    /// naming the byte (issue 12, finding 13: the API accepted {"type":"latency",}).
    @Test func strictSyntaxRefusesWhatJSONForbids() {
        for bad in [#"{"type":"latency",}"#, "[1,]", "[1 2]", "{\"a\" 1}", "01", "1.", "-", ".5", "+1", "1e", "tru", "nul",
                    #""a\u12""#, "\"tab\there\"", "'a'", "{a:1}", "[1]]", "{}{}", "NaN", "Infinity", "\"\\x\""] {
            #expect(throws: JSONSyntaxError.self, "\(bad)") { try JSONValue.parse(Array(bad.utf8)) }
        }
        for good in [#"{"type":"latency"}"#, "[]", "{}", " [1, 2.5e-3, -0, true, false, null] ", #""\u00e9\n""#, "0", "-1.5E+2",
                     #"{"a":{"b":[{"c":"d"}]}}"#] {
            #expect((try? JSONValue.parse(Array(good.utf8))) != nil, "\(good)")
        }
        do {
            _ = try JSONValue.parse(Array(#"{"type":"latency",}"#.utf8))
            Issue.record("a trailing comma was accepted")
        } catch {
            #expect(error.description == "expected a member name at byte 18")
        }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(Array(deep.utf8)) }
    }
}
