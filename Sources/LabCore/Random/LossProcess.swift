/// The mutable state of a loss model (its current Markov state), kept per link, that decides packet
/// by packet whether the packet is lost.
///
/// Transitions follow `sch_netem.c` (`loss_gilb_ell`, `loss_4state`), including how many uniforms
/// each packet consumes: none for `.none`, one for Bernoulli and 4-state, two for Gilbert–Elliott
/// (one for the transition, one for the loss).
public struct LossProcess: Sendable, Hashable {
    /// The model this process runs.
    public let model: LossModel
    private var state: State

    /// Markov states: Gilbert–Elliott uses good/bad; the 4-state model uses its states 1…4.
    private enum State: Sendable, Hashable {
        case good, bad
        case receivedInGap, receivedInBurst, lostInBurst, lostInGap
    }

    /// A process in the model's initial state (good, or 4-state state 1). Validate the model first;
    /// for invalid parameters the behaviour is deterministic but meaningless.
    public init(model: LossModel) {
        self.model = model
        switch model {
        case .fourState: state = .receivedInGap
        case .none, .bernoulli, .gilbertElliott: state = .good
        }
    }

    /// Decides the fate of the next packet and advances the Markov state.
    public mutating func isLost(using rng: inout SeededGenerator) -> Bool {
        switch model {
        case .none:
            return false
        case .bernoulli(let probability):
            return rng.nextUnit() < probability
        case .gilbertElliott(let p, let r, let lossInBad, let lossInGood):
            // The loss uses the state the packet found; the transition happens alongside.
            if state == .bad {
                if rng.nextUnit() < r { state = .good }
                return rng.nextUnit() < lossInBad
            } else {
                if rng.nextUnit() < p { state = .bad }
                return rng.nextUnit() < lossInGood
            }
        case .fourState(let p13, let p31, let p32, let p23, let p14):
            let u = rng.nextUnit()
            switch state {
            case .receivedInBurst:
                if u < p23 {
                    state = .lostInBurst
                    return true
                }
                return false
            case .lostInBurst:
                if u < p32 {
                    state = .receivedInBurst
                    return false
                } else if u < p32 + p31 {
                    state = .receivedInGap
                    return false
                }
                return true
            case .lostInGap:
                state = .receivedInGap
                return false
            case .receivedInGap, .good, .bad:
                if u < p14 {
                    state = .lostInGap
                    return true
                } else if u < p14 + p13 {
                    state = .lostInBurst
                    return true
                }
                state = .receivedInGap
                return false
            }
        }
    }
}
