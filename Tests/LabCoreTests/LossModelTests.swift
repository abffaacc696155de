import LabCore
import Testing

/// Long-run state occupancy of a Markov chain from `start`: the Cesàro average of the state
/// distribution over `steps` steps (converges for reducible and periodic chains too). Independent of
/// the closed forms in `LossModel.stationaryLossRate`.
private func longRunOccupancy(_ matrix: [[Double]], start: Int, steps: Int) -> [Double] {
    var distribution = [Double](repeating: 0, count: matrix.count)
    distribution[start] = 1
    var total = [Double](repeating: 0, count: matrix.count)
    for _ in 0..<steps {
        var next = [Double](repeating: 0, count: matrix.count)
        for i in matrix.indices where distribution[i] != 0 {
            for j in matrix.indices { next[j] += distribution[i] * matrix[i][j] }
        }
        distribution = next
        for j in total.indices { total[j] += distribution[j] }
    }
    return total.map { $0 / Double(steps) }
}

/// The fraction of `packets` packets the process loses.
private func simulatedLossRate(_ model: LossModel, seed: UInt64, packets: Int) -> Double {
    var process = LossProcess(model: model)
    var rng = SeededGenerator(seed: seed)
    var lost = 0
    for _ in 0..<packets where process.isLost(using: &rng) { lost += 1 }
    return Double(lost) / Double(packets)
}

/// The first `count` loss decisions of a fresh process.
private func lossPattern(_ model: LossModel, count: Int) -> [Bool] {
    var process = LossProcess(model: model)
    var rng = SeededGenerator(seed: 1)
    return (0..<count).map { _ in process.isLost(using: &rng) }
}

@Suite("LossModel")
struct LossModelTests {
    @Test("none never loses and draws nothing")
    func none() {
        var process = LossProcess(model: .none)
        var rng = SeededGenerator(seed: 1)
        let before = rng
        #expect((0..<1000).allSatisfy { _ in !process.isLost(using: &rng) })
        #expect(rng == before)
        #expect(LossModel.none.stationaryLossRate == 0)
    }

    @Test("bernoulli long-run rate")
    func bernoulliRate() {
        // sd of the rate: sqrt(0.09 / 200_000) ≈ 0.00067.
        let rate = simulatedLossRate(.bernoulli(probability: 0.1), seed: 11, packets: 200_000)
        #expect(abs(rate - 0.1) < 0.004)
        #expect(LossModel.bernoulli(probability: 0.1).stationaryLossRate == 0.1)
        #expect(lossPattern(.bernoulli(probability: 0), count: 1000).allSatisfy { !$0 })
        #expect(lossPattern(.bernoulli(probability: 1), count: 1000).allSatisfy { $0 })
    }

    @Test("Gilbert–Elliott long-run rate matches stationaryLossRate")
    func gilbertElliottRate() {
        let model = LossModel.gilbertElliott(p: 0.01, r: 0.25, lossInBad: 0.9, lossInGood: 0.002)
        let expected = 0.01 / 0.26 * 0.9 + 0.25 / 0.26 * 0.002
        #expect(abs(model.stationaryLossRate - expected) < 1e-15)
        // Markov-correlated: sd ≈ sqrt(π(1-π)·(1+λ)/(1-λ)/n) with λ = 1-p-r ≈ 0.0005 at n = 1e6.
        let rate = simulatedLossRate(model, seed: 12, packets: 1_000_000)
        #expect(abs(rate - expected) < 0.0025, "rate = \(rate)")
    }

    @Test("Gilbert (lossInBad 1, lossInGood 0): loss bursts last 1/r packets on average")
    func gilbertBurstLength() {
        let p = 0.01
        let r = 0.25
        var process = LossProcess(model: .gilbertElliott(p: p, r: r, lossInBad: 1, lossInGood: 0))
        var rng = SeededGenerator(seed: 13)
        var bursts = 0
        var lostPackets = 0
        var previous = false
        let packets = 1_000_000
        for _ in 0..<packets {
            let lost = process.isLost(using: &rng)
            if lost {
                lostPackets += 1
                if !previous { bursts += 1 }
            }
            previous = lost
        }
        // ~9,600 geometric bursts of mean 4 (sd 3.5): se of the mean ≈ 0.036.
        let meanBurst = Double(lostPackets) / Double(bursts)
        #expect(abs(meanBurst - 1 / r) < 0.15, "mean burst = \(meanBurst)")
        #expect(abs(Double(lostPackets) / Double(packets) - p / (p + r)) < 0.003)
    }

    @Test("Gilbert–Elliott decides loss by the state the packet finds (netem loss_gilb_ell)")
    func gilbertElliottSemantics() {
        // Always switch state; lose everything in bad, nothing in good. Starting in good, the first
        // packet is received (it found good), the second lost, and so on.
        let pattern = lossPattern(.gilbertElliott(p: 1, r: 1, lossInBad: 1, lossInGood: 0), count: 6)
        #expect(pattern == [false, true, false, true, false, true])
        // Never leaving good: only lossInGood applies.
        #expect(lossPattern(.gilbertElliott(p: 0, r: 1, lossInBad: 1, lossInGood: 0), count: 100).allSatisfy { !$0 })
    }

    @Test("4-state loses on entering states 3 and 4 (netem loss_4state)")
    func fourStateSemantics() {
        // 1 -> 3 (lost) -> 1 (received) -> ...
        #expect(lossPattern(.fourState(p13: 1, p31: 1, p32: 0, p23: 0, p14: 0), count: 6)
            == [true, false, true, false, true, false])
        // 1 -> 4 (isolated loss) -> 1 (always) -> ...
        #expect(lossPattern(.fourState(p13: 0, p31: 0, p32: 0, p23: 0, p14: 1), count: 4)
            == [true, false, true, false])
        // 1 -> 3 (lost) -> 2 (received in burst) -> 3 (lost) -> 2 ...
        #expect(lossPattern(.fourState(p13: 1, p31: 0, p32: 1, p23: 1, p14: 0), count: 5)
            == [true, false, true, false, true])
        // 1 -> 3, then stay in 3: every packet lost.
        #expect(lossPattern(.fourState(p13: 1, p31: 0, p32: 0, p23: 0, p14: 0), count: 50).allSatisfy { $0 })
    }

    @Test("4-state long-run rate matches stationaryLossRate")
    func fourStateRate() {
        let model = LossModel.fourState(p13: 0.02, p31: 0.3, p32: 0.1, p23: 0.4, p14: 0.01)
        let w3 = 0.02 / 0.3
        let w2 = w3 * 0.1 / 0.4
        let expected = (w3 + 0.01) / (1 + w2 + w3 + 0.01)
        #expect(abs(model.stationaryLossRate - expected) < 1e-15)
        let rate = simulatedLossRate(model, seed: 14, packets: 1_000_000)
        #expect(abs(rate - expected) < 0.003, "rate = \(rate), expected \(expected)")
    }

    @Test("4-state stationaryLossRate agrees with the chain's long-run occupancy", arguments: [
        (0.02, 0.3, 0.1, 0.4, 0.01),
        (0.05, 0.5, 0.0, 0.0, 0.02),   // state 2 unreachable
        (0.0, 0.3, 0.1, 0.4, 0.05),    // only isolated losses
        (0.1, 0.0, 0.2, 0.3, 0.05),    // never back to the gap: burst-only chain
        (0.1, 0.0, 0.0, 0.3, 0.05),    // absorbed losing in state 3
        (0.1, 0.3, 0.2, 0.0, 0.05),    // absorbed receiving in state 2
        (1.0, 1.0, 0.0, 0.0, 0.0),     // periodic
        (0.0, 0.0, 0.0, 0.0, 0.0),
    ])
    func fourStateAgainstOccupancy(p13: Double, p31: Double, p32: Double, p23: Double, p14: Double) throws {
        let model = LossModel.fourState(p13: p13, p31: p31, p32: p32, p23: p23, p14: p14)
        try model.validate()
        // States 0...3 are the paper's 1...4; a packet is lost when the chain enters 3 or 4.
        let matrix: [[Double]] = [
            [1 - p13 - p14, 0, p13, p14],
            [0, 1 - p23, p23, 0],
            [p31, p32, 1 - p31 - p32, 0],
            [1, 0, 0, 0],
        ]
        let occupancy = longRunOccupancy(matrix, start: 0, steps: 20_000)
        #expect(abs(model.stationaryLossRate - (occupancy[2] + occupancy[3])) < 1e-3)
    }

    @Test("Gilbert–Elliott stationaryLossRate agrees with the chain's long-run occupancy", arguments: [
        (0.01, 0.25, 0.9, 0.002),
        (0.3, 0.0, 0.7, 0.1),   // absorbed in bad
        (0.0, 0.5, 1.0, 0.03),  // never leaves good
        (1.0, 1.0, 1.0, 0.0),   // periodic
    ])
    func gilbertElliottAgainstOccupancy(p: Double, r: Double, lossInBad: Double, lossInGood: Double) {
        let model = LossModel.gilbertElliott(p: p, r: r, lossInBad: lossInBad, lossInGood: lossInGood)
        let occupancy = longRunOccupancy([[1 - p, p], [r, 1 - r]], start: 0, steps: 20_000)
        let expected = occupancy[0] * lossInGood + occupancy[1] * lossInBad
        #expect(abs(model.stationaryLossRate - expected) < 1e-3)
    }

    @Test("loss decisions are deterministic per seed")
    func deterministic() {
        let model = LossModel.fourState(p13: 0.05, p31: 0.4, p32: 0.2, p23: 0.3, p14: 0.02)
        #expect(lossPattern(model, count: 500) == lossPattern(model, count: 500))
    }

    @Test("validate accepts good models")
    func validateAccepts() throws {
        try LossModel.none.validate()
        try LossModel.bernoulli(probability: 0).validate()
        try LossModel.bernoulli(probability: 1).validate()
        try LossModel.gilbertElliott(p: 0.01, r: 0.3, lossInBad: 1, lossInGood: 0).validate()
        try LossModel.fourState(p13: 0.5, p31: 0.5, p32: 0.5, p23: 1, p14: 0.5).validate()
    }

    @Test("validate rejects probabilities outside [0, 1], naming the parameter", arguments: [
        (LossModel.bernoulli(probability: 1.5), "probability must be in [0, 1], got 1.5"),
        (.bernoulli(probability: -0.1), "probability must be in [0, 1], got -0.1"),
        (.bernoulli(probability: .nan), "probability must be in [0, 1], got nan"),
        (.bernoulli(probability: .infinity), "probability must be in [0, 1], got inf"),
        (.gilbertElliott(p: 2, r: 0.1, lossInBad: 1, lossInGood: 0), "p must be in [0, 1], got 2"),
        (.gilbertElliott(p: 0.1, r: .nan, lossInBad: 1, lossInGood: 0), "r must be in [0, 1], got nan"),
        (.gilbertElliott(p: 0.1, r: 0.1, lossInBad: 1.01, lossInGood: 0), "lossInBad must be in [0, 1], got 1.01"),
        (.gilbertElliott(p: 0.1, r: 0.1, lossInBad: 1, lossInGood: -1), "lossInGood must be in [0, 1], got -1"),
        (.fourState(p13: -0.1, p31: 0, p32: 0, p23: 0, p14: 0), "p13 must be in [0, 1], got -0.1"),
        (.fourState(p13: 0, p31: 1.1, p32: 0, p23: 0, p14: 0), "p31 must be in [0, 1], got 1.1"),
        (.fourState(p13: 0, p31: 0, p32: .nan, p23: 0, p14: 0), "p32 must be in [0, 1], got nan"),
        (.fourState(p13: 0, p31: 0, p32: 0, p23: 7, p14: 0), "p23 must be in [0, 1], got 7"),
        (.fourState(p13: 0, p31: 0, p32: 0, p23: 0, p14: -.infinity), "p14 must be in [0, 1], got -inf"),
        (.fourState(p13: 0.75, p31: 0, p32: 0, p23: 0, p14: 0.5),
         "p13 + p14 must be <= 1 (they leave state 1), got 1.25"),
        (.fourState(p13: 0, p31: 0.75, p32: 0.5, p23: 0, p14: 0),
         "p31 + p32 must be <= 1 (they leave state 3), got 1.25"),
    ])
    func validateRejects(model: LossModel, message: String) {
        #expect(throws: DistributionError(message)) { try model.validate() }
    }
}
