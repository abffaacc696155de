import LabCore
import Testing

@Suite("Event log lines") struct LabEventTests {
    @Test func jsonLineHasAFixedKeyOrderAndRoundTrips() throws {
        let e = LabEvent(time: .milliseconds(1500), connection: "c1", side: .client, kind: .pong,
                         rtt: .microseconds(2500))
        #expect(e.jsonLine == #"{"t":1.5,"conn":"c1","side":"client","type":"pong","rtt_ms":2.5}"#)
        #expect(try LabEvent(jsonLine: e.jsonLine) == e)
        let d = LabEvent(time: .seconds(3), connection: "s", side: .server, kind: .disconnect, reason: "ping timeout")
        #expect(try LabEvent(jsonLine: d.jsonLine) == d)
    }

    @Test("the direct writer gives exactly the JSONValue serialization, escapes included")
    func directWriterMatchesTheJSONValue() {
        var rng = SeededGenerator(seed: 11)
        let texts = ["c1", "ping timeout", "quote \" here", "back\\slash", "tab\there", "new\nline", "ctl\u{01}", "é ü ✓", ""]
        for i in 0..<500 {
            func pick() -> String { texts[Int(rng.next() % UInt64(texts.count))] }
            let e = LabEvent(
                time: .nanoseconds(Int64(rng.next() % 10_000_000_000_000)), connection: pick(),
                side: EventSide.allCases[Int(rng.next() % UInt64(EventSide.allCases.count))],
                kind: EventKind.allCases[Int(rng.next() % UInt64(EventKind.allCases.count))],
                reason: i % 3 == 0 ? pick() : nil,
                rtt: i % 4 == 0 ? .nanoseconds(Int64(rng.next() % 5_000_000_000)) : nil,
                attempt: i % 5 == 0 ? Int(rng.next() % 100) : nil,
                detail: i % 2 == 0 ? pick() : nil)
            #expect(e.jsonLine == String(decoding: e.json.serialized, as: UTF8.self), "\(e)")
        }
    }

    @Test func badLinesNameTheField() {
        #expect(throws: EventDecodingError(field: "type", reason: "unknown type 'pnog'")) {
            try LabEvent(jsonLine: #"{"t":1,"conn":"c","side":"client","type":"pnog"}"#)
        }
        #expect(throws: EventDecodingError(field: "t", reason: "expected a number")) {
            try LabEvent(jsonLine: #"{"conn":"c","side":"client","type":"ping"}"#)
        }
        #expect(throws: EventDecodingError.self) { try LabEvent(jsonLine: "not json") }
    }
}

@Suite("Event rates") struct EventRateTests {
    @Test func ratesParseToIntervals() throws {
        #expect(try EventRate(parsing: "2/s").interval == .milliseconds(500))
        #expect(try EventRate(parsing: "30/m").interval == .seconds(2))
        #expect(try EventRate(parsing: "0/s").interval == nil)
        #expect(throws: UnitParseError("'2/d' has an unknown unit '/d'; expected a count per unit of time such as \"2/s\", \"30/m\" or \"100/h\"")) {
            try EventRate(parsing: "2/d")
        }
        #expect(throws: UnitParseError.self) { try EventRate(parsing: "fast") }
    }
}
