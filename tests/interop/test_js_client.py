"""The socket.io JS client (v4, the browser bundle socket.io.min.js taken at test time from a PyPI
wheel that ships it) against Flatline's built-in server, in node with Debian's node-ws: it must
connect, exchange events and acks both ways, and time out ("ping timeout") when the link through
Flatline's proxy stalls, at its last ping + pingInterval + pingTimeout.
"""
import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest
import requests
from interop_support import free_port, wait_port

BIN = os.environ.get("FLATLINE_BIN")
BUNDLE = os.environ.get("SOCKETIO_JS")
WS = os.environ.get("NODE_WS", "/usr/share/nodejs/ws")
pytestmark = pytest.mark.skipif(not (BIN and BUNDLE and shutil.which("node")),
                                reason="FLATLINE_BIN, SOCKETIO_JS or node missing (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent


def run_js(url, seconds, timeout=30):
    out = subprocess.run(["node", str(HERE / "js_client.js"), BUNDLE, WS, url, str(seconds)],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


def serve_behind_proxy(*server_args):
    """Flatline's Socket.IO server (with `server_args`) and `flatline proxy` in front of it, as a
    proxy named "js"; returns the two processes, the API port and the proxy's listen port."""
    port, api, listen = free_port(), free_port(), free_port()
    server = subprocess.Popen([BIN, "serve", "socketio", "--port", str(port), *server_args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proxy = subprocess.Popen([BIN, "proxy", "--port", str(api)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        wait_port(api)
        assert requests.post(f"http://127.0.0.1:{api}/proxies", json={
            "name": "js", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{port}"}).status_code == 201
    except BaseException:
        for p in (server, proxy):
            p.kill()
            p.communicate(timeout=5)
        raise
    return server, proxy, api, listen


def test_js_client_exchanges_events_with_flatline_server():
    port = free_port()
    server = subprocess.Popen([BIN, "serve", "socketio", "--port", str(port), "--ping-interval", "300ms",
                               "--ping-timeout", "1s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port)
        events = run_js(f"http://127.0.0.1:{port}", 1.2)
    finally:
        server.terminate()
        server_out, _ = server.communicate(timeout=5)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "connect"
    assert {"type": "ack", "data": {"from": "js", "n": 1}}.items() <= [e for e in events if e["type"] == "ack"][0].items()
    assert any(e["type"] == "echo" and e["data"] == {"from": "js", "n": 1} for e in events)
    assert any(e["type"] == "question" and e["data"] == {"n": 21} for e in events)
    assert kinds.count("ping") >= 2
    assert events[-1]["type"] == "disconnect" and events[-1]["reason"] == "io client disconnect"
    server_events = [json.loads(l) for l in server_out.splitlines()]
    assert any(e["type"] == "message_received" and e.get("detail") == "ack:question" for e in server_events)


def test_js_client_times_out_when_the_link_stalls():
    interval, timeout = 0.3, 0.5
    server, proxy, api, listen = serve_behind_proxy("--ping-interval", "300ms", "--ping-timeout", "500ms")
    js = None
    try:
        js = subprocess.Popen(["node", str(HERE / "js_client.js"), BUNDLE, WS, f"http://127.0.0.1:{listen}", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        for stream in ("upstream", "downstream"):
            assert requests.post(f"http://127.0.0.1:{api}/proxies/js/toxics",
                                 json={"name": f"stall_{stream}", "type": "stall", "stream": stream}).status_code == 200
        out, err = js.communicate(timeout=30)
    finally:
        for p in (server, proxy, js):
            if p and p.poll() is None:
                p.terminate()
                p.communicate(timeout=5)
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    disconnect = events[-1]
    assert disconnect["type"] == "disconnect" and disconnect["reason"] == "ping timeout", events
    last_ping = max(e["t"] for e in events if e["type"] == "ping")
    detection = disconnect["t"] - last_ping
    # engine.io-client: setTimeout(pingInterval + pingTimeout) from the last ping; node timers are
    # late by a few ms, never early.
    assert interval + timeout - 0.005 <= detection <= interval + timeout + 0.1, detection
    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "stall-detection-js-client.json").write_text(json.dumps({
        "pingInterval_s": interval, "pingTimeout_s": timeout,
        "socketio_js_client_detection_after_last_ping_s": round(detection, 4),
    }, indent=2) + "\n")


def test_js_client_recovers_its_session_and_the_missed_events_after_a_reset():
    """Connection state recovery (issue 11): the real socket.io JS client 4.8.1 against Flatline's
    server with recovery on. The proxy resets the client's connection and refuses its reconnects
    for a second (reset_peer); when it lets them through, the client reconnects with the private id
    and offset it was given, gets its socket id back with `recovered` true, and receives every
    broadcast event produced meanwhile, in order, once."""
    rate = 10
    server, proxy, api, listen = serve_behind_proxy("--ping-interval", "500ms", "--ping-timeout", "500ms",
                                                    "--broadcast-rate", f"{rate}/s", "--connection-state-recovery", "1m")
    js = None
    try:
        js = subprocess.Popen(["node", str(HERE / "js_recovery_client.js"), BUNDLE, WS, f"http://127.0.0.1:{listen}", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert requests.post(f"http://127.0.0.1:{api}/proxies/js/toxics", json={
            "name": "cut", "type": "reset_peer", "stream": "downstream", "attributes": {"timeout": 0}}).status_code == 200
        time.sleep(1.0)
        assert requests.delete(f"http://127.0.0.1:{api}/proxies/js/toxics/cut").status_code == 204
        out, err = js.communicate(timeout=30)
    finally:
        for p in (server, proxy, js):
            if p and p.poll() is None:
                p.terminate()
                p.communicate(timeout=5)
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    connects = [e for e in events if e["type"] == "connect"]
    disconnects = [e for e in events if e["type"] == "disconnect"]
    assert len(connects) >= 2 and disconnects, events
    assert disconnects[0]["reason"] in ("transport close", "transport error"), disconnects
    first, last = connects[0], connects[-1]
    assert first["recovered"] is False
    assert last["recovered"] is True and last["id"] == first["id"], connects
    seqs = [e["seq"] for e in events if e["type"] == "broadcast"]
    # Every event from the first received to the last, once and in order: none lost across the cut.
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    # The offset socket.io appends is a string the client handed its handler as the last argument.
    assert all(isinstance(e["offset"], str) for e in events if e["type"] == "broadcast")
    cut_at = disconnects[0]["t"]
    back_at = last["t"]
    assert back_at - cut_at >= 0.8, (cut_at, back_at)
    # About rate × time away were produced while it was away. The server replays them before its
    # CONNECT answer; socket.io-client buffers them and hands them over just before "connect".
    at = events.index(last)
    since = max(i for i, e in enumerate(events[:at]) if e["type"] in ("disconnect", "connect_error"))
    replayed = [e for e in events[since + 1:at] if e["type"] == "broadcast"]
    assert len(replayed) >= int(rate * (back_at - cut_at) * 0.7), (len(replayed), cut_at, back_at)
    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "recovery-js-client.json").write_text(json.dumps({
        "broadcast_rate_per_s": rate, "time_away_s": round(back_at - cut_at, 3),
        "events_replayed_on_recovery": len(replayed), "events_received": len(seqs),
        "recovered": last["recovered"], "same_socket_id": last["id"] == first["id"],
    }, indent=2) + "\n")
