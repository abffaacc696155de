#!/usr/bin/env bash
# Interoperability tests against real third-party clients (Python, from PyPI, in .venv):
# starts `flatline proxy` and a loopback echo server on free ports, runs pytest, stops both.
# Arguments go to pytest, e.g. `bash scripts/interop-tests.sh -k live_external`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(swift build --show-bin-path)/flatline"
[ -x "$bin" ] || swift build --product flatline
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
api_port=$(free_port)
echo_port=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
.venv/bin/python tests/interop/echo_server.py "$echo_port" &
pids+=($!)
"$bin" proxy --host 127.0.0.1 --port "$api_port" --seed 7 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$api_port/version" >/dev/null && break
  sleep 0.1
done
SOCKETIO_JS="$PWD/.venv/socketio-js/socket.io.min.js" FLATLINE_BIN="$bin" FLATLINE_API="127.0.0.1:$api_port" FLATLINE_ECHO="127.0.0.1:$echo_port" \
  .venv/bin/python -m pytest -q tests/interop "$@"
