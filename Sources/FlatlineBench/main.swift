// FlatlineBench: the load generator and loopback servers behind `make bench`.
//
// Dependency-free on purpose (Glibc blocking sockets, clock_gettime, one epoll loop): the client
// side of a proxy benchmark must not share the proxy's framework, or it measures itself.
#if canImport(Glibc)
import Glibc
#endif

let usage = """
usage: FlatlineBench <command> [options]   (loopback addresses only)

servers:
  sink  --port P [--host 127.0.0.1] [--max-conns 256] [--idle-timeout 120] [--lifetime 3600]
        read and discard; at EOF reply with the byte count (8 bytes LE) and close;
        one JSON line per connection
  echo  --port P [--host 127.0.0.1] [--max-conns 20000] [--lifetime 3600]
        epoll echo server

clients (each prints one JSON line):
  throughput       --connect HOST:PORT --bytes N [--chunk 256KiB] [--max-seconds 300]
                   [--drain-timeout 60] [--timeout 30]
  pingpong         --connect HOST:PORT --count N [--warmup W] [--timeout 10] [--max-seconds 120]
  latency-accuracy --connect HOST:PORT --count N [--warmup W] [--timeout 10] [--max-seconds 120]
                   [--spin yes] (pingpong plus every sample, samples_us, in send order;
                   --spin polls the socket instead of sleeping in recv)
  idle             --connect HOST:PORT --count N --hold SECONDS [--timeout 5]
                   [--max-seconds 180] [--ready-file PATH]

sizes accept 1073741824, 1GiB, 256KiB, 64k, 10MB.
"""

signal(SIGPIPE, SIG_IGN)
let argv = CommandLine.arguments
guard argv.count >= 2 else {
    warn("missing command\n" + usage)
    exit(2)
}
let command = argv[1]
let rest = argv.dropFirst(2)
let clientOptions: Set<String> = ["connect", "timeout", "max-seconds"]

do {
    switch command {
    case "sink", "echo":
        var allowed: Set<String> = ["port", "host", "max-conns", "lifetime"]
        if command == "sink" { allowed.insert("idle-timeout") }
        let opts = try Options(rest, allowed: allowed)
        // A server left behind by a crashed driver still goes away on its own.
        let lifetime = try opts.int("lifetime", default: 3600)
        if lifetime > 0 { alarm(UInt32(min(lifetime, Int(UInt32.max)))) }
        if command == "sink" { try runSink(opts) } else { try runEcho(opts) }
    case "throughput":
        try runThroughput(Options(rest, allowed: clientOptions.union(["bytes", "chunk", "drain-timeout"])))
    case "pingpong":
        try runPingPong(Options(rest, allowed: clientOptions.union(["count", "warmup"])), raw: false)
    case "latency-accuracy":
        try runPingPong(Options(rest, allowed: clientOptions.union(["count", "warmup", "spin"])), raw: true)
    case "idle":
        try runIdle(Options(rest, allowed: clientOptions.union(["count", "hold", "ready-file"])))
    case "help", "-h", "--help":
        emit(usage)
    default:
        warn("unknown command '\(command)'\n" + usage)
        exit(2)
    }
} catch {
    warn("\(command): \(error)")
    exit(1)
}
