import Foundation
import LabCore
import Scenario
import Testing

/// The loader never crashes: thousands of mutated scenario documents and overrides each either
/// load or give a `ScenarioError` with a place and a message.
@Suite struct ScenarioFuzzTests {
    static let seeds: [String] = {
        var docs = [ScenarioParsingTests.full, ScenarioParsingTests.minimal, ScenarioOverrideTests.yaml]
        for name in ScenarioPackTests.files {
            if let text = try? String(contentsOfFile: ScenarioPackTests.folder.appendingPathComponent(name).path, encoding: .utf8) {
                docs.append(text)
            }
        }
        return docs
    }()

    static let fragments = [":", " ", "\n", "-", "[", "]", "{", "}", ",", "#", "&a", "*a", "<<", "!!str", "'", "\"", "|",
                            ">", "%", "?", "\t", "0", "-1s", "1e400", "NaN", "~", "null", "true", "end", "stall", "99%",
                            "0x", "é", "\u{0}", "\u{FEFF}", "2/s", "512B", "1.5", "  - ", "both:", "at: ", "for: ", "until: end",
                            "latency: { gauss: {} }", "loss: 2", "every: 0s", "sweeps: { a: [] }", "[[[[", "}}}}"]

    static func mutate(_ text: String, using rng: inout SeededGenerator) -> String {
        var chars = Array(text.unicodeScalars)
        let edits = 1 + Int(rng.next() % 4)
        for _ in 0..<edits {
            let position = chars.isEmpty ? 0 : Int(rng.next() % UInt64(chars.count))
            switch rng.next() % 6 {
            case 0 where !chars.isEmpty:
                let length = min(chars.count - position, 1 + Int(rng.next() % 8))
                chars.removeSubrange(position..<(position + length))
            case 1, 2:
                let fragment = fragments[Int(rng.next() % UInt64(fragments.count))]
                chars.insert(contentsOf: fragment.unicodeScalars, at: position)
            case 3:
                // Duplicate or drop a line.
                var lines = String(String.UnicodeScalarView(chars)).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                guard !lines.isEmpty else { break }
                let line = Int(rng.next() % UInt64(lines.count))
                if rng.next() % 2 == 0 { lines.insert(lines[line], at: line) } else { lines.remove(at: line) }
                chars = Array(lines.joined(separator: "\n").unicodeScalars)
            case 4 where !chars.isEmpty:
                chars[position] = Unicode.Scalar(UInt8(32 + rng.next() % 95))
            default:
                // Swap two lines.
                var lines = String(String.UnicodeScalarView(chars)).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                guard lines.count > 1 else { break }
                let a = Int(rng.next() % UInt64(lines.count))
                let b = Int(rng.next() % UInt64(lines.count))
                lines.swapAt(a, b)
                chars = Array(lines.joined(separator: "\n").unicodeScalars)
            }
        }
        return String(String.UnicodeScalarView(chars))
    }

    @Test func mutatedDocumentsNeverCrash() {
        var rng = SeededGenerator(seed: 2024)
        var loaded = 0
        var rejected = 0
        for iteration in 0..<3000 {
            let seed = Self.seeds[iteration % Self.seeds.count]
            let text = Self.mutate(seed, using: &rng)
            do {
                let scenario = try Scenario.parse(yaml: text, source: "fuzz.yaml")
                _ = scenario.expandSweeps()
                _ = scenario.timeline()
                loaded += 1
            } catch {
                rejected += 1
                #expect(!error.message.isEmpty)
                #expect(error.file == "fuzz.yaml")
                #expect(error.line >= 0 && error.column >= 0)
                #expect(error.description.hasPrefix("fuzz.yaml"))
            }
        }
        // Both outcomes must occur, or the mutations are too weak or too strong to mean anything.
        #expect(loaded > 100)
        #expect(rejected > 1000)
    }

    @Test func randomOverridesNeverCrash() throws {
        let base = try Scenario.parse(yaml: ScenarioParsingTests.full, source: "full.yaml")
        var rng = SeededGenerator(seed: 77)
        let paths = ["server.pingTimeout", "server", "clients.count", "phases[0].for", "phases[9].at", "link.both.latency",
                     "link.upstream.loss.gilbertElliott.p", "expect.deliveryAtLeast", "sweeps.server.pingInterval", "name",
                     "phases", "x.y.z", "seed", "duration", "a[0]", ""]
        let values = ["60s", "-1s", "abc", "[1, 2]", "{a: 1}", "", "~", "150%", "0", "1e9", "[", "end", "'quoted'", "{median: 1ms, p99: 2ms}"]
        for _ in 0..<1000 {
            let path = paths[Int(rng.next() % UInt64(paths.count))]
            let value = values[Int(rng.next() % UInt64(values.count))]
            let separator = rng.next() % 10 == 0 ? "" : "="
            do {
                _ = try base.applying(overrides: ["\(path)\(separator)\(value)"])
            } catch {
                #expect(!error.message.isEmpty)
            }
        }
    }
}
