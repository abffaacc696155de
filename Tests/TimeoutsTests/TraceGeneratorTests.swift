import LabCore
import Testing
import Timeouts

@Suite struct TraceGeneratorTests {
    private let generator = TraceGenerator(period: .seconds(1), duration: .seconds(3600), seed: 42)

    private func gaps(_ trace: ArrivalTrace) -> [Double] {
        zip(trace.arrivals.dropFirst(), trace.arrivals).map { ($0 - $1).seconds }
    }

    @Test func theSameSeedGivesTheSameTraceAndAnotherSeedAnother() {
        for condition in TraceGenerator.Condition.allCases {
            #expect(generator.trace(condition) == generator.trace(condition), "\(condition)")
            var other = generator
            other.seed = 43
            #expect(other.trace(condition).arrivals != generator.trace(condition).arrivals, "\(condition)")
        }
    }

    @Test func everyConditionShowsItsSignature() {
        let jitter = gaps(generator.trace(.lognormalJitter))
        #expect(jitter.count == 3599)
        #expect(jitter.allSatisfy { $0 >= 0 })
        let lost = generator.trace(.gilbertElliott)
        #expect(lost.arrivals.count < 3600 * 99 / 100, "bursts of loss: \(lost.arrivals.count)")
        #expect(gaps(lost).contains { $0 > 2.5 }, "a burst loses several in a row")
        let stalls = gaps(generator.trace(.stalls))
        let long = stalls.filter { $0 > 1.9 }.count
        #expect(long >= 2 && long <= 20, "about 6 stalls an hour: \(long)")
        #expect(stalls.filter { $0 < 0.01 }.count > 5, "what a stall held arrives at once")
        let bloat = generator.trace(.bufferbloat)
        let delays = bloat.arrivals.enumerated().map { ($1 - (.zero + .seconds(Double($0)))).seconds }
        #expect(delays.min()! < 0.03 && delays.max()! > 0.3, "ramps from 20 ms to hundreds: \(delays.max()!)")
        let heavy = gaps(generator.trace(.heavyTail))
        #expect(heavy.max()! > 1.5, "a heavy tail: \(heavy.max()!)")
        let pauses = gaps(generator.trace(.periodicPauses)).filter { $0 > 1.15 }.count
        #expect(pauses >= 40 && pauses <= 75, "about one pause a minute: \(pauses)")
    }
}
