import Heartbeat
import LabCore
import Scenario
import Testing

/// `detector:` on the built-in server and clients: the kind alone or with its knob, defaults for a
/// period, `--set` overrides, and errors that name the place.
@Suite struct ScenarioDetectorTests {
    static func scenario(server: String = "{ builtin: socketio, pingInterval: 5s }",
                         clients: String = "{ builtin: socketio }") throws(ScenarioError) -> Scenario {
        try Scenario.parse(yaml: "name: d\nduration: 10m\nserver: \(server)\nclients: \(clients)\n", source: "d.yaml")
    }

    static func error(server: String = "{ builtin: socketio, pingInterval: 5s }",
                      clients: String = "{ builtin: socketio }") -> String? {
        do {
            _ = try scenario(server: server, clients: clients)
            return nil
        } catch {
            return error.description
        }
    }

    static func serverDetector(_ s: Scenario) -> DetectorChoice? {
        guard case .socketIO(let settings) = s.server else { return nil }
        return settings.detector
    }

    static func clientDetector(_ s: Scenario) -> DetectorChoice? {
        guard case .socketIO(let settings) = s.clients.component else { return nil }
        return settings.detector
    }

    @Test func theKindAloneTakesItsDefaultKnobForTheServersInterval() throws {
        let s = try Self.scenario(server: "{ builtin: socketio, pingInterval: 5s, detector: chen }",
                                  clients: "{ builtin: socketio, detector: adaptive }")
        #expect(Self.serverDetector(s) == DetectorChoice(kind: .chen, knob: 5), "Chen's margin defaults to one interval")
        #expect(Self.clientDetector(s) == DetectorChoice(kind: .adaptive, knob: 3600))
        let plain = try Self.scenario()
        #expect(Self.serverDetector(plain) == nil)
        #expect(Self.clientDetector(plain) == nil)
    }

    @Test func aMappingGivesTheKnobInTheKindsUnit() throws {
        let s = try Self.scenario(server: "{ builtin: socketio, detector: { kind: phi, threshold: 12.5 } }",
                                  clients: "{ builtin: socketio, detector: { kind: adaptive, price: 30m } }")
        #expect(Self.serverDetector(s) == DetectorChoice(kind: .phi, knob: 12.5))
        #expect(Self.clientDetector(s) == DetectorChoice(kind: .adaptive, knob: 1800))
        let k = try Self.scenario(server: "{ builtin: socketio, detector: { kind: jacobson-karels, k: 8 } }")
        #expect(Self.serverDetector(k) == DetectorChoice(kind: .jacobsonKarels, knob: 8))
    }

    @Test func overridesSetTheDetector() throws {
        let yaml = "name: d\nduration: 10m\nserver: { builtin: socketio }\nclients: { builtin: socketio, detector: { kind: adaptive } }\n"
        let s = try Scenario.parse(yaml: yaml, source: "d.yaml")
            .applying(overrides: ["server.detector=bertier", "clients.detector.price=2h"])
        #expect(Self.serverDetector(s) == DetectorChoice(kind: .bertier, knob: 4))
        #expect(Self.clientDetector(s) == DetectorChoice(kind: .adaptive, knob: 7200))
    }

    @Test func badDetectorsAreErrorsThatNameThePlace() {
        #expect(Self.error(server: "{ builtin: socketio, detector: phy }")
                == "d.yaml:3:40: server.detector: unknown detector kind 'phy' (did you mean 'phi'?); expected one of fixed, jacobson-karels, phi, chen, bertier, adaptive")
        #expect(Self.error(server: "{ builtin: socketio, detector: { kind: phi, price: 1h } }")
                == "d.yaml:3:53: server.detector: unknown field 'price'; expected one of kind, threshold")
        #expect(Self.error(clients: "{ builtin: socketio, detector: { kind: phi, threshold: -2 } }")
                == "d.yaml:4:65: clients.detector.threshold: phi threshold -2.0: must be a finite number > 0")
        #expect(Self.error(clients: "{ builtin: socketio, detector: { kind: adaptive, price: fast } }") 
                == #"d.yaml:4:66: clients.detector.price: 'fast' is not a duration: it must start with a number; expected a number with a unit (ns, us, ms, s, m, h), e.g. "250ms""#)
        #expect(Self.error(server: "{ builtin: socketio, detector: { threshold: 3 } }")
                == "d.yaml:3:40: server.detector: missing 'kind': one of fixed, jacobson-karels, phi, chen, bertier, adaptive")
        #expect(Self.error(server: "{ builtin: socketio, detector: [phi] }") 
                == "d.yaml:3:40: server.detector: expected a detector kind, or a mapping with kind and its knob, got a list")
    }
}

/// `stack:` on the built-in clients: whose detection semantics they keep.
@Suite struct ScenarioClientStackTests {
    @Test func theClientsStackIsReadAndCheckedAgainstTheKnownOnes() throws {
        let s = try ScenarioDetectorTests.scenario(clients: "{ builtin: socketio, stack: python-socketio }")
        guard case .socketIO(let settings) = s.clients.component else { Issue.record("not built in"); return }
        #expect(settings.stack == "python-socketio")
        let plain = try ScenarioDetectorTests.scenario(clients: "{ builtin: socketio, stack: socketio-js }")
        guard case .socketIO(let js) = plain.clients.component else { Issue.record("not built in"); return }
        #expect(js.stack == nil, "socketio-js is the default")
        #expect(ScenarioDetectorTests.error(clients: "{ builtin: socketio, stack: websockets }")
                == "d.yaml:4:38: clients.stack: unknown stack 'websockets'; expected one of socketio-js, python-socketio")
    }
}
