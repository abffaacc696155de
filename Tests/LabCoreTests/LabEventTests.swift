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
