/// A name compared, hashed and ordered by its UTF-8 bytes. Swift's `String` equality is Unicode
/// canonical equivalence, so "é" (U+00E9) and "e" + U+0301 would be one name; Toxiproxy (Go)
/// compares bytes, and so do Flatline's proxy, toxic and condition names.
public struct ExactName: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The name as given.
    public let string: String

    /// Wraps `string`.
    public init(_ string: String) { self.string = string }

    /// True when both names have the same UTF-8 bytes.
    public static func == (a: ExactName, b: ExactName) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    /// Byte order, as Go's sort.Strings orders Toxiproxy's names.
    public static func < (a: ExactName, b: ExactName) -> Bool {
        a.string.utf8.lexicographicallyPrecedes(b.string.utf8)
    }

    /// Hashes the bytes, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(string.utf8.count)
        for byte in string.utf8 { hasher.combine(byte) }
    }

    /// The name itself.
    public var description: String { string }
}

extension String {
    /// True when `other` has exactly the same UTF-8 bytes (not merely canonically equivalent).
    public func hasSameBytes(as other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}
