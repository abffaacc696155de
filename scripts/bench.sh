#!/usr/bin/env bash
# Flatline benchmark driver (`make bench`). See docs/benchmarks.md.
#
# Measures, side by side in one run and on loopback only: throughput, added round-trip time,
# latency-toxic accuracy, memory per idle connection and peak memory under a latency condition,
# for direct loopback, socat, haproxy and Flatline; then the simulator's speed on issue 4's run
# (1,000 connections for 24 simulated hours) against its own unbatched baseline, and the benchmark
# tests the default `swift test` run leaves out (FLATLINE_BENCH=1). Writes results/bench/results.json,
# results/bench/table.md and raw.jsonl, and prints the table.
#
# Knobs (environment):
#   BENCH_QUICK=1           small sizes, for a smoke run (~1 min)
#   BENCH_BYTES=1GiB        transfer size for the throughput benchmarks
#   BENCH_REPS=3            throughput repetitions (the median is reported)
#   BENCH_PINGS=20000       round trips per path (after BENCH_WARMUP=2000), split into
#   BENCH_PING_ROUNDS=4     rounds that alternate between the paths
#   BENCH_IDLE_CONNS=9000   idle connections
#   BENCH_PORT_BASE=26000   first of the ports used (below the ephemeral range)
#   BENCH_SCRATCH=PATH      swift build --scratch-path (default: .build)
#   BENCH_SKIP_BUILD=1      do not build; use BENCH_BIN (FlatlineBench) and BENCH_FLATLINE, and skip
#                           the benchmark tests (FLATLINE_BENCH=1 swift test), which need a build
#   BENCH_BIN=PATH          FlatlineBench binary to use
#   BENCH_SIMBENCH=PATH     SimulatorBench binary to use
#   BENCH_SIM_HOURS=24      simulated hours of the simulator's target run (quick: 1)
#   BENCH_FLATLINE=PATH     flatline binary to use; "none" skips the Flatline rows
#   BENCH_OUT=results/bench output directory
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
    BYTES=${BENCH_BYTES:-128MiB}; REPS=${BENCH_REPS:-1}; PINGS=${BENCH_PINGS:-2000}
    WARMUP=${BENCH_WARMUP:-200}; IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
    ACC5_COUNT=200; ACC50_COUNT=40; LAT_MAX_SECONDS=20; IDLE_HOLD=2; PING_ROUNDS=${BENCH_PING_ROUNDS:-2}
    SIM_HOURS=${BENCH_SIM_HOURS:-1}; SIM_EXACT_HOURS=0.1; SIM_BOUNDED_HOURS="0.1 1"; RUN_CLIENTS=20
else
    BYTES=${BENCH_BYTES:-1GiB}; REPS=${BENCH_REPS:-3}; PINGS=${BENCH_PINGS:-20000}
    WARMUP=${BENCH_WARMUP:-2000}; IDLE_CONNS=${BENCH_IDLE_CONNS:-9000}
    ACC5_COUNT=1000; ACC50_COUNT=400; LAT_MAX_SECONDS=120; IDLE_HOLD=5; PING_ROUNDS=${BENCH_PING_ROUNDS:-4}
    SIM_HOURS=${BENCH_SIM_HOURS:-24}; SIM_EXACT_HOURS=1; SIM_BOUNDED_HOURS="1 24"; RUN_CLIENTS=200
fi
PORT_BASE=${BENCH_PORT_BASE:-26000}
OUT=${BENCH_OUT:-results/bench}
LOGS=$OUT/logs
RAW=$OUT/raw.jsonl

ECHO_PORT=$((PORT_BASE + 1));        SINK_PORT=$((PORT_BASE + 2))
SOCAT_ECHO_PORT=$((PORT_BASE + 11)); SOCAT_SINK_PORT=$((PORT_BASE + 12))
HAP_ECHO_PORT=$((PORT_BASE + 21));   HAP_SINK_PORT=$((PORT_BASE + 22)); HAP_IDLE_PORT=$((PORT_BASE + 23))
FL_API_PORT=$((PORT_BASE + 30));     FL_ECHO_PORT=$((PORT_BASE + 31));  FL_SINK_PORT=$((PORT_BASE + 32))
FL_IDLE_API_PORT=$((PORT_BASE + 40)); FL_IDLE_PORT=$((PORT_BASE + 41))
FL_LAT_API_PORT=$((PORT_BASE + 50));  FL_LAT_PORT=$((PORT_BASE + 52))
FL_PLAIN_API_PORT=$((PORT_BASE + 60)); FL_PLAIN_PORT=$((PORT_BASE + 61))

mkdir -p "$OUT"
rm -rf "$LOGS"
mkdir -p "$LOGS"
: >"$RAW"
TMP=$(mktemp -d /tmp/flatline-bench.XXXXXX)
PIDFILE=$TMP/pids
: >"$PIDFILE"
REPORTED=0
STARTED_AT=$(date +%s)

say() { printf '[bench %4ss] %s\n' "$(($(date +%s) - STARTED_AT))" "$*" >&2; }

json_str() {
    local s=$1
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/ }
    printf '"%s"' "$s"
}

# record SECTION PATH EXTRA-JSON-FIELDS DATA-JSON
record() { printf '{"section":"%s","path":"%s",%s"data":%s}\n' "$1" "$2" "${3:+$3,}" "$4" >>"$RAW"; }
note() {
    say "NOTE: $*"
    printf '{"section":"note","text":%s}\n' "$(json_str "$*")" >>"$RAW"
}
fail_record() { # SECTION PATH EXTRA MESSAGE
    say "FAILED $1/$2: $4"
    printf '{"section":"%s","path":"%s",%s"error":%s}\n' "$1" "$2" "${3:+$3,}" "$(json_str "$4")" >>"$RAW"
}

# --- processes -------------------------------------------------------------------------------

# start_bg NAME CMD... : start in the background, log to $LOGS/NAME.log, remember the pid and
# the program's name (so a pid the kernel has since reused is never signalled). Sets START_PID.
start_bg() {
    local name=$1; shift
    "$@" >"$LOGS/$name.log" 2>&1 &
    START_PID=$!
    # The program, past an `env VAR=VALUE...` in front (env execs it, so that is what runs).
    local prog=$1 a
    if [[ ${prog##*/} == env ]]; then
        for a in "${@:2}"; do [[ $a == *=* ]] || { prog=$a; break; }; done
    fi
    echo "$START_PID ${prog##*/}" >>"$PIDFILE"
}

stop_pid() { # PID PROGRAM
    local pid=$1 prog=$2 i argv
    # argv[0], or argv[1] for a program run through an interpreter (#! script).
    argv=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | head -n 2) || return 0
    local match=0 a
    while read -r a; do
        [[ -n $a && ${a##*/} == "$prog" ]] && match=1
    done <<<"$argv"
    ((match)) || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# Stops every process started after line MARK of the pid file (0 = all).
stop_since() {
    local mark=$1 pid prog
    while read -r pid prog; do
        if [[ -n $pid ]]; then stop_pid "$pid" "$prog"; fi
    done < <(tail -n +"$((mark + 1))" "$PIDFILE" | tac)
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_since 0
    if [[ $REPORTED == 0 && -s $RAW ]]; then
        say "run interrupted (exit $rc): writing a partial report"
        python3 "$ROOT/scripts/bench-report.py" --raw "$RAW" --out "$OUT" --partial >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_hex() { printf '%04X' "$1"; }

is_listening() { # PORT: a LISTEN socket on 127.0.0.1 or 0.0.0.0 (no connection is made)
    awk -v p=":$(port_hex "$1")" '$2 ~ p"$" && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

# wait_listen PORT PID NAME [TIMEOUT]
wait_listen() {
    local port=$1 pid=$2 name=$3 timeout=${4:-20} i
    for i in $(seq 1 $((timeout * 20))); do
        if is_listening "$port"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            say "$name exited before listening on $port; its log:"
            tail -n 20 "$LOGS/$name.log" >&2 || true
            return 1
        fi
        sleep 0.05
    done
    say "$name did not listen on $port within ${timeout}s"
    return 1
}

require_free() {
    local port
    for port in "$@"; do
        if is_listening "$port"; then
            say "port $port is already in use; set BENCH_PORT_BASE to another base"
            exit 1
        fi
    done
}

vm_kb() { # PID FIELD (VmRSS, VmHWM): value in kB, or null if the process is gone
    local v
    v=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true)
    echo "${v:-null}"
}

# run_section NAME FUNCTION...: run in a subshell with errexit, so a failing section is recorded
# and the rest of the benchmark still runs; stops whatever the section started.
run_section() {
    local name=$1; shift
    local mark rc
    mark=$(wc -l <"$PIDFILE")
    set +e
    (
        set -e
        trap 'stop_since '"$mark" EXIT
        "$@"
    )
    rc=$?
    set -e
    stop_since "$mark"
    if [[ $rc -ne 0 ]]; then
        fail_record "$name" "section" "" "section failed with exit status $rc; logs in $LOGS"
    fi
}

# --- tools -----------------------------------------------------------------------------------

ensure_tools() {
    local missing=()
    command -v socat >/dev/null || missing+=(socat)
    command -v haproxy >/dev/null || missing+=(haproxy)
    command -v curl >/dev/null || missing+=(curl)
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        local sudo=""
        [[ $(id -u) == 0 ]] || sudo="sudo"
        if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; } \
            >"$LOGS/apt.log" 2>&1; then
            say "apt-get failed (see $LOGS/apt.log)"
        fi
    fi
    command -v socat >/dev/null || note "socat not available: socat rows skipped"
    command -v haproxy >/dev/null || note "haproxy not available: haproxy rows skipped"
}

BENCH=""
SIMBENCH=""
FLATLINE=""
build() {
    local scratch=()
    [[ -n ${BENCH_SCRATCH:-} ]] && scratch=(--scratch-path "$BENCH_SCRATCH")
    if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
        say "building FlatlineBench (release)"
        swift build -c release "${scratch[@]}" --product FlatlineBench >"$LOGS/build-bench.log" 2>&1 || {
            tail -n 30 "$LOGS/build-bench.log" >&2
            say "FlatlineBench failed to build"
            exit 1
        }
        say "building SimulatorBench (release)"
        swift build -c release "${scratch[@]}" --product SimulatorBench >"$LOGS/build-simbench.log" 2>&1 ||
            note "SimulatorBench failed to build (see $LOGS/build-simbench.log): simulator rows skipped"
    fi
    local bin="$ROOT/.build/release"
    if [[ -z ${BENCH_BIN:-} || -z ${BENCH_FLATLINE:-} ]]; then
        bin=$(swift build -c release "${scratch[@]}" --show-bin-path 2>/dev/null || echo "$bin")
    fi
    BENCH=${BENCH_BIN:-$bin/FlatlineBench}
    SIMBENCH=${BENCH_SIMBENCH:-$bin/SimulatorBench}
    [[ -x $BENCH ]] || { say "no FlatlineBench binary at $BENCH"; exit 1; }

    if [[ ${BENCH_FLATLINE:-} == none ]]; then
        note "flatline binary not built (BENCH_FLATLINE=none): Flatline rows skipped"
        return
    fi
    if [[ -n ${BENCH_FLATLINE:-} ]]; then
        FLATLINE=$BENCH_FLATLINE
    elif [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
        say "building flatline (release)"
        if swift build -c release "${scratch[@]}" --product flatline >"$LOGS/build-flatline.log" 2>&1; then
            FLATLINE=$bin/flatline
        else
            note "flatline binary not built (swift build --product flatline failed, see $LOGS/build-flatline.log): Flatline rows skipped"
            return
        fi
    else
        FLATLINE=$bin/flatline
    fi
    if [[ ! -x $FLATLINE ]]; then
        note "flatline binary not built (no executable at $FLATLINE): Flatline rows skipped"
        FLATLINE=""
    fi
}

# --- proxies ---------------------------------------------------------------------------------

start_socat() { # NAME LISTEN UPSTREAM
    start_bg "$1" socat -b 1048576 "TCP-LISTEN:$2,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$3"
    wait_listen "$2" "$START_PID" "$1"
}

# start_haproxy NAME MAXCONN (LISTEN UPSTREAM)...: a minimal tcp-mode haproxy in the foreground.
start_haproxy() {
    local name=$1 maxconn=$2; shift 2
    local cfg=$TMP/$name.cfg i=0
    {
        echo "global"
        echo "    maxconn $maxconn"
        echo "defaults"
        echo "    mode tcp"
        echo "    maxconn $maxconn"
        echo "    timeout connect 5s"
        echo "    timeout client 10m"
        echo "    timeout server 10m"
        while (($#)); do
            i=$((i + 1))
            echo "frontend fe$i"
            echo "    bind 127.0.0.1:$1"
            echo "    default_backend be$i"
            echo "backend be$i"
            echo "    server s$i 127.0.0.1:$2"
            shift 2
        done
    } >"$cfg"
    cp "$cfg" "$LOGS/$name.cfg"
    start_bg "$name" haproxy -db -f "$cfg"
    HAPROXY_PID=$START_PID
    wait_listen "$(awk '/bind/ { split($2, a, ":"); print a[2]; exit }' "$cfg")" "$HAPROXY_PID" "$name"
}

api() { # API_PORT METHOD PATH [BODY] -> prints HTTP status, body to $TMP/api.out
    local port=$1 method=$2 path=$3 body=${4:-}
    local args=(-s -o "$TMP/api.out" -w '%{http_code}' --max-time 5 -X "$method" "http://127.0.0.1:$port$path")
    [[ -n $body ]] && args+=(-H 'Content-Type: application/json' -d "$body")
    curl "${args[@]}" || true
}

api_expect() { # EXPECTED-CODES API_PORT METHOD PATH [BODY]
    local expected=$1; shift
    local code
    code=$(api "$@")
    if [[ " $expected " != *" $code "* ]]; then
        say "flatline API $2 $3 answered $code (wanted $expected): $(head -c 300 "$TMP/api.out" 2>/dev/null)"
        return 1
    fi
}

# start_flatline NAME API_PORT [VAR=VALUE...]: sets FLATLINE_PID once GET /version answers; the
# optional assignments go to the process's environment.
start_flatline() {
    local name=$1 port=$2 i
    start_bg "$name" env "${@:3}" "$FLATLINE" proxy --host 127.0.0.1 --port "$port"
    FLATLINE_PID=$START_PID
    for i in $(seq 1 200); do
        if [[ $(api "$port" GET /version) == 200 ]]; then return 0; fi
        if ! kill -0 "$FLATLINE_PID" 2>/dev/null; then
            say "$name exited; its log:"
            tail -n 20 "$LOGS/$name.log" >&2 || true
            return 1
        fi
        sleep 0.05
    done
    say "$name API did not answer GET /version on $port within 10s"
    return 1
}

flatline_proxy() { # API_PORT NAME LISTEN UPSTREAM
    api_expect "201" "$1" POST /proxies \
        "{\"name\":\"$2\",\"listen\":\"127.0.0.1:$3\",\"upstream\":\"127.0.0.1:$4\",\"enabled\":true}"
    wait_listen "$3" "$FLATLINE_PID" "flatline-$2" 10
}

flatline_latency() { # API_PORT PROXY TOXIC STREAM MS
    api_expect "200 201" "$1" POST "/proxies/$2/toxics" \
        "{\"name\":\"$3\",\"type\":\"latency\",\"stream\":\"$4\",\"attributes\":{\"latency\":$5,\"jitter\":0}}"
}

# --- measurements ----------------------------------------------------------------------------

declare -A SINK_OF ECHO_OF
PATHS=()

measure_throughput() {
    local rep path out
    for rep in $(seq 1 "$REPS"); do
        for path in "${PATHS[@]}"; do
            if out=$("$BENCH" throughput --connect "127.0.0.1:${SINK_OF[$path]}" --bytes "$BYTES" \
                --max-seconds 120 --drain-timeout 30 2>>"$LOGS/client.log"); then
                record throughput "$path" "\"rep\":$rep" "$out"
                say "throughput $path rep $rep: $(sed -E 's/.*"mbps":([0-9.]+).*/\1/' <<<"$out") MB/s"
            else
                fail_record throughput "$path" "\"rep\":$rep" "client failed: $(tail -n 1 "$LOGS/client.log")"
            fi
        done
    done
}

# Round trips are taken in PING_ROUNDS rounds that alternate between the paths (each round a new
# connection with its own warm-up), and the report pools each path's samples, so a burst of
# background load on the machine hits every path alike instead of one.
measure_pingpong() {
    local round path out per=$((PINGS / PING_ROUNDS)) warm=$((WARMUP / PING_ROUNDS))
    for round in $(seq 1 "$PING_ROUNDS"); do
        for path in "${PATHS[@]}"; do
            if out=$("$BENCH" latency-accuracy --connect "127.0.0.1:${ECHO_OF[$path]}" --count "$per" \
                --warmup "$warm" --max-seconds 60 2>>"$LOGS/client.log"); then
                record pingpong "$path" "\"rep\":$round" "$out"
                say "pingpong $path round $round: p50 $(sed -E 's/.*"p50_us":([0-9.]+).*/\1/' <<<"$out") us, p99 $(sed -E 's/.*"p99_us":([0-9.]+).*/\1/' <<<"$out") us"
            else
                fail_record pingpong "$path" "\"rep\":$round" "client failed: $(tail -n 1 "$LOGS/client.log")"
            fi
        done
    done
}

# The toxic's accuracy, its error's distribution: each round trip minus the direct one (measured in
# this section the same way) minus the requested latency. The client polls its socket (--spin yes)
# so that no sample holds its own thread's wake-up after a 50 ms sleep, which is the VM's and not the
# proxy's. Two Flatline processes alternate in rounds: the one of the run (timers armed early by the
# learned wake-up lateness) and a baseline with FLATLINE_PRECISE_TIMERS=0 (plain timers).
measure_accuracy() {
    local ms count out round timers api port per
    if out=$("$BENCH" latency-accuracy --connect "127.0.0.1:$ECHO_PORT" --count 2000 --warmup 200 --spin yes \
        --max-seconds 60 2>>"$LOGS/client.log"); then
        record accuracy direct '"requested_ms":0,"timers":"none"' "$out"
    fi
    local main=$FLATLINE_PID plain
    start_flatline flatline-plain "$FL_PLAIN_API_PORT" FLATLINE_PRECISE_TIMERS=0
    plain=$FLATLINE_PID
    FLATLINE_PID=$main
    flatline_proxy "$FL_PLAIN_API_PORT" bench_echo "$FL_PLAIN_PORT" "$ECHO_PORT" || return 1
    for ms in 5 50; do
        count=$ACC5_COUNT
        [[ $ms == 50 ]] && count=$ACC50_COUNT
        per=$((count / 2))
        # The machine's own floor: how late a plain sleep of the same length wakes, as many times.
        if out=$(python3 -c '
import json, sys, time
ms, n = float(sys.argv[1]), int(sys.argv[2])
late = []
for _ in range(n):
    t = time.monotonic(); time.sleep(ms / 1000); late.append((time.monotonic() - t) * 1e6)
print(json.dumps({"bench": "sleep", "samples_us": [round(x, 1) for x in late]}))' "$ms" "$count" 2>>"$LOGS/client.log"); then
            record accuracy sleep "\"requested_ms\":$ms,\"timers\":\"sleep\"" "$out"
        fi
        flatline_latency "$FL_API_PORT" bench_echo lat downstream "$ms"
        flatline_latency "$FL_PLAIN_API_PORT" bench_echo lat downstream "$ms"
        for round in 1 2; do
            for timers in precise plain; do
                api=$FL_API_PORT; port=$FL_ECHO_PORT
                [[ $timers == plain ]] && { api=$FL_PLAIN_API_PORT; port=$FL_PLAIN_PORT; }
                if out=$("$BENCH" latency-accuracy --connect "127.0.0.1:$port" --count "$per" --spin yes \
                    --warmup 20 --max-seconds 60 2>>"$LOGS/client.log"); then
                    record accuracy flatline "\"requested_ms\":$ms,\"timers\":\"$timers\",\"rep\":$round" "$out"
                    say "latency ${ms}ms ($timers timers, round $round): measured p50 $(sed -E 's/.*"p50_us":([0-9.]+).*/\1/' <<<"$out") us"
                else
                    fail_record accuracy flatline "\"requested_ms\":$ms,\"timers\":\"$timers\"" "client failed: $(tail -n 1 "$LOGS/client.log")"
                fi
            done
        done
        api_expect "200 204" "$FL_API_PORT" DELETE /proxies/bench_echo/toxics/lat
        api_expect "200 204" "$FL_PLAIN_API_PORT" DELETE /proxies/bench_echo/toxics/lat
    done
    stop_pid "$plain" "${FLATLINE##*/}"
}

# idle_run PATH PROXY_PID PORT: warm up, read RSS, hold IDLE_CONNS connections, read RSS again.
idle_run() {
    local path=$1 pid=$2 port=$3 before with after ready=$TMP/idle-$1.ready i client_pid
    "$BENCH" pingpong --connect "127.0.0.1:$port" --count 200 --warmup 0 >/dev/null
    sleep 0.5
    before=$(vm_kb "$pid" VmRSS)
    rm -f "$ready"
    start_bg "idle-client-$path" "$BENCH" idle --connect "127.0.0.1:$port" --count "$IDLE_CONNS" \
        --hold "$IDLE_HOLD" --max-seconds 150 --ready-file "$ready"
    client_pid=$START_PID
    for i in $(seq 1 1200); do
        [[ -s $ready ]] && break
        kill -0 "$client_pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -s $ready ]] || { say "idle client for $path never became ready"; tail -n 5 "$LOGS/idle-client-$path.log" >&2; return 1; }
    sleep 1
    with=$(vm_kb "$pid" VmRSS)
    for i in $(seq 1 300); do
        kill -0 "$client_pid" 2>/dev/null || break
        sleep 0.5
    done
    wait "$client_pid" || true
    sleep 0.5
    after=$(vm_kb "$pid" VmRSS)
    local client
    client=$(grep '"bench":"idle"' "$LOGS/idle-client-$path.log" | tail -n 1)
    [[ -n $client ]] || client='null'
    record idle "$path" "" "{\"rss_before_kb\":$before,\"rss_with_kb\":$with,\"rss_after_kb\":$after,\"conns\":$IDLE_CONNS,\"client\":$client}"
    say "idle $path: RSS ${before} kB -> ${with} kB with $IDLE_CONNS connections"
    [[ $before != null && $with != null ]] || return 1
}

idle_haproxy() {
    start_haproxy haproxy-idle "$HAP_MAXCONN" "$HAP_IDLE_PORT" "$ECHO_PORT"
    idle_run haproxy "$HAPROXY_PID" "$HAP_IDLE_PORT"
}

idle_flatline() {
    start_flatline flatline-idle "$FL_IDLE_API_PORT"
    flatline_proxy "$FL_IDLE_API_PORT" bench_idle "$FL_IDLE_PORT" "$ECHO_PORT"
    idle_run flatline "$FLATLINE_PID" "$FL_IDLE_PORT"
}

latency_throughput_flatline() {
    start_flatline flatline-lat "$FL_LAT_API_PORT"
    flatline_proxy "$FL_LAT_API_PORT" bench_lat "$FL_LAT_PORT" "$SINK_PORT"
    flatline_latency "$FL_LAT_API_PORT" bench_lat lat upstream 50
    local hwm_before out hwm rss
    hwm_before=$(vm_kb "$FLATLINE_PID" VmHWM)
    say "a transfer of $BYTES through a 50 ms upstream latency toxic (at most ${LAT_MAX_SECONDS}s of sending)"
    if ! out=$("$BENCH" throughput --connect "127.0.0.1:$FL_LAT_PORT" --bytes "$BYTES" \
        --max-seconds "$LAT_MAX_SECONDS" --drain-timeout 60 2>>"$LOGS/client.log"); then
        out=null
    fi
    hwm=$(vm_kb "$FLATLINE_PID" VmHWM)
    rss=$(vm_kb "$FLATLINE_PID" VmRSS)
    record latency_throughput flatline '"latency_ms":50' \
        "{\"hwm_before_kb\":$hwm_before,\"hwm_kb\":$hwm,\"rss_after_kb\":$rss,\"client\":$out}"
    say "under 50 ms: peak RSS $hwm kB, $(sed -E 's/.*"mbps":([0-9.]+).*/\1/' <<<"$out") MB/s"
    [[ $hwm != null ]] || return 1
}

# --- main ------------------------------------------------------------------------------------

# As many descriptors as allowed: each proxied idle connection costs the proxy two.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $NOFILE != unlimited ]] && ((IDLE_CONNS * 2 + 200 > NOFILE)); then
    new=$(((NOFILE - 200) / 2))
    note "RLIMIT_NOFILE is $NOFILE: idle benchmark reduced from $IDLE_CONNS to $new connections"
    IDLE_CONNS=$new
fi
HAP_MAXCONN=$((IDLE_CONNS + 200))

ensure_tools
build
require_free "$ECHO_PORT" "$SINK_PORT" "$SOCAT_ECHO_PORT" "$SOCAT_SINK_PORT" "$HAP_ECHO_PORT" "$HAP_SINK_PORT" \
    "$HAP_IDLE_PORT" "$FL_API_PORT" "$FL_ECHO_PORT" "$FL_SINK_PORT" "$FL_IDLE_API_PORT" "$FL_IDLE_PORT" \
    "$FL_LAT_API_PORT" "$FL_LAT_PORT"

# 6. The simulator (issue 4): 1,000 Socket.IO connections, 25 s / 20 s heartbeats, 2 server events/s
# of 512 B, 20 ms each way, on one thread. The target run keeps every heartbeat and connection event
# in memory; the baseline is the same run with one timer event per tick (no batching), for one hour;
# the counters-only runs show the simulator's own memory does not grow with simulated time.
simulator_runs() {
    local hours=$SIM_HOURS
    local pin=()
    command -v taskset >/dev/null && pin=(taskset -c 0)
    # Twice: the work is deterministic, so the faster run is the least disturbed by the machine.
    for rep in 1 2; do
        say "   target: $hours simulated h x 1,000 connections (run $rep of 2)"
        "${pin[@]}" "$SIMBENCH" --connections 1000 --hours "$hours" >"$TMP/sim.json" 2>"$LOGS/sim-target-$rep.log"
        record simulator "target-$rep" "" "$(cat "$TMP/sim.json")"
    done
    say "   baseline: 1 simulated h, one event per tick (--exact)"
    "${pin[@]}" "$SIMBENCH" --connections 1000 --hours "$SIM_EXACT_HOURS" --exact >"$TMP/sim.json" 2>"$LOGS/sim-exact.log"
    record simulator exact "" "$(cat "$TMP/sim.json")"
    for h in $SIM_BOUNDED_HOURS; do
        say "   memory: $h simulated h, counters only"
        "${pin[@]}" "$SIMBENCH" --connections 1000 --hours "$h" --recording none >"$TMP/sim.json" 2>"$LOGS/sim-none-$h.log"
        record simulator "counters-$h" "" "$(cat "$TMP/sim.json")"
    done
}

# 7. A long scenario through `flatline run` (simulated): everything a user's run does, the event
# log with every message event, metrics, report and results written. Informational: wall time and
# peak RSS (GNU time, when installed).
# 9. The detector bench (issue 9): every detector's knob swept over the evaluation traces (the Flent
# captures in BENCH_TRACES, default ../shared/data/traces, never copied into the project) and the
# generated conditions; the challenger's dominance over the others is counted from summary.md.
detector_bench() {
    local traces=${BENCH_TRACES:-$ROOT/../shared/data/traces} files=() out="$OUT/detectors"
    if [[ -d $traces ]]; then
        files=("$traces"/*.flent.gz)
    else
        note "no evaluation traces at $traces (set BENCH_TRACES): generated traces only"
    fi
    local start end
    start=$(date +%s%N)
    "$FLATLINE" detectors "${files[@]}" --generate all --out "$out" >"$LOGS/detectors.log" 2>&1
    end=$(date +%s%N)
    local traces_scored comparisons dominated
    traces_scored=$(grep -c '^## ' "$out/summary.md" || true)
    comparisons=$(grep -c ' vs ' "$out/summary.md" || true)
    dominated=$(grep -c ': dominates' "$out/summary.md" || true)
    local challenger
    challenger=$(grep -m1 -o '^- [a-z-]* vs' "$out/summary.md" | cut -d' ' -f2 || true)
    record detectors summary "" "{\"traces\":$traces_scored,\"comparisons\":$comparisons,\"dominated\":$dominated,\"challenger\":$(json_str "$challenger"),\"wall_seconds\":$(awk "BEGIN{print ($end-$start)/1e9}")}"
}

runner_run() {
    local clients=$RUN_CLIENTS out="$TMP/runner-results" start end rss="null"
    cat >"$TMP/long.yaml" <<YAML
name: long
seed: 1
duration: 1h
server: { builtin: socketio, pingInterval: 25s, pingTimeout: 20s }
clients: { count: $clients, builtin: socketio }
link: { both: { latency: 20ms } }
workload:
  serverToClient: { rate: 2/s, size: 512B }
expect: { falseDisconnects: 0 }
YAML
    start=$(date +%s%N)
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f "%M" -o "$TMP/runner-rss" "$FLATLINE" run "$TMP/long.yaml" --out "$out" >"$LOGS/runner.log" 2>&1
        rss=$(tail -n 1 "$TMP/runner-rss")
    else
        "$FLATLINE" run "$TMP/long.yaml" --out "$out" >"$LOGS/runner.log" 2>&1
    fi
    end=$(date +%s%N)
    local bytes
    bytes=$(du -sb "$out" | cut -f1)
    record runner flatline "" "{\"clients\":$clients,\"simulated_hours\":1,\"wall_seconds\":$(awk "BEGIN{print ($end-$start)/1e9}"),\"peak_rss_kib\":$rss,\"results_bytes\":$bytes}"
    rm -rf "$out"
}

# 8. The benchmark tests that the default `swift test` run leaves out (FLATLINE_BENCH=1), in a debug
# build: printed, their lines kept as notes. Skipped with BENCH_SKIP_BUILD=1 (they need a build).
bench_tests() {
    local scratch=() lines
    [[ -n ${BENCH_SCRATCH:-} ]] && scratch=(--scratch-path "$BENCH_SCRATCH")
    FLATLINE_BENCH=1 swift test "${scratch[@]}" --filter SimulationBenchmarkTests >"$LOGS/bench-tests.log" 2>&1 || {
        tail -n 30 "$LOGS/bench-tests.log" >&2
        return 1
    }
    lines=$(grep '^simulator benchmark:' "$LOGS/bench-tests.log" || true)
    [[ -n $lines ]] || { say "the benchmark tests printed nothing (see $LOGS/bench-tests.log)"; return 1; }
    while IFS= read -r line; do note "swift test (FLATLINE_BENCH=1, debug): $line"; done <<<"$lines"
}

versions() {
    local swiftv socatv hapv rev
    swiftv=$(swift --version 2>/dev/null | head -n 1 || true)
    socatv=$(socat -V 2>/dev/null | awk '/socat version/ { print $3; exit }' || true)
    hapv=$(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3; exit }' || true)
    rev=$(git rev-parse --short HEAD 2>/dev/null || echo "uncommitted")
    printf '{"section":"meta","data":{"date":%s,"kernel":%s,"cpus":%s,"swift":%s,"socat":%s,"haproxy":%s,"git":%s,"quick":%s,"bytes":%s,"reps":%s,"pings":%s,"warmup":%s,"idle_conns":%s,"nofile":%s,"flatline":%s,"loadavg_start":%s}}\n' \
        "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$(uname -r)")" "$(nproc)" \
        "$(json_str "$swiftv")" "$(json_str "$socatv")" "$(json_str "$hapv")" "$(json_str "$rev")" \
        "$([[ $QUICK == 1 ]] && echo true || echo false)" "$(json_str "$BYTES")" "$REPS" "$PINGS" "$WARMUP" \
        "$IDLE_CONNS" "$(json_str "$NOFILE")" "$([[ -n $FLATLINE ]] && json_str "$FLATLINE" || echo null)" \
        "$(json_str "$(cut -d' ' -f1-3 /proc/loadavg)")" >>"$RAW"
}
versions

say "starting echo and sink servers"
start_bg echo "$BENCH" echo --port "$ECHO_PORT" --lifetime 1800
wait_listen "$ECHO_PORT" "$START_PID" echo
start_bg sink "$BENCH" sink --port "$SINK_PORT" --lifetime 1800
wait_listen "$SINK_PORT" "$START_PID" sink
PATHS=(direct); SINK_OF[direct]=$SINK_PORT; ECHO_OF[direct]=$ECHO_PORT

if command -v socat >/dev/null; then
    start_socat socat-echo "$SOCAT_ECHO_PORT" "$ECHO_PORT"
    start_socat socat-sink "$SOCAT_SINK_PORT" "$SINK_PORT"
    PATHS+=(socat); SINK_OF[socat]=$SOCAT_SINK_PORT; ECHO_OF[socat]=$SOCAT_ECHO_PORT
fi
if command -v haproxy >/dev/null; then
    start_haproxy haproxy "$HAP_MAXCONN" "$HAP_ECHO_PORT" "$ECHO_PORT" "$HAP_SINK_PORT" "$SINK_PORT"
    PATHS+=(haproxy); SINK_OF[haproxy]=$HAP_SINK_PORT; ECHO_OF[haproxy]=$HAP_ECHO_PORT
fi
if [[ -n $FLATLINE ]]; then
    if start_flatline flatline "$FL_API_PORT" &&
        flatline_proxy "$FL_API_PORT" bench_echo "$FL_ECHO_PORT" "$ECHO_PORT" &&
        flatline_proxy "$FL_API_PORT" bench_sink "$FL_SINK_PORT" "$SINK_PORT"; then
        PATHS+=(flatline); SINK_OF[flatline]=$FL_SINK_PORT; ECHO_OF[flatline]=$FL_ECHO_PORT
    else
        note "Flatline did not start or refused a proxy (see $LOGS/flatline.log): Flatline rows skipped"
        FLATLINE=""
    fi
fi
say "paths: ${PATHS[*]}"

say "1. throughput: $BYTES x $REPS per path"
run_section throughput measure_throughput
say "2. round trips: $PINGS 1-byte ping-pongs per path in $PING_ROUNDS rounds"
run_section pingpong measure_pingpong
if [[ -n $FLATLINE ]]; then
    say "3. latency toxic accuracy (5 ms, 50 ms downstream)"
    run_section accuracy measure_accuracy
fi

say "4. $IDLE_CONNS idle connections (fresh proxy processes)"
if command -v haproxy >/dev/null; then run_section idle idle_haproxy; fi
if [[ -n $FLATLINE ]]; then run_section idle idle_flatline; fi

if [[ -n $FLATLINE ]]; then
    say "5. throughput and peak memory under 50 ms latency (fresh Flatline process)"
    run_section latency_throughput latency_throughput_flatline
fi

if [[ -x $SIMBENCH ]]; then
    say "6. simulator: 1,000 connections x $SIM_HOURS simulated h (one core)"
    run_section simulator simulator_runs
else
    note "SimulatorBench not built: simulator rows skipped"
fi
if [[ -n $FLATLINE ]]; then
    say "7. flatline run: $RUN_CLIENTS clients x 1 simulated h, every message logged"
    run_section runner runner_run
fi

if [[ -n $FLATLINE ]]; then
    say "9. detector bench: knobs swept over the evaluation traces and the generated conditions"
    run_section detectors detector_bench
fi

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    say "8. benchmark tests (FLATLINE_BENCH=1 swift test --filter SimulationBenchmarkTests, debug)"
    run_section bench_tests bench_tests
fi

printf '{"section":"meta_end","data":{"loadavg_end":%s,"seconds":%s}}\n' \
    "$(json_str "$(cut -d' ' -f1-3 /proc/loadavg)")" "$(($(date +%s) - STARTED_AT))" >>"$RAW"
say "writing $OUT/results.json and $OUT/table.md"
python3 "$ROOT/scripts/bench-report.py" --raw "$RAW" --out "$OUT"
REPORTED=1
say "done in $(($(date +%s) - STARTED_AT))s"
