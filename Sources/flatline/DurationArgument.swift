import ArgumentParser
import LabCore

/// A duration given on the command line, in the scenario files' syntax ("250ms", "1.5s", "2m",
/// "9m30s"), kept with its text so that help shows a default as it was written ("60s", not "1m").
/// Options parse it with `DurationArgument.init(parsing:)` as their transform, so a bad value is
/// reported with the reason (`DurationArgumentError`), e.g. "'25' has no unit".
struct DurationArgument: ParsedTextArgument {
    /// The text as given.
    let text: String
    /// The duration.
    let value: TimeSpan

    /// Reads `text`; throws with the unit parser's reason when it is not a duration.
    init(parsing text: String) throws(DurationArgumentError) {
        do {
            self.value = try TimeSpan(parsing: text)
        } catch {
            throw DurationArgumentError(text: text, reason: error.message)
        }
        self.text = text
    }

}

/// A duration, or "off" for a timer that is not armed (WebSocket keepalive's `--ping-interval off`).
struct DurationOrOffArgument: ParsedTextArgument {
    /// The text as given.
    let text: String
    /// The duration; nil for "off".
    let value: TimeSpan?

    /// Reads `text`: "off", or a duration; throws with the unit parser's reason otherwise.
    init(parsing text: String) throws(DurationArgumentError) {
        if text == "off" {
            self.value = nil
        } else {
            self.value = try DurationArgument(parsing: text).value
        }
        self.text = text
    }

}

/// Why a command-line value is not a duration: the unit parser's reason, quoting the text; the
/// argument parser prints it after the option's name.
struct DurationArgumentError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text as given.
    var text: String
    /// Why it is not a duration, e.g. "'25' has no unit; expected a number with a unit (…)".
    var reason: String

    var description: String { reason }
}

extension ArgumentHelp {
    /// Help for an option parsed with a `transform` (so that the value's own error reaches the
    /// user): `abstract` followed by "(default: …)", as the argument parser writes it for options
    /// without a transform, which it cannot do for these.
    static func text(_ abstract: String, default value: some ExpressibleByArgument) -> ArgumentHelp {
        ArgumentHelp("\(abstract) (default: \(value.defaultValueDescription))")
    }
}

/// A command-line value read from its text by a throwing parser and kept with that text: the
/// argument parser's initializer, a literal default and help's default text come from
/// `init(parsing:)` and `text` alone.
protocol ParsedTextArgument: ExpressibleByArgument, ExpressibleByStringLiteral, Sendable, Hashable {
    /// The text as given.
    var text: String { get }
    /// Reads `text`, or throws why it cannot.
    init(parsing text: String) throws(DurationArgumentError)
}

extension ParsedTextArgument {
    init?(argument: String) {
        guard let parsed = try? Self(parsing: argument) else { return nil }
        self = parsed
    }

    /// A default written in the code; a literal the parser refuses is a programming error.
    init(stringLiteral text: String) {
        do {
            self = try Self(parsing: text)
        } catch {
            preconditionFailure("\(error)")
        }
    }

    var defaultValueDescription: String { text }
}
