/// A strict RFC 8259 syntax check, run before Foundation's parser, which on Linux lets through
/// what JSON forbids (a trailing comma in an object or array, for one). It only scans: no values
/// are built. Nesting is bounded so that hostile input cannot exhaust the stack.
enum StrictJSONSyntax {
    /// How deep arrays and objects may nest.
    static let maximumDepth = 512

    /// Throws with the byte offset of the first place where `bytes` is not one JSON text.
    static func check(_ bytes: [UInt8]) throws(JSONSyntaxError) {
        var scanner = Scanner(bytes: bytes)
        scanner.skipWhitespace()
        try scanner.value(depth: 0)
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw scanner.error("unexpected text after the JSON value") }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0

        var atEnd: Bool { i >= bytes.count }
        var current: UInt8? { i < bytes.count ? bytes[i] : nil }

        func error(_ what: String) -> JSONSyntaxError {
            JSONSyntaxError(description: "\(what) at byte \(i)")
        }

        mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
            guard current == byte else { throw error("expected \(what)") }
            i += 1
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) {
            guard let c = current else { throw error("expected a value") }
            switch c {
            case UInt8(ascii: "{"): try object(depth: depth + 1)
            case UInt8(ascii: "["): try array(depth: depth + 1)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw error("expected a value")
            }
        }

        mutating func object(depth: Int) throws(JSONSyntaxError) {
            guard depth <= StrictJSONSyntax.maximumDepth else { throw error("nested too deeply") }
            i += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") { i += 1; return }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a member name") }
                try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':'")
                skipWhitespace()
                try value(depth: depth)
                skipWhitespace()
                if current == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                return
            }
        }

        mutating func array(depth: Int) throws(JSONSyntaxError) {
            guard depth <= StrictJSONSyntax.maximumDepth else { throw error("nested too deeply") }
            i += 1
            skipWhitespace()
            if current == UInt8(ascii: "]") { i += 1; return }
            while true {
                skipWhitespace()
                try value(depth: depth)
                skipWhitespace()
                if current == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "]"), "',' or ']'")
                return
            }
        }

        mutating func string() throws(JSONSyntaxError) {
            i += 1
            while let c = current {
                switch c {
                case UInt8(ascii: "\""): i += 1; return
                case UInt8(ascii: "\\"):
                    i += 1
                    guard let e = current else { throw error("unterminated escape") }
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 1
                    case UInt8(ascii: "u"):
                        i += 1
                        for _ in 0..<4 {
                            guard let h = current, isHex(h) else { throw error("expected four hex digits") }
                            i += 1
                        }
                    default: throw error("invalid escape")
                    }
                case 0x00..<0x20: throw error("control character in a string")
                default: i += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func number() throws(JSONSyntaxError) {
            if current == UInt8(ascii: "-") { i += 1 }
            guard let first = current, isDigit(first) else { throw error("expected a digit") }
            i += 1
            if first != UInt8(ascii: "0") { while let c = current, isDigit(c) { i += 1 } }
            if current == UInt8(ascii: ".") {
                i += 1
                guard let c = current, isDigit(c) else { throw error("expected a digit after '.'") }
                while let c = current, isDigit(c) { i += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                i += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { i += 1 }
                guard let c = current, isDigit(c) else { throw error("expected a digit in the exponent") }
                while let c = current, isDigit(c) { i += 1 }
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
            let text = word.withUTF8Buffer { Array($0) }
            guard i + text.count <= bytes.count, Array(bytes[i..<(i + text.count)]) == text else {
                throw error("expected a value")
            }
            i += text.count
        }

        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        func isHex(_ c: UInt8) -> Bool {
            isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
        }
    }
}
