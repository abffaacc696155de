import ArgumentParser

/// How `flatline run` runs a scenario: `sim` in virtual time, or `live` over loopback sockets
/// through the fault proxy. Any other value is refused by the argument parser, which lists these.
enum RunMode: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// Virtual time: the simulator, deterministic by seed.
    case sim
    /// Wall-clock time: built-in components or external programs through the fault proxy.
    case live
}
