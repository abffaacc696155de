// SimulatorBench: issue 4's simulator speed target, measured for `make bench`.
//
// Runs `Simulation.benchmarkConfiguration` (1,000 Socket.IO connections, 25 s / 20 s heartbeats,
// 2 server events per second of 512 B, 20 ms each way) for a simulated span, on one thread, and
// prints one JSON line: wall seconds, simulated seconds, counters, peak RSS, and the wall time
// extrapolated to 24 simulated hours.
#if canImport(Glibc)
import Glibc
#endif
import Heartbeat
import LabCore
import Simulator

let usage = """
usage: SimulatorBench [--connections 1000] [--hours 1] [--seed 1] [--encoded-events]
                      [--recording without-messages|none|all] [--exact]
                      [--ping-interval 25s] [--emit-rate 2]

  --recording   which events the run keeps in memory (default without-messages: every
                heartbeat and connection event, message events only counted)
  --exact       one timer event per tick (no batching): the baseline the batching is measured against
  --ping-interval, --emit-rate (events per second, 0 for none): vary the target's load, to see
                what the heartbeats and the workload each cost
"""

/// The options of one run.
struct Options {
    var connections = 1_000
    var hours = 1.0
    var seed: UInt64 = 1
    var encoded = false
    var recording = EventRecording.withoutMessages
    var exact = false
    var pingInterval: TimeSpan?
    var emitRate: Double?
}

/// Writes a message to standard error and exits with status 2.
func fail(_ message: String) -> Never {
    let text = message + "\n" + usage + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

/// Parses the command line; bad input exits 2 naming the option.
func parse(_ argv: [String]) -> Options {
    var options = Options()
    var arguments = argv.dropFirst()
    func value(_ name: String) -> String {
        guard let next = arguments.popFirst() else { fail("\(name): needs a value") }
        return next
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--connections":
            guard let parsed = Int(value(argument)), parsed > 0, parsed <= 100_000 else {
                fail("--connections: expected 1...100000")
            }
            options.connections = parsed
        case "--hours":
            guard let parsed = Double(value(argument)), parsed > 0, parsed <= 48 else {
                fail("--hours: expected a number in (0, 48]")
            }
            options.hours = parsed
        case "--seed":
            guard let parsed = UInt64(value(argument)) else { fail("--seed: expected an integer") }
            options.seed = parsed
        case "--encoded-events":
            options.encoded = true
        case "--recording":
            switch value(argument) {
            case "all": options.recording = .all
            case "without-messages": options.recording = .withoutMessages
            case "none": options.recording = .none
            default: fail("--recording: expected all, without-messages or none")
            }
        case "--exact":
            options.exact = true
        case "--ping-interval":
            let text = value(argument)
            guard let span = try? TimeSpan(parsing: text), span > .zero else { fail("--ping-interval: expected a duration such as 25s") }
            options.pingInterval = span
        case "--emit-rate":
            guard let rate = Double(value(argument)), rate >= 0, rate <= 1_000 else { fail("--emit-rate: expected 0...1000") }
            options.emitRate = rate
        case "-h", "--help":
            print(usage)
            exit(0)
        default:
            fail("unknown option '\(argument)'")
        }
    }
    return options
}

func peakRSSKiB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss
}

let options = parse(CommandLine.arguments)
let connections = options.connections, hours = options.hours, seed = options.seed, encoded = options.encoded
let duration = TimeSpan.nanoseconds(Int64(hours * 3_600 * 1e9))
var configuration = Simulation.benchmarkConfiguration(connections: connections, duration: duration,
                                                      seed: seed, encodedEvents: encoded)
configuration.recording = options.recording
if let interval = options.pingInterval { configuration.server.pingInterval = interval }
if let rate = options.emitRate {
    configuration.workload.serverEmitInterval = rate > 0 ? .seconds(1 / rate) : nil
}
configuration.batchesTicks = !options.exact
let start = Instant.monotonicNow()
let result = Simulation(configuration).run()
let wall = Double((Instant.monotonicNow() - start).nanoseconds) / 1e9
let perDay = wall * 24 / hours
let c = result.counters
let recordingName = switch options.recording {
case .all: "all"
case .withoutMessages: "without-messages"
case .none: "none"
}
print("""
{"connections":\(connections),"simulated_hours":\(hours),"wall_seconds":\(wall),\
"extrapolated_24h_seconds":\(perDay),"messages_sent":\(c.messagesSent),"pings_sent":\(c.pingsSent),\
"pongs_received":\(c.pongsReceived),"server_disconnects":\(c.serverDisconnects),\
"events_logged":\(result.log.count),"peak_rss_kib":\(peakRSSKiB()),"encoded_events":\(encoded),\
"recording":"\(recordingName)","exact":\(options.exact),"realtime_factor":\(hours * 3_600 / wall)}
""")
