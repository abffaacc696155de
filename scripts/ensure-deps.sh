#!/usr/bin/env bash
# Installs what `make test` and `make demo` need on a fresh Debian machine, only when missing:
# the Swift toolchain must already be there; Debian packages through apt-get; the Python peers
# (pytest, the Toxiproxy client) in a venv under .venv/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
[ -f /usr/share/nodejs/ws/index.js ] || need_apt+=(node-ws)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)  # gzip'd trace files (Flent)
if [ "${1:-}" = "--bench" ]; then
  command -v socat >/dev/null 2>&1 || need_apt+=(socat)
  command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: the Swift toolchain (swift 6.x) is not on PATH" >&2
  exit 1
fi

# Python peers for the interoperability tests.
PY_REQS="pytest==9.0.3 toxiproxy-python==0.1.1 requests python-socketio==5.18.1 python-engineio==4.15.1 aiohttp==3.14.5 websockets==17.4 grpcio==1.85.3"
stamp=.venv/.flatline-reqs
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$PY_REQS" ]; then
  echo "==> creating the Python venv (.venv) for interop tests"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check $PY_REQS
  echo "$PY_REQS" > "$stamp"
fi

# The socket.io JS client (browser bundle, v4) for the interop tests, taken from a PyPI wheel that
# ships it (NiceGUI serves it to its browsers); kept under .venv/, never committed.
JS_WHEEL="nicegui==3.18.0"
if [ ! -f .venv/socketio-js/socket.io.min.js ]; then
  echo "==> fetching socket.io.min.js from the $JS_WHEEL wheel"
  rm -rf .venv/wheels && mkdir -p .venv/wheels .venv/socketio-js
  .venv/bin/pip download -q --disable-pip-version-check --no-deps "$JS_WHEEL" -d .venv/wheels
  .venv/bin/python - <<'PY'
import glob, zipfile
wheel = glob.glob(".venv/wheels/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("nicegui/static/socket.io.min.js")
open(".venv/socketio-js/socket.io.min.js", "wb").write(data)
PY
  rm -rf .venv/wheels
fi
