/// xoshiro256** (Blackman & Vigna), seeded by expanding a 64-bit seed with splitmix64.
///
/// Every random draw in Flatline comes from one of these, derived from (scenario seed, run,
/// connection, link…), so the same inputs give the same draws, byte for byte, on every platform.
/// The state is four 64-bit words filled with four consecutive splitmix64 outputs of the seed (the
/// seeding the xoshiro authors recommend); a stream's seed is its *derivation key* (see
/// `init(seed:stream:)`).
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable {
    /// The key this generator was seeded from; `derived(_:)` starts from it, so derivation never
    /// depends on how far this generator has advanced.
    public let derivationKey: UInt64

    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// A generator whose state is the first four splitmix64 outputs for `seed`; its derivation key
    /// is `seed` itself.
    public init(seed: UInt64) {
        derivationKey = seed
        var splitmix = seed
        s0 = SplitMix64.next(&splitmix)
        s1 = SplitMix64.next(&splitmix)
        s2 = SplitMix64.next(&splitmix)
        s3 = SplitMix64.next(&splitmix)
    }

    /// An independent stream for (seed, components...), e.g. (run, connection, direction).
    ///
    /// The derivation key starts at `seed` and absorbs each component in order as
    /// `key = mix((key ^ mix(component &+ γ)) &+ γ)`, where `mix` is the splitmix64 output
    /// function and γ its golden-ratio increment, so nearby ids (connection 1 vs 2) give unrelated
    /// streams and the order of components matters. An empty `stream` equals `init(seed:)`.
    public init(seed: UInt64, stream: [UInt64]) {
        var key = seed
        for component in stream {
            key = SplitMix64.mix((key ^ SplitMix64.mix(component &+ SplitMix64.gamma)) &+ SplitMix64.gamma)
        }
        self.init(seed: key)
    }

    /// A child stream keyed by this generator's derivation key and `components`, the same as
    /// `SeededGenerator(seed: derivationKey, stream: components)`; it does not advance `self`.
    ///
    /// Derivation composes: `g.derived(a).derived(b) == g.derived(a, b)`.
    public func derived(_ components: UInt64...) -> SeededGenerator {
        SeededGenerator(seed: derivationKey, stream: components)
    }

    /// The next 64 uniformly distributed bits (one xoshiro256** step).
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform double in [0, 1) from the top 53 bits of one draw (every value a multiple of 2⁻⁵³).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A uniform double in (0, 1), never 0 nor 1: the midpoint of one of 2⁵² equal cells, so
    /// quantile functions with infinite tails can take it directly.
    public mutating func nextOpenUnit() -> Double {
        (Double(next() >> 12) + 0.5) * 0x1p-52
    }

    /// A standard normal draw by inversion, `standardNormalQuantile(nextOpenUnit())`: exactly one
    /// 64-bit draw per value, which keeps derived streams aligned.
    public mutating func nextNormal() -> Double {
        standardNormalQuantile(nextOpenUnit())
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}

/// splitmix64 (Steele, Lea & Flood; Vigna's reference constants), used to expand seeds and to mix
/// stream components.
enum SplitMix64 {
    /// The golden-ratio increment of splitmix64.
    static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The splitmix64 output function (a bijective 64-bit finalizer).
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Advances `state` by γ and returns the mixed value (one splitmix64 step).
    @inline(__always)
    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= gamma
        return mix(state)
    }
}
