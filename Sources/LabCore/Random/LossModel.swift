/// A packet loss model with Linux netem's parameters, so a `tc qdisc … netem loss …` line from a
/// production incident can be replayed as is. All parameters are probabilities in [0, 1].
///
/// The per-packet behaviour (state transitions and which state loses) lives in `LossProcess` and
/// follows the kernel's `sch_netem.c` exactly.
public enum LossModel: Sendable, Hashable {
    /// No packet is lost.
    case none
    /// Each packet is lost independently with `probability` (netem `loss random P`, no correlation).
    case bernoulli(probability: Double)
    /// netem `loss gemodel p r 1-h 1-k`: p = P(good->bad), r = P(bad->good), lossInBad = 1-h, lossInGood = 1-k.
    ///
    /// A two-state Markov chain starting in good. For each packet the loss is decided by the state
    /// the chain is in when the packet arrives, and the chain then moves; so loss bursts last 1/r
    /// packets on average when lossInBad = 1 (Gilbert). lossInBad = 1, lossInGood = 0 is the simple
    /// Gilbert model, lossInGood = 0 the Gilbert model.
    case gilbertElliott(p: Double, r: Double, lossInBad: Double, lossInGood: Double)
    /// netem `loss state p13 p31 p32 p23 p14` (4-state Markov, Salsano et al.)
    ///
    /// States (Salsano, Ludovici & Ordine, "Definition of a general and intuitive loss model for
    /// packet networks and its implementation in the Netem module in the Linux kernel"): 1 = packet
    /// received in a gap period, 2 = received within a burst, 3 = lost within a burst, 4 = isolated
    /// loss in a gap. pij is P(i -> j); the chain starts in 1 and state 4 always returns to 1. A packet
    /// is lost when the chain *enters* (or stays in) state 3 or 4. Requires p13 + p14 <= 1 and
    /// p31 + p32 <= 1. This follows the corrected kernel (states 3/4 as named in the paper, contiguous
    /// probability ranges); older kernels mislabelled states 3 and 4 in some transitions.
    case fourState(p13: Double, p31: Double, p32: Double, p23: Double, p14: Double)

    /// Checks that every parameter is a probability in [0, 1] (and the 4-state sums are <= 1); the
    /// error names the parameter, e.g. "p must be in [0, 1], got 1.5".
    public func validate() throws(DistributionError) {
        switch self {
        case .none:
            break
        case .bernoulli(let probability):
            try requireProbability(probability, "probability")
        case .gilbertElliott(let p, let r, let lossInBad, let lossInGood):
            try requireProbability(p, "p")
            try requireProbability(r, "r")
            try requireProbability(lossInBad, "lossInBad")
            try requireProbability(lossInGood, "lossInGood")
        case .fourState(let p13, let p31, let p32, let p23, let p14):
            try requireProbability(p13, "p13")
            try requireProbability(p31, "p31")
            try requireProbability(p32, "p32")
            try requireProbability(p23, "p23")
            try requireProbability(p14, "p14")
            guard p13 + p14 <= 1 else {
                throw DistributionError(
                    "p13 + p14 must be <= 1 (they leave state 1), got \(formatParameter(p13 + p14))")
            }
            guard p31 + p32 <= 1 else {
                throw DistributionError(
                    "p31 + p32 must be <= 1 (they leave state 3), got \(formatParameter(p31 + p32))")
            }
        }
    }

    /// The long-run fraction of packets lost, starting from the model's initial state (good /
    /// state 1); for an irreducible chain this is the stationary loss probability.
    ///
    /// Degenerate chains are handled by where they end up: e.g. a Gilbert–Elliott chain with r = 0
    /// and p > 0 is eventually always bad. Meaningful only for a model that passes `validate()`.
    public var stationaryLossRate: Double {
        switch self {
        case .none:
            return 0
        case .bernoulli(let probability):
            return probability
        case .gilbertElliott(let p, let r, let lossInBad, let lossInGood):
            if p == 0 { return lossInGood }  // never leaves good
            let bad = p / (p + r)
            return (1 - bad) * lossInGood + bad * lossInBad
        case .fourState(let p13, let p31, let p32, let p23, let p14):
            return Self.fourStateLossRate(p13: p13, p31: p31, p32: p32, p23: p23, p14: p14)
        }
    }

    /// Long-run loss of the 4-state chain from state 1. Balance equations give the weights
    /// π1 = 1, π3 = p13/p31, π2 = π3·p32/p23, π4 = p14; the reducible cases are treated by which
    /// closed class the chain is absorbed into.
    private static func fourStateLossRate(p13: Double, p31: Double, p32: Double, p23: Double, p14: Double) -> Double {
        if p13 == 0 {
            // Only states 1 and 4 are reachable: π1 = 1, π4 = p14.
            return p14 / (1 + p14)
        }
        if p31 == 0 {
            // State 1 is left for good; the chain lives in {2, 3}.
            if p32 == 0 { return 1 }  // stuck losing in 3
            if p23 == 0 { return 0 }  // absorbed in 2, never lost again
            return p23 / (p23 + p32)
        }
        if p32 > 0, p23 == 0 {
            return 0  // state 2 is reachable and absorbing
        }
        let w3 = p13 / p31
        let w2 = p32 == 0 ? 0 : w3 * p32 / p23
        let w4 = p14
        return (w3 + w4) / (1 + w2 + w3 + w4)
    }
}

/// Checks that `value` is a probability in [0, 1] (not NaN), naming `parameter` otherwise.
private func requireProbability(_ value: Double, _ parameter: String) throws(DistributionError) {
    guard value >= 0, value <= 1 else {
        throw DistributionError("\(parameter) must be in [0, 1], got \(formatParameter(value))")
    }
}
