import LabCore
import Testing

@Suite("SeededGenerator")
struct SeededGeneratorTests {
    // Reference values from an independent Python reimplementation (run once):
    //
    //   M = (1 << 64) - 1; G = 0x9E3779B97F4A7C15
    //   def fmix(z):
    //       z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    //       z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    //       return z ^ (z >> 31)
    //   def rotl(x, k): return ((x << k) | (x >> (64 - k))) & M
    //   def state(seed):                    # four splitmix64 outputs
    //       s, out = seed, []
    //       for _ in range(4):
    //           s = (s + G) & M; out.append(fmix(s))
    //       return out
    //   def outputs(st, n):                 # xoshiro256**
    //       s = list(st); r = []
    //       for _ in range(n):
    //           r.append(rotl((s[1] * 5) & M, 7) * 9 & M)
    //           t = (s[1] << 17) & M
    //           s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45)
    //       return r
    //   def key(seed, comps):               # stream derivation
    //       k = seed
    //       for c in comps: k = fmix(((k ^ fmix((c + G) & M)) + G) & M)
    //       return k
    //   print([hex(x) for x in outputs(state(0), 6)])
    //   print([hex(x) for x in outputs(state(42), 3)])
    //   k = key(42, [1, 2, 0]); print(hex(k), [hex(x) for x in outputs(state(k), 3)])
    //
    // state(0) is the well-known splitmix64(0) sequence 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, ...

    @Test("xoshiro256** known answers, seed 0")
    func knownAnswersSeedZero() {
        var rng = SeededGenerator(seed: 0)
        let expected: [UInt64] = [
            0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0,
            0x6AA5_94F1_262D_2D2C, 0xBBA5_AD4A_1F84_2E59, 0xFFEF_8375_D9EB_CACA,
        ]
        #expect((0..<6).map { _ in rng.next() } == expected)
    }

    @Test("xoshiro256** known answers, seed 42")
    func knownAnswersSeed42() {
        var rng = SeededGenerator(seed: 42)
        let expected: [UInt64] = [0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E, 0xAE17_5332_39E4_99A1]
        #expect((0..<3).map { _ in rng.next() } == expected)
    }

    @Test("stream derivation known answer pins the key schedule")
    func derivationKnownAnswer() {
        var rng = SeededGenerator(seed: 42, stream: [1, 2, 0])
        #expect(rng.derivationKey == 0x248D_3B8E_6214_E06D)
        let expected: [UInt64] = [0x46DB_B1AD_AB13_0B9C, 0xB05B_F5AE_8AE4_F003, 0x30E7_1EB6_FC64_DBB3]
        #expect((0..<3).map { _ in rng.next() } == expected)
    }

    @Test("same inputs give the same sequence")
    func sameInputsSameSequence() {
        var a = SeededGenerator(seed: 7, stream: [3, 11, 1])
        var b = SeededGenerator(seed: 7, stream: [3, 11, 1])
        #expect(a == b)
        for _ in 0..<1000 { #expect(a.next() == b.next()) }
    }

    @Test("an empty stream is the plain seed")
    func emptyStreamIsSeed() {
        #expect(SeededGenerator(seed: 99, stream: []) == SeededGenerator(seed: 99))
    }

    @Test("neighbouring connection ids give unrelated streams")
    func differentConnectionsDiffer() {
        let base = SeededGenerator(seed: 7)
        var firstOutputs = Set<UInt64>()
        for connection in UInt64(0)..<200 {
            var rng = base.derived(0, connection, 0)
            firstOutputs.insert(rng.next())
        }
        #expect(firstOutputs.count == 200)

        var one = base.derived(0, 1, 0)
        var two = base.derived(0, 2, 0)
        var equal = 0
        var differingBits = 0
        for _ in 0..<1000 {
            let x = one.next()
            let y = two.next()
            if x == y { equal += 1 }
            differingBits += (x ^ y).nonzeroBitCount
        }
        #expect(equal == 0)
        // Unrelated streams differ in about half of their bits (64_000 bits, sd ~126).
        #expect(abs(Double(differingBits) / 64_000 - 0.5) < 0.01)
        // Direction and order matter too.
        #expect(base.derived(0, 1, 0) != base.derived(0, 1, 1))
        #expect(base.derived(1, 2) != base.derived(2, 1))
        #expect(SeededGenerator(seed: 1, stream: [5]) != SeededGenerator(seed: 2, stream: [5]))
    }

    @Test("derived() does not advance the parent and does not depend on its position")
    func derivedDoesNotAdvance() {
        var parent = SeededGenerator(seed: 123)
        let before = parent
        let child = parent.derived(4, 5)
        #expect(parent == before)
        var reference = before
        #expect(parent.next() == reference.next())

        for _ in 0..<10 { _ = parent.next() }
        #expect(parent.derived(4, 5) == child)
    }

    @Test("derivation composes and matches init(seed:stream:)")
    func derivationComposes() {
        let root = SeededGenerator(seed: 2024)
        #expect(root.derived(1).derived(2) == root.derived(1, 2))
        #expect(root.derived(1, 2) == SeededGenerator(seed: 2024, stream: [1, 2]))
        let run = SeededGenerator(seed: 2024, stream: [3])
        #expect(run.derived(8, 1) == SeededGenerator(seed: 2024, stream: [3, 8, 1]))
    }

    @Test("nextUnit is in [0, 1) with mean 1/2")
    func nextUnitRangeAndMean() {
        var rng = SeededGenerator(seed: 1)
        let n = 100_000
        var sum = 0.0
        var lowest = 1.0
        var highest = 0.0
        var outOfRange = 0
        for _ in 0..<n {
            let u = rng.nextUnit()
            if !(u >= 0 && u < 1) { outOfRange += 1 }
            sum += u
            lowest = min(lowest, u)
            highest = max(highest, u)
        }
        // sd of the mean: sqrt(1/12 / n) ≈ 0.00091.
        #expect(outOfRange == 0)
        #expect(abs(sum / Double(n) - 0.5) < 0.005)
        #expect(lowest < 0.001 && highest > 0.999)
    }

    @Test("nextOpenUnit is in (0, 1) and uniform")
    func nextOpenUnitRange() {
        var rng = SeededGenerator(seed: 2)
        let samples = (0..<20_000).map { _ in rng.nextOpenUnit() }
        #expect(samples.allSatisfy { $0 > 0 && $0 < 1 })
        let d = RandomTestSupport.ksStatistic(samples) { min(max($0, 0), 1) }
        #expect(d < RandomTestSupport.ksCritical1Percent(samples.count))
    }

    @Test("nextNormal has mean 0 and variance 1")
    func nextNormalMoments() {
        var rng = SeededGenerator(seed: 3)
        let samples = (0..<100_000).map { _ in rng.nextNormal() }
        // se(mean) ≈ 0.0032, se(variance) ≈ 0.0045.
        #expect(abs(RandomTestSupport.mean(samples)) < 0.015)
        #expect(abs(RandomTestSupport.variance(samples) - 1) < 0.025)
        let d = RandomTestSupport.ksStatistic(Array(samples.prefix(20_000)), cdf: standardNormalCDF)
        #expect(d < RandomTestSupport.ksCritical1Percent(20_000))
    }

    @Test("works as a RandomNumberGenerator for the standard library")
    func standardLibraryInterop() {
        var a = SeededGenerator(seed: 5)
        var b = SeededGenerator(seed: 5)
        let x = (0..<10).map { _ in Int.random(in: 0..<1000, using: &a) }
        let y = (0..<10).map { _ in Int.random(in: 0..<1000, using: &b) }
        #expect(x == y)
        #expect([1, 2, 3, 4, 5].shuffled(using: &a) == [1, 2, 3, 4, 5].shuffled(using: &b))
    }
}
