import Foundation
import Testing

/// The exact `--help` text of every command, as a user's terminal shows it at 80 columns: a
/// change to an option, its help or its default shows up here first.
@Suite(.serialized)
struct HelpTests {
    /// `flatline <command> --help` at 80 columns.
    static func help(_ command: [String]) throws -> String {
        let r = try CLITests.run(command + ["--help"], environment: ["COLUMNS": "80", "LINES": "24"])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    @Test func rootHelp() throws {
        #expect(try Self.help([]) == #"""
        OVERVIEW: A network fault lab for heartbeat and timeout logic.

        USAGE: flatline <subcommand>

        OPTIONS:
          --version               Show the version.
          -h, --help              Show help information.

        SUBCOMMANDS:
          proxy                   Run the fault proxy and its Toxiproxy-compatible
                                  control API.
          serve                   Run a built-in server, printing its event log as JSON
                                  lines.
          connect                 Run a built-in client, printing its event log as JSON
                                  lines.
          check                   Validate scenario files (docs/scenarios.md) without
                                  running them.
          run                     Run scenario files and check their expectations (exit
                                  0 pass, 1 fail, 2 invalid input, 130 interrupted).
          detectors               Compare failure detectors on heartbeat traces:
                                  detection time against mistake rate.
          learn                   Learn RTT, heartbeat-gap and stall distributions from
                                  runs, samples or captures.
          recommend               Propose heartbeat settings for an objective, and
                                  prove them by replay.
          demo                    Show the fault proxy at work on a built-in loopback
                                  echo server.

          See 'flatline help <subcommand>' for detailed help.

        """#)
    }

    @Test func helpProxy() throws {
        #expect(try Self.help(["proxy"]) == #"""
        OVERVIEW: Run the fault proxy and its Toxiproxy-compatible control API.

        USAGE: flatline proxy [--host <host>] [--port <port>] [--config <config>] [--seed <seed>] [--window <window>] [--events <events>]

        OPTIONS:
          --host <host>           Address the control API listens on. (default:
                                  127.0.0.1)
          --port <port>           Port the control API listens on. (default: 8474)
          --config <config>       A JSON file of proxies to create at start-up
                                  (toxiproxy-server's format).
          --seed <seed>           Seed for every random draw (jitter, loss, toxicity);
                                  the same seed gives the same faults. (default: 0)
          --window <window>       Bytes a link may queue before the proxy stops reading
                                  from the sender. (default: 4194304)
          --events <events>       Write the protocol tap's events (Engine.IO over
                                  WebSocket: connect, ping, pong with RTT, disconnect)
                                  as JSON lines to this file; '-' for stdout.
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }

    @Test func helpServe() throws {
        #expect(try Self.help(["serve"]) == #"""
        OVERVIEW: Run a built-in server, printing its event log as JSON lines.

        USAGE: flatline serve <subcommand>

        OPTIONS:
          --version               Show the version.
          -h, --help              Show help information.

        SUBCOMMANDS:
          socketio                Run the built-in Socket.IO server (Engine.IO v4,
                                  polling and WebSocket).
          websocket               Run the built-in WebSocket echo server with RFC 6455
                                  keepalive (as Python's websockets).

          See 'flatline help serve <subcommand>' for detailed help.

        """#)
    }

    @Test func helpServeSocketio() throws {
        #expect(try Self.help(["serve", "socketio"]) == #"""
        OVERVIEW: Run the built-in Socket.IO server (Engine.IO v4, polling and
        WebSocket).

        USAGE: flatline serve socketio [--host <host>] --port <port> [--ping-interval <ping-interval>] [--ping-timeout <ping-timeout>] [--emit-rate <emit-rate>] [--broadcast-rate <broadcast-rate>] [--connection-state-recovery <connection-state-recovery>] [--path <path>] [--seed <seed>]

        OPTIONS:
          --host <host>           Address to listen on. (default: 127.0.0.1)
          --port <port>           Port to listen on (0 picks one and prints it on
                                  stderr).
          --ping-interval <ping-interval>
                                  Engine.IO pingInterval, e.g. 25s. (default: 25s)
          --ping-timeout <ping-timeout>
                                  Engine.IO pingTimeout, e.g. 20s. (default: 20s)
          --emit-rate <emit-rate> Rate of 'tick' events sent to each client, e.g. 2/s
                                  (0/s for none). (default: 0/s)
          --broadcast-rate <broadcast-rate>
                                  Rate of the 'broadcast' stream on the server's clock,
                                  to every connected client, e.g. 4/s (0/s for none).
                                  (default: 0/s)
          --connection-state-recovery <connection-state-recovery>
                                  Turn on socket.io's connection state recovery,
                                  keeping sessions and events this long (its
                                  maxDisconnectionDuration, e.g. 2m).
          --path <path>           URL path of the endpoint. (default: /socket.io/)
          --seed <seed>           Seed for session ids. (default: 0)
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }

    @Test func helpServeWebsocket() throws {
        #expect(try Self.help(["serve", "websocket"]) == #"""
        OVERVIEW: Run the built-in WebSocket echo server with RFC 6455 keepalive (as
        Python's websockets).

        USAGE: flatline serve websocket [--host <host>] --port <port> [--ping-interval <ping-interval>] [--ping-timeout <ping-timeout>] [--close-timeout <close-timeout>]

        OPTIONS:
          --host <host>           Address to listen on. (default: 127.0.0.1)
          --port <port>           Port to listen on (0 picks one and prints it on
                                  stderr).
          --ping-interval <ping-interval>
                                  Delay between keepalive pings, e.g. 20s ('off'
                                  disables keepalive). (default: 20s)
          --ping-timeout <ping-timeout>
                                  How long to wait for a pong before closing with 1011,
                                  e.g. 20s ('off' never times out). (default: 20s)
          --close-timeout <close-timeout>
                                  How long to wait for the closing handshake, e.g. 10s.
                                  (default: 10s)
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }

    @Test func helpConnect() throws {
        #expect(try Self.help(["connect"]) == #"""
        OVERVIEW: Run a built-in client, printing its event log as JSON lines.

        USAGE: flatline connect <subcommand>

        OPTIONS:
          --version               Show the version.
          -h, --help              Show help information.

        SUBCOMMANDS:
          socketio                Connect the built-in Socket.IO client to a server
                                  (http://host:port[/path]).
          websocket               Connect the built-in WebSocket client (RFC 6455
                                  keepalive, as Python's websockets) to
                                  ws://host:port[/path].

          See 'flatline help connect <subcommand>' for detailed help.

        """#)
    }

    @Test func helpConnectSocketio() throws {
        #expect(try Self.help(["connect", "socketio"]) == #"""
        OVERVIEW: Connect the built-in Socket.IO client to a server
        (http://host:port[/path]).

        USAGE: flatline connect socketio <url> [--transports <transports>] [--reconnection <reconnection>] [--connect-timeout <connect-timeout>] [--emit-rate <emit-rate>] [--duration <duration>] [--seed <seed>]

        ARGUMENTS:
          <url>                   Server URL, e.g. http://127.0.0.1:5000 (path defaults
                                  to /socket.io/).

        OPTIONS:
          --transports <transports>
                                  Transport: websocket or polling (the first of a
                                  comma-separated list is used). (default: websocket)
          --reconnection <reconnection>
                                  Reconnect after a drop: on or off. (default: on)
          --connect-timeout <connect-timeout>
                                  socket.io-client's timeout for the namespace connect.
                                  (default: 20s)
          --emit-rate <emit-rate> Rate of 'echo' events with acks, e.g. 1/s (0/s for
                                  none). (default: 0/s)
          --duration <duration>   How long to stay connected before disconnecting, e.g.
                                  60s. (default: 60s)
          --seed <seed>           Seed for the reconnection jitter. (default: 0)
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }

    @Test func helpConnectWebsocket() throws {
        #expect(try Self.help(["connect", "websocket"]) == #"""
        OVERVIEW: Connect the built-in WebSocket client (RFC 6455 keepalive, as
        Python's websockets) to ws://host:port[/path].

        USAGE: flatline connect websocket <url> [--ping-interval <ping-interval>] [--ping-timeout <ping-timeout>] [--close-timeout <close-timeout>] [--send-rate <send-rate>] [--duration <duration>]

        ARGUMENTS:
          <url>                   Server URL, e.g. ws://127.0.0.1:8765/ (path defaults
                                  to /).

        OPTIONS:
          --ping-interval <ping-interval>
                                  Delay between keepalive pings, e.g. 20s ('off'
                                  disables keepalive). (default: 20s)
          --ping-timeout <ping-timeout>
                                  How long to wait for a pong before closing with 1011,
                                  e.g. 20s ('off' never times out). (default: 20s)
          --close-timeout <close-timeout>
                                  How long to wait for the closing handshake, e.g. 10s.
                                  (default: 10s)
          --send-rate <send-rate> Rate of text messages sent to the server, e.g. 5/s
                                  (0/s for none). (default: 0/s)
          --duration <duration>   How long to stay connected before closing (code
                                  1000), e.g. 60s. (default: 60s)
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }

    @Test func helpCheck() throws {
        #expect(try Self.help(["check"]) == #"""
        OVERVIEW: Validate scenario files (docs/scenarios.md) without running them.

        USAGE: flatline check <files> ... [--set <set> ...]

        ARGUMENTS:
          <files>                 Scenario files.

        OPTIONS:
          --set <set>             Override a field, e.g. --set server.pingTimeout=60s
                                  (repeatable).
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }

    @Test func helpRun() throws {
        #expect(try Self.help(["run"]) == #"""
        OVERVIEW: Run scenario files and check their expectations (exit 0 pass, 1 fail,
        2 invalid input, 130 interrupted).

        USAGE: flatline run <files> ... [--set <set> ...] [--mode <mode>] [--time-scale <time-scale>] [--runs <runs>] [--seed <seed>] [--out <out>]

        ARGUMENTS:
          <files>                 Scenario files.

        OPTIONS:
          --set <set>             Override a field, e.g. --set server.pingTimeout=60s
                                  (repeatable).
          --mode <mode>           sim (virtual time) or live (loopback sockets through
                                  the fault proxy; built-in components or external
                                  programs). Ctrl-C stops a live run and writes partial
                                  results. (values: sim, live; default: sim)
          --time-scale <time-scale>
                                  Live runs: multiply every duration by this, e.g. 0.1
                                  runs 30 minutes in 3. (default: 1.0)
          --runs <runs>           Monte Carlo runs with derived seeds (default: the
                                  scenario's repetitions).
          --seed <seed>           Seed for every random draw (default: the scenario's).
          --out <out>             Results root. (default: results)
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }

    @Test func helpDemo() throws {
        #expect(try Self.help(["demo"]) == #"""
        OVERVIEW: Show the fault proxy at work on a built-in loopback echo server.

        USAGE: flatline demo [--count <count>] [--seed <seed>]

        OPTIONS:
          --count <count>         Round trips per measurement. (default: 50)
          --seed <seed>           Seed for the latency jitter. (default: 1)
          --version               Show the version.
          -h, --help              Show help information.


        """#)
    }
}
