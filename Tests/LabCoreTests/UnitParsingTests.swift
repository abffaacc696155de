import Testing
import LabCore

/// Durations, sizes and rates read from text ("250ms", "64KiB", "8Mbit/s") and the errors for bad text.
@Suite("Unit parsing")
struct UnitParsingTests {
    // MARK: Durations

    @Test("every duration unit", arguments: [
        ("10ns", Int64(10)),
        ("300us", 300_000),
        ("300µs", 300_000),
        ("250ms", 250_000_000),
        ("1.5s", 1_500_000_000),
        ("0.1s", 100_000_000),
        ("2m", 120_000_000_000),
        ("2min", 120_000_000_000),
        ("1h", 3_600_000_000_000),
        ("1.25h", 4_500_000_000_000),
        ("0s", 0),
        ("0ns", 0),
        ("+3s", 3_000_000_000),
        (".5s", 500_000_000),
        ("  5 ms\t", 5_000_000),
        ("1.0000000004s", 1_000_000_000),
        ("2.5ns", 3),
        ("9m30s", 570_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1h 30m", 5_400_000_000_000),
        ("1m30.5s", 90_500_000_000),
        ("2s500ms", 2_500_000_000),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006),
    ])
    func durationUnits(text: String, nanoseconds: Int64) throws {
        let span = try TimeSpan(parsing: text)
        #expect(span.nanoseconds == nanoseconds)
    }

    @Test("duration errors quote the text and say why", arguments: [
        ("", "empty duration"),
        ("   ", "empty duration"),
        ("250", "'250' has no unit"),
        ("1.5", "'1.5' has no unit"),
        ("5parsecs", "'5parsecs' has an unknown unit 'parsecs'"),
        ("5S", "'5S' has an unknown unit 'S'"),
        ("5 m s", "'5 m s' has an unknown unit 'm s'"),
        ("1e3ms", "'1e3ms' has an unknown unit 'e3ms'"),
        ("-5ms", "'-5ms' is negative"),
        ("-0.001s", "'-0.001s' is negative"),
        ("ms", "'ms' is not a duration: it must start with a number"),
        ("abc", "'abc' is not a duration: it must start with a number"),
        ("1.2.3s", "'1.2.3s' is not a duration: it must start with a number"),
        ("--5s", "'--5s' is not a duration: it must start with a number"),
        ("-", "'-' is not a duration: it must start with a number"),
        (".s", "'.s' is not a duration: it must start with a number"),
        ("300000000h", "'300000000h' is too long"),
        ("9300000000s", "'9300000000s' is too long"),
        ("9223372036854775808ns", "'9223372036854775808ns' is too long"),
        ("10000000000000000000ns", "'10000000000000000000ns' is too long"),
        ("30s9m", "'30s9m' mixes units out of order"),
        ("9m9m", "'9m9m' mixes units out of order"),
        ("9m30", "'9m30' has an unknown unit 'm30'"),
        ("9m30parsecs", "'9m30parsecs' has an unknown unit 'm30parsecs'"),
    ])
    func durationErrors(text: String, expectedStart: String) {
        let error = #expect(throws: UnitParseError.self) { try TimeSpan(parsing: text) }
        #expect(error?.message.hasPrefix(expectedStart) == true, "message: \(error?.message ?? "none")")
        #expect(error?.description == error?.message)
    }

    @Test("duration errors name the accepted units")
    func durationErrorListsUnits() {
        do {
            _ = try TimeSpan(parsing: "12 fortnights")
            Issue.record("parsed a duration with an unknown unit")
        } catch {
            #expect(error.message == "'12 fortnights' has an unknown unit 'fortnights'; expected a number with a unit (ns, us, ms, s, m, h), e.g. \"250ms\"")
        }
    }

    @Test("TimeSpan.description is the shortest exact unit", arguments: [
        (Int64(0), "0s"),
        (1, "1ns"),
        (999, "999ns"),
        (1_000, "1us"),
        (1_500, "1500ns"),
        (250_000_000, "250ms"),
        (1_500_000_000, "1500ms"),
        (90_000_000_000, "90s"),
        (120_000_000_000, "2m"),
        (3_600_000_000_000, "1h"),
        (90_000_000_000_000, "25h"),
        (3_600_000_000_001, "3600000000001ns"),
        (-250_000_000, "-250ms"),
    ])
    func timeSpanDescription(nanoseconds: Int64, text: String) {
        #expect(TimeSpan(nanoseconds: nanoseconds).description == text)
    }

    @Test("TimeSpan.description parses back to the same span, including huge ones")
    func timeSpanRoundTrip() throws {
        var samples: [Int64] = [0, 1, 7, 999, 1_000, 1_001, 999_999, 1_000_000, 1_234_567_890, 59_999_999_999,
                                60_000_000_000, 3_599_999_999_999, 3_600_000_000_000, 86_400_000_000_000,
                                (1 << 53) - 1, 1 << 53, (1 << 53) + 1, 123_456_789_012_345_678,
                                9_000_000_000_000_000_000, Int64.max - 1, Int64.max]
        var rng = SeededGenerator(seed: 2024)
        for _ in 0..<2_000 {
            // Mix magnitudes so every unit shows up.
            let magnitude = rng.next() % 63
            samples.append(Int64(rng.next() >> (1 + magnitude)))
            samples.append(Int64(rng.next() % 1_000) * [1, 1_000, 1_000_000, 1_000_000_000, 60_000_000_000,
                                                        3_600_000_000_000][Int(rng.next() % 6)])
        }
        for ns in samples {
            let span = TimeSpan(nanoseconds: ns)
            let parsed = try TimeSpan(parsing: span.description)
            #expect(parsed == span, "\(span.description) parsed as \(parsed.nanoseconds)ns, not \(ns)ns")
        }
    }

    // MARK: Sizes

    @Test("every size unit", arguments: [
        ("512B", Int64(512)),
        ("0B", 0),
        ("7b", 7),
        ("9bytes", 9),
        ("1KB", 1_000),
        ("1.5KB", 1_500),
        ("2kB", 2_000),
        ("3K", 3_000),
        ("4k", 4_000),
        ("64KiB", 65_536),
        ("0.5KiB", 512),
        ("10MB", 10_000_000),
        ("10M", 10_000_000),
        ("3MiB", 3_145_728),
        ("2GB", 2_000_000_000),
        ("2G", 2_000_000_000),
        ("1GiB", 1_073_741_824),
        ("1.5B", 2),
        ("0.4B", 0),
        (" 16 KiB ", 16_384),
    ])
    func sizeUnits(text: String, bytes: Int64) throws {
        #expect(try ByteCount(parsing: text).bytes == bytes)
    }

    @Test("size errors quote the text and say why", arguments: [
        ("", "empty size"),
        ("512", "'512' has no unit"),
        ("5XB", "'5XB' has an unknown unit 'XB'"),
        ("5kib", "'5kib' has an unknown unit 'kib'"),
        ("-1KB", "'-1KB' is negative"),
        ("KB", "'KB' is not a size: it must start with a number"),
        ("lots", "'lots' is not a size: it must start with a number"),
        ("10000000000GB", "'10000000000GB' is too large"),
        ("9000000000GiB", "'9000000000GiB' is too large"),
        ("9223372036854775808B", "'9223372036854775808B' is too large"),
    ])
    func sizeErrors(text: String, expectedStart: String) {
        let error = #expect(throws: UnitParseError.self) { try ByteCount(parsing: text) }
        #expect(error?.message.hasPrefix(expectedStart) == true, "message: \(error?.message ?? "none")")
    }

    @Test("ByteCount.description parses back exactly")
    func byteCountRoundTrip() throws {
        for bytes: Int64 in [0, 1, 1_023, 65_536, (1 << 53) + 1, 4_611_686_018_427_387_903, Int64.max] {
            let size = ByteCount(bytes: bytes)
            #expect(size.description == "\(bytes)B")
            #expect(try ByteCount(parsing: size.description) == size)
        }
    }

    // MARK: Rates

    @Test("every rate unit", arguments: [
        ("10MB/s", 10_000_000.0),
        ("512KiB/s", 524_288.0),
        ("8Mbit/s", 1_000_000.0),
        ("100kbit/s", 12_500.0),
        ("100Kbit/s", 12_500.0),
        ("1Gbit/s", 125_000_000.0),
        ("8bit/s", 1.0),
        ("3B/s", 3.0),
        ("0B/s", 0.0),
        ("1.5KB/s", 1_500.0),
        ("2MiB/s", 2_097_152.0),
        ("1GB/s", 1e9),
        ("1GiB/s", 1_073_741_824.0),
        (" 1 MB/s ", 1e6),
    ])
    func rateUnits(text: String, bytesPerSecond: Double) throws {
        #expect(try ByteRate(parsing: text).bytesPerSecond == bytesPerSecond)
    }

    @Test("rate errors quote the text and say why", arguments: [
        ("", "empty rate"),
        ("10", "'10' is not a rate: it must end in /s"),
        ("10MB", "'10MB' is not a rate: it must end in /s"),
        ("10MB/h", "'10MB/h' is not a rate: it must end in /s"),
        ("10XB/s", "'10XB/s' has an unknown unit 'XB/s'"),
        ("10/s", "'10/s' has an unknown unit '/s'"),
        ("-1MB/s", "'-1MB/s' is negative"),
        ("fast", "'fast' is not a rate: it must start with a number"),
        ("MB/s", "'MB/s' is not a rate: it must start with a number"),
        (String(repeating: "9", count: 305) + "GB/s", "'" + String(repeating: "9", count: 305) + "GB/s' is too large"),
    ])
    func rateErrors(text: String, expectedStart: String) {
        let error = #expect(throws: UnitParseError.self) { try ByteRate(parsing: text) }
        #expect(error?.message.hasPrefix(expectedStart) == true, "message: \(error?.message ?? "none")")
    }

    @Test("transmission time is bytes / rate, nil at rate zero")
    func transmissionTime() throws {
        #expect(try ByteRate(parsing: "1MB/s").transmissionTime(of: 1_000) == .milliseconds(1))
        #expect(try ByteRate(parsing: "8Mbit/s").transmissionTime(of: 2_500_000) == .milliseconds(2_500))
        #expect(ByteRate(bytesPerSecond: 3).transmissionTime(of: 1) == .nanoseconds(333_333_333))
        #expect(ByteRate(bytesPerSecond: 3).transmissionTime(of: 0) == .zero)
        #expect(ByteRate(bytesPerSecond: 0).transmissionTime(of: 1) == nil)
    }
}
