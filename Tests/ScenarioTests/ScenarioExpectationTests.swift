import LabCore
import Scenario
import Testing

/// `expect.optional`: the expectations that pass when a run gives them nothing to judge.
@Suite struct ScenarioExpectationTests {
    static func parse(_ expect: String) throws(ScenarioError) -> Expectations {
        try Scenario.parse(yaml: "name: e\nduration: 1m\nserver: { builtin: socketio }\nclients: { builtin: socketio }\nexpect: \(expect)\n",
                           source: "e.yaml").expectations
    }

    static func error(_ expect: String) -> String? {
        do {
            _ = try parse(expect)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func optionalNamesExpectationsTheSameExpectSets() throws {
        let e = try Self.parse("{ detectionWithin: 45s, deliveryAtLeast: 99%, optional: [deliveryAtLeast] }")
        #expect(e.optional == ["deliveryAtLeast"])
        #expect(try Self.parse("{ falseDisconnects: 0 }").optional.isEmpty)
    }

    @Test func badOptionalNamesAreErrorsThatNameThePlace() {
        #expect(Self.error("{ deliveryAtLeast: 99%, optional: [delivery] }")
                == "e.yaml:5:44: expect.optional[0]: unknown expectation 'delivery'; expected one of falseDisconnects, detectionWithin, deliveryAtLeast, stabilityAtLeast, missedEventsAtMost")
        #expect(Self.error("{ deliveryAtLeast: 99%, optional: [detectionWithin] }")
                == "e.yaml:5:44: expect.optional[0]: 'detectionWithin' is not set in this expect, so it cannot be optional")
        #expect(Self.error("{ deliveryAtLeast: 99%, optional: deliveryAtLeast }")
                == "e.yaml:5:43: expect.optional: expected a list of expectation names, e.g. [deliveryAtLeast], got 'deliveryAtLeast'")
    }
}
