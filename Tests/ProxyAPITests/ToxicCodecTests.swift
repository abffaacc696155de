import FaultProxy
import LabCore
import Testing
@testable import ProxyAPI

/// Attribute parsing of every toxic type, Toxiproxy's and Flatline's, and their validation errors.
@Suite struct ToxicCodecTests {
    func parse(_ json: String) throws -> ToxicDraft {
        try ToxicCodec.parseNew(try JSONValue.parse(Array(json.utf8)))
    }

    /// The 400 message for a toxic body that must be refused.
    func rejection(_ json: String) -> String? {
        do {
            _ = try parse(json)
            return nil
        } catch let error as APIError {
            #expect(error.status == 400 || error.status == 409)
            return error.message
        } catch {
            return "\(error)"
        }
    }

    func condition(_ type: String, _ attributes: String) throws -> Condition {
        try parse(#"{"type": "\#(type)", "attributes": \#(attributes)}"#).toxic.condition
    }

    // MARK: Wrapper fields

    @Test func defaultsFollowToxiproxy() throws {
        let draft = try parse(#"{"type": "latency", "attributes": {"latency": 100}}"#)
        #expect(draft.toxic.name == "latency_downstream")
        #expect(draft.toxic.stream == .downstream)
        #expect(draft.toxic.toxicity == 1)
        #expect(draft.toxic.type == "latency")
        #expect(draft.toxic.connection == nil)
        let up = try parse(#"{"type": "latency", "stream": "UPSTREAM", "toxicity": 0.25, "name": "slow", "connection": 42}"#)
        #expect(up.toxic.name == "slow")
        #expect(up.toxic.stream == .upstream)
        #expect(up.toxic.toxicity == 0.25)
        #expect(up.toxic.connection == 42)
        #expect(try parse(#"{"type": "timeout", "stream": "upstream"}"#).toxic.name == "timeout_upstream")
    }

    @Test func wrapperErrors() {
        #expect(rejection(#"{"type": "gauss"}"#)?.hasPrefix("type: unknown toxic type 'gauss'; expected one of latency, bandwidth") == true)
        #expect(rejection(#"{"attributes": {}}"#) == "missing required field: type")
        #expect(rejection(#"{"type": "latency", "stream": "sideways"}"#) == "stream: 'sideways' is invalid, can be either upstream or downstream")
        #expect(rejection(#"{"type": "latency", "toxicity": 1.5}"#) == "toxicity: must be in [0, 1], got 1.5")
        #expect(rejection(#"{"type": "latency", "toxicity": -0.1}"#) == "toxicity: must be in [0, 1], got -0.1")
        #expect(rejection(#"{"type": "latency", "toxicity": "1"}"#) == "toxicity: expected a number, got string")
        #expect(rejection(#"{"type": 5}"#) == "type: expected a string, got number")
        #expect(rejection(#"{"type": "latency", "attributes": [1]}"#) == "attributes: expected an object, got array")
        #expect(rejection(#"{"type": "latency", "connection": -1}"#)?.hasPrefix("connection: must be a connection id") == true)
        #expect(rejection(#"{"type": "latency", "connection": "abc"}"#) == "connection: expected an integer, got string")
        #expect(rejection(#"[1, 2]"#) == "bad request body: expected a JSON object, got array")
    }

    @Test func unknownAttributesListTheKnownOnes() {
        #expect(rejection(#"{"type": "latency", "attributes": {"latncy": 5}}"#)
            == "attributes.latncy: unknown attribute for latency; known: latency, jitter, distribution, correlation")
        #expect(rejection(#"{"type": "bandwidth", "attributes": {"rate": 1, "burst": 2}}"#)
            == "attributes.burst: unknown attribute for bandwidth; known: rate")
    }

    // MARK: Toxiproxy's types

    @Test func latency() throws {
        let c = try condition("latency", #"{"latency": 100, "jitter": 10}"#)
        #expect(c == .latency(LatencyCondition(latency: .milliseconds(100), jitter: .milliseconds(10))))
        #expect(try condition("latency", #"{"latency": 0.5}"#) == .latency(LatencyCondition(latency: .microseconds(500))))
        #expect(rejection(#"{"type": "latency", "attributes": {"latency": "100"}}"#) == "attributes.latency: expected a number, got string")
        #expect(rejection(#"{"type": "latency", "attributes": {"latency": -5}}"#) == "attributes.latency: must be >= 0, got -5")
        #expect(rejection(#"{"type": "latency", "attributes": {"jitter": true}}"#) == "attributes.jitter: expected a number, got boolean")
        #expect(rejection(#"{"type": "latency", "attributes": {"latency": 1e300}}"#)?.hasPrefix("attributes.latency: too large") == true)
    }

    @Test func latencyDistributionsAreMillisecondsStoredAsNanoseconds() throws {
        func distribution(_ json: String) throws -> (Distribution?, Double) {
            guard case .latency(let l) = try condition("latency", json) else { return (nil, 0) }
            return (l.distribution, l.correlation)
        }
        let (lognormal, rho) = try distribution(#"{"distribution": {"type": "lognormal", "median": 40, "p99": 180}, "correlation": 0.5}"#)
        #expect(rho == 0.5)
        #expect(abs(lognormal!.quantile(0.5) - 40e6) < 1)
        #expect(abs(lognormal!.quantile(0.99) - 180e6) < 10)
        #expect(try distribution(#"{"distribution": {"type": "normal", "mean": 20, "stddev": 5}}"#).0
            == .normal(mean: 20e6, standardDeviation: 5e6))
        #expect(try distribution(#"{"distribution": {"type": "uniform", "lower": 1, "upper": 3}}"#).0
            == .uniform(lower: 1e6, upper: 3e6))
        #expect(try distribution(#"{"distribution": {"type": "pareto", "scale": 2, "shape": 3}}"#).0
            == .pareto(scale: 2e6, shape: 3))
        #expect(try distribution(#"{"distribution": {"type": "paretonormal", "mean": 10, "stddev": 2}}"#).0
            == .paretoNormal(mean: 10e6, standardDeviation: 2e6))
        #expect(try distribution(#"{"distribution": {"type": "constant", "value": 7}}"#).0 == .constant(7e6))
        let empirical = try distribution(#"{"distribution": {"type": "empirical", "samples": [3, 1, 2]}}"#).0
        #expect(empirical == .empirical(try EmpiricalSamples([1e6, 2e6, 3e6])))
    }

    @Test func latencyDistributionErrors() {
        func message(_ d: String, _ extra: String = "") -> String? {
            rejection(#"{"type": "latency", "attributes": {"distribution": \#(d)\#(extra)}}"#)
        }
        #expect(message(#"{"type": "gauss"}"#)?.hasPrefix("attributes.distribution.type: unknown distribution 'gauss'; expected one of lognormal") == true)
        #expect(message(#"{"median": 4}"#) == "missing required field: attributes.distribution.type")
        #expect(message(#"{"type": "lognormal", "median": 40}"#) == "missing required field: attributes.distribution.p99")
        #expect(message(#"{"type": "lognormal", "median": 40, "p99": 30}"#) == "attributes.distribution.p99: must be > median (40), got 30")
        #expect(message(#"{"type": "lognormal", "median": 0, "p99": 30}"#) == "attributes.distribution.median: must be > 0, got 0")
        #expect(message(#"{"type": "normal", "mean": 1, "stddev": -1}"#) == "attributes.distribution.stddev: must be >= 0, got -1")
        #expect(message(#"{"type": "uniform", "lower": 3, "upper": 1}"#) == "attributes.distribution.upper: must be >= lower (3), got 1")
        #expect(message(#"{"type": "pareto", "scale": 1, "shape": 0}"#) == "attributes.distribution.shape: must be > 0, got 0")
        #expect(message(#"{"type": "pareto", "scale": 1, "shape": 0.001}"#)?.contains("extreme draws exceed") == true)
        #expect(message(#"{"type": "uniform", "lower": -1e300, "upper": 1}"#)?.contains("extreme draws exceed") == true)
        #expect(message(#"{"type": "normal", "mean": 1e200, "stddev": 1}"#)?.contains("extreme draws exceed") == true)
        #expect(message(#"{"type": "empirical", "samples": []}"#) == "attributes.distribution.samples: must not be empty")
        #expect(message(#"{"type": "empirical", "samples": [1, "x"]}"#) == "attributes.distribution.samples[1]: expected a number, got string")
        #expect(message(#"{"type": "constant", "value": 1, "sigma": 2}"#)
            == "attributes.distribution.sigma: unknown attribute for distribution constant; known: type, value")
        #expect(message(#"{"type": "constant", "value": 1}"#, #", "correlation": 1"#) == "attributes.correlation: must be in [0, 1), got 1")
        #expect(rejection(#"{"type": "latency", "attributes": {"correlation": 0.5}}"#) == "attributes.correlation: needs a distribution to correlate")
        #expect(message(#""lognormal""#) == "attributes.distribution: expected an object, got string")
    }

    @Test func bandwidthIsKilobytesPerSecond() throws {
        #expect(try condition("bandwidth", #"{"rate": 100}"#) == .bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 100_000))))
        #expect(rejection(#"{"type": "bandwidth", "attributes": {"rate": -1}}"#) == "attributes.rate: must be >= 0, got -1")
        // Toxiproxy's rate 0 (also its default) holds the data (toxics/bandwidth.go).
        let held = Condition.bandwidth(BandwidthCondition(rate: ByteRate(bytesPerSecond: 0)))
        #expect(try condition("bandwidth", #"{"rate": 0}"#) == held)
        #expect(try condition("bandwidth", "{}") == held)
        #expect(held.touchesData)
        #expect(ToxicCodec.derivedAttributes(held, type: "bandwidth")["rate"] == .integer(0))
        #expect(ToxicCodec.derivedAttributes(.bandwidth(BandwidthCondition(rate: .unlimited)), type: "bandwidth")["rate"] == .integer(0))
        #expect(!Condition.bandwidth(BandwidthCondition(rate: .unlimited)).touchesData)
    }

    @Test func slowClose() throws {
        #expect(try condition("slow_close", #"{"delay": 250}"#) == .slowClose(SlowCloseCondition(delay: .milliseconds(250))))
        #expect(rejection(#"{"type": "slow_close", "attributes": {"delay": [1]}}"#) == "attributes.delay: expected a number, got array")
    }

    @Test func timeoutIsABlackholeThatMayClose() throws {
        #expect(try condition("timeout", #"{"timeout": 0}"#) == .blackhole(BlackholeCondition(closeAfter: nil)))
        #expect(try condition("timeout", #"{}"#) == .blackhole(BlackholeCondition(closeAfter: nil)))
        #expect(try condition("timeout", #"{"timeout": 1500}"#) == .blackhole(BlackholeCondition(closeAfter: .milliseconds(1500))))
        #expect(rejection(#"{"type": "timeout", "attributes": {"timeout": -1}}"#) == "attributes.timeout: must be >= 0, got -1")
    }

    @Test func resetPeer() throws {
        #expect(try condition("reset_peer", #"{"timeout": 20}"#) == .reset(ResetCondition(after: .milliseconds(20))))
        #expect(try condition("reset_peer", #"{}"#) == .reset(ResetCondition(after: .zero)))
        #expect(rejection(#"{"type": "reset_peer", "attributes": {"timeout": null, "after": 1}}"#)
            == "attributes.after: unknown attribute for reset_peer; known: timeout")
    }

    @Test func slicerDelayIsMicroseconds() throws {
        #expect(try condition("slicer", #"{"average_size": 64, "size_variation": 32, "delay": 10}"#)
            == .slicer(SlicerCondition(averageSize: 64, sizeVariation: 32, delay: .microseconds(10))))
        #expect(rejection(#"{"type": "slicer", "attributes": {"average_size": 0}}"#) == "attributes.average_size: must be > 0, got 0")
        #expect(rejection(#"{"type": "slicer", "attributes": {}}"#) == "attributes.average_size: must be > 0, got 0")
        #expect(rejection(#"{"type": "slicer", "attributes": {"average_size": 1.5}}"#) == "attributes.average_size: expected an integer, got 1.5")
        #expect(rejection(#"{"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}}"#)?
            .hasPrefix("attributes.size_variation: must be >= 0 and less than average_size") == true)
        #expect(rejection(#"{"type": "slicer", "attributes": {"average_size": 10, "size_variation": -1}}"#)
            == "attributes.size_variation: must be >= 0, got -1")
    }

    @Test func limitData() throws {
        #expect(try condition("limit_data", #"{"bytes": 1024}"#) == .limitData(LimitDataCondition(bytes: 1024)))
        #expect(try condition("limit_data", #"{"bytes": 2048.0}"#) == .limitData(LimitDataCondition(bytes: 2048)))
        #expect(rejection(#"{"type": "limit_data", "attributes": {"bytes": -3}}"#) == "attributes.bytes: must be >= 0, got -3")
    }

    // MARK: Flatline's types

    @Test func stall() throws {
        #expect(try condition("stall", #"{}"#) == .stall(StallCondition(duration: nil)))
        #expect(try condition("stall", #"{"duration": 0}"#) == .stall(StallCondition(duration: nil)))
        #expect(try condition("stall", #"{"duration": 8000}"#) == .stall(StallCondition(duration: .seconds(8))))
        #expect(rejection(#"{"type": "stall", "attributes": {"duration": "8s"}}"#) == "attributes.duration: expected a number, got string")
    }

    @Test func blackhole() throws {
        #expect(try condition("blackhole", #"{}"#) == .blackhole(BlackholeCondition(closeAfter: nil)))
        #expect(try condition("blackhole", #"{"timeout": 30000}"#) == .blackhole(BlackholeCondition(closeAfter: .seconds(30))))
        #expect(rejection(#"{"type": "blackhole", "attributes": {"timeout": -30}}"#) == "attributes.timeout: must be >= 0, got -30")
    }

    @Test func lossModels() throws {
        #expect(try condition("loss", #"{"probability": 0.02}"#) == .loss(LossCondition(model: .bernoulli(probability: 0.02))))
        #expect(try condition("loss", #"{"model": "gilbert_elliott", "p": 0.02, "r": 0.3}"#)
            == .loss(LossCondition(model: .gilbertElliott(p: 0.02, r: 0.3, lossInBad: 1, lossInGood: 0))))
        #expect(try condition("loss", #"{"model": "gilbert_elliott", "p": 0.1, "r": 0.5, "loss_in_bad": 0.8, "loss_in_good": 0.01}"#)
            == .loss(LossCondition(model: .gilbertElliott(p: 0.1, r: 0.5, lossInBad: 0.8, lossInGood: 0.01))))
        #expect(try condition("loss", #"{"model": "4state", "p13": 0.1, "p31": 0.7, "p32": 0.1, "p23": 0.5, "p14": 0.01}"#)
            == .loss(LossCondition(model: .fourState(p13: 0.1, p31: 0.7, p32: 0.1, p23: 0.5, p14: 0.01))))
        #expect(try condition("loss", #"{"model": "4state", "p13": 0.25}"#)
            == .loss(LossCondition(model: .fourState(p13: 0.25, p31: 0.75, p32: 0, p23: 1, p14: 0))))
        let tuned = try condition("loss", #"{"probability": 0.1, "segment_size": 536, "rto": 300}"#)
        #expect(tuned == .loss(LossCondition(model: .bernoulli(probability: 0.1), segmentSize: 536, initialRTO: .milliseconds(300))))
    }

    @Test func lossErrors() {
        func message(_ attributes: String) -> String? { rejection(#"{"type": "loss", "attributes": \#(attributes)}"#) }
        #expect(message(#"{}"#) == "missing required field: attributes.probability")
        #expect(message(#"{"probability": 1.5}"#) == "attributes.probability: must be in [0, 1], got 1.5")
        #expect(message(#"{"model": "netem"}"#) == "attributes.model: unknown loss model 'netem'; expected one of bernoulli, gilbert_elliott, 4state")
        #expect(message(#"{"model": "gilbert_elliott", "p": 0.1}"#) == "missing required field: attributes.r")
        #expect(message(#"{"model": "gilbert_elliott", "p": 0.1, "r": 0.2, "probability": 0.1}"#)?
            .hasPrefix("attributes.probability: not used by loss model gilbert_elliott") == true)
        #expect(message(#"{"model": "4state", "p13": 0.6, "p14": 0.6}"#)?.hasPrefix("attributes.model: p13 + p14 must be <= 1") == true)
        #expect(message(#"{"probability": 0.1, "segment_size": 0}"#)?.hasPrefix("attributes.segment_size: must be in 1...") == true)
        #expect(message(#"{"probability": 0.1, "rto": 0}"#) == "attributes.rto: must be > 0")
        #expect(message(#"{"probability": 0.1, "rto": 500, "max_rto": 100}"#) == "attributes.max_rto: must be >= rto (500 ms)")
    }

    @Test func idleTimeout() throws {
        #expect(try condition("idle_timeout", #"{"timeout": 60000}"#) == .idleTimeout(IdleTimeoutCondition(after: .seconds(60), action: .close)))
        #expect(try condition("idle_timeout", #"{"timeout": 55000, "action": "blackhole"}"#)
            == .idleTimeout(IdleTimeoutCondition(after: .seconds(55), action: .blackhole)))
        #expect(rejection(#"{"type": "idle_timeout", "attributes": {}}"#) == "missing required field: attributes.timeout")
        #expect(rejection(#"{"type": "idle_timeout", "attributes": {"timeout": 0}}"#) == "attributes.timeout: must be > 0")
        #expect(rejection(#"{"type": "idle_timeout", "attributes": {"timeout": 5, "action": "drop"}}"#)
            == "attributes.action: unknown action 'drop'; expected one of close, reset, blackhole")
    }

    @Test func slowConnect() throws {
        #expect(try condition("slow_connect", #"{"delay": 3000}"#) == .slowConnect(SlowConnectCondition(delay: .seconds(3))))
        #expect(rejection(#"{"type": "slow_connect", "attributes": {"delay": -3000}}"#) == "attributes.delay: must be >= 0, got -3000")
    }

    // MARK: Rendering and merging

    @Test func responsesEchoTheClientsUnitsAndToxiproxysDefaults() throws {
        let draft = try parse(#"{"type": "latency", "attributes": {"latency": 100, "distribution": {"type": "lognormal", "median": 40, "p99": 180}}}"#)
        let json = ToxicCodec.render(draft.toxic, attributes: draft.attributes)
        #expect(String(decoding: json.serialized, as: UTF8.self)
            == #"{"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":100,"jitter":0,"distribution":{"median":40,"p99":180,"type":"lognormal"}}}"#)
    }

    @Test func derivedAttributesRoundTrip() throws {
        let bodies = [
            #"{"type": "latency", "attributes": {"latency": 100, "jitter": 5, "distribution": {"type": "lognormal", "median": 40, "p99": 180}, "correlation": 0.3}}"#,
            #"{"type": "bandwidth", "attributes": {"rate": 64}}"#,
            #"{"type": "slicer", "attributes": {"average_size": 10, "size_variation": 3, "delay": 7}}"#,
            #"{"type": "loss", "attributes": {"model": "gilbert_elliott", "p": 0.1, "r": 0.4}}"#,
            #"{"type": "idle_timeout", "attributes": {"timeout": 100, "action": "reset"}}"#,
            #"{"type": "timeout", "attributes": {"timeout": 100}}"#,
            #"{"type": "stall", "attributes": {"duration": 100}}"#,
        ]
        for body in bodies {
            let draft = try parse(body)
            let derived = ToxicCodec.derivedAttributes(draft.toxic.condition, type: draft.toxic.type)
            let again = try ToxicKind.named(draft.toxic.type)!.condition(from: derived)
            if case .latency(let a) = again, case .latency(let b) = draft.toxic.condition {
                #expect(a.latency == b.latency && a.jitter == b.jitter && a.correlation == b.correlation)
                #expect(abs(a.distribution!.quantile(0.99) - b.distribution!.quantile(0.99)) < 1)
            } else {
                #expect(again == draft.toxic.condition, "\(body)")
            }
        }
    }

    @Test func patchMergesAttributesAndToxicity() throws {
        let draft = try parse(#"{"type": "latency", "attributes": {"latency": 100, "jitter": 10}}"#)
        let merged = try ToxicCodec.merge(try JSONValue.parse(Array(#"{"attributes": {"jitter": 20}, "toxicity": 0.5}"#.utf8)), into: draft)
        #expect(merged.toxic.condition == .latency(LatencyCondition(latency: .milliseconds(100), jitter: .milliseconds(20))))
        #expect(merged.toxic.toxicity == 0.5)
        #expect(merged.toxic.name == "latency_downstream")
        let cleared = try ToxicCodec.merge(try JSONValue.parse(Array(#"{"attributes": {"jitter": null}}"#.utf8)), into: merged)
        #expect(cleared.toxic.condition == .latency(LatencyCondition(latency: .milliseconds(100))))
        #expect(cleared.toxic.toxicity == 0.5)
        #expect(throws: APIError.self) {
            try ToxicCodec.merge(try JSONValue.parse(Array(#"{"attributes": {"latency": -1}}"#.utf8)), into: draft)
        }
    }
}
