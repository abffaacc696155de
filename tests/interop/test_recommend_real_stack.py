"""`flatline recommend` for python-socketio, applied to the real python-socketio server and client.

The recommendation is computed from a sample file (1 s heartbeats, loopback round trips) for short
settings: survive stalls of 2 s, detect a dead network within 8 s. The proposed ping_interval and
ping_timeout then run in the real python-socketio AsyncServer (PyPI) with the real AsyncClient,
through Flatline's proxy: three 2 s stalls, both ways, at different points of the ping cycle, must
disconnect neither side, and a dead link (a stall that does not end) must be detected by the
server within the predicted worst case (ping_interval + 2·ping_timeout, python-engineio's lazy
check) and no sooner than ping_timeout, and by the client within ping_interval + ping_timeout.
Measured values are written under results/interop/.
"""
import asyncio
import json
import os
import pathlib
import subprocess
import sys
import time

import shutil

import pytest
import requests
import socketio
from interop_support import free_port, wait_port

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent


def recommend(tmp_path, stack="python-socketio", extra=()):
    samples = tmp_path / "samples.json"
    arrivals = [i * 1.0 + 0.002 * (i % 5) for i in range(3600)]
    samples.write_text(json.dumps({"arrival_s": arrivals, "rtt_ms": [0.4 + 0.01 * (i % 40) for i in range(2000)]}))
    out = tmp_path / "rec"
    run = subprocess.run([BIN, "recommend", "--from", str(samples), "--stack", stack,
                          "--max-false", "1/10h", "--detect-within", "8s", "--tolerate-stall", "2s",
                          "--out", str(out), *extra], capture_output=True, text=True, timeout=120)
    # No scenario given: the learned model is replayed in simulation (exit 0 when it passes);
    # this test runs the settings in the real stack besides.
    assert run.returncode == 0, run.stdout + run.stderr
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["feasible"] is True, rec
    assert rec["validated"]["passed"] is True and rec["validated"]["scenarios"] == ["the learned model"], rec["validated"]
    return rec


def toxics(api, on, proxy):
    for stream in ("upstream", "downstream"):
        if on:
            r = requests.post(f"http://127.0.0.1:{api}/proxies/{proxy}/toxics",
                              json={"name": f"stall_{stream}", "type": "stall", "stream": stream})
            assert r.status_code == 200, r.text
        else:
            r = requests.delete(f"http://127.0.0.1:{api}/proxies/{proxy}/toxics/stall_{stream}")
            assert r.status_code == 204, r.text


def stalls_then_dead(api, proxy, interval, timeout, alive):
    """Three 2 s stalls both ways at different phases of the heartbeat cycle, each followed by a
    wait of interval + timeout + 1 s and the check `alive()`; then a stall that does not end.
    Returns the instant the link died (time.monotonic)."""
    for offset in (0.0, interval / 3, 2 * interval / 3):
        time.sleep(offset)
        toxics(api, True, proxy)
        time.sleep(2.0)
        toxics(api, False, proxy)
        time.sleep(interval + timeout + 1)
        assert alive(), "a 2 s stall ended the connection"
    toxics(api, True, proxy)
    return time.monotonic()


def test_python_socketio_recommendation_holds_on_the_real_stack(procs, tmp_path):
    rec = recommend(tmp_path)
    interval = float(rec["settings"]["ping_interval"])
    timeout = float(rec["settings"]["ping_timeout"])
    assert interval == int(interval) and timeout == int(timeout), "python-engineio: whole seconds"
    assert timeout >= 2, "tolerates 2 s stalls"
    predicted_max = rec["predicted"]["detection_max_s"]["value"]
    assert predicted_max == interval + 2 * timeout and predicted_max <= 8

    sio_port = free_port()
    server = procs.start([sys.executable, str(HERE / "sio_server.py"), str(sio_port), str(interval), str(timeout)])
    wait_port(sio_port, server)
    api, listen = free_port(), free_port()
    proxy = procs.start([BIN, "proxy", "--port", str(api), "--seed", "1"])
    wait_port(api, proxy)
    r = requests.post(f"http://127.0.0.1:{api}/proxies",
                      json={"name": "sio", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{sio_port}"})
    assert r.status_code == 201, r.text

    async def run():
        client = socketio.AsyncClient(reconnection=False)
        gone = asyncio.get_running_loop().create_future()

        @client.event
        async def disconnect(reason=None):
            if not gone.done():
                gone.set_result((time.monotonic(), str(reason)))

        await client.connect(f"http://127.0.0.1:{listen}", transports=["websocket"], wait_timeout=10)
        await asyncio.sleep(2.5)
        # Three 2 s stalls at different phases of the ping cycle, survived, then the dead link (in a
        # thread: the client's heartbeat runs on this event loop).
        dead_at = await asyncio.to_thread(stalls_then_dead, api, "sio", interval, timeout, lambda: not gone.done())
        survived = client.connected
        detected_at, reason = await asyncio.wait_for(gone, interval + 2 * timeout + 5)
        return survived, dead_at, detected_at, reason

    survived, dead_at, client_detected_at, client_reason = asyncio.run(run())
    time.sleep(max(0.0, dead_at + interval + 2 * timeout + 1 - time.monotonic()))
    events = [json.loads(line) for line in procs.stop(server).splitlines() if line.strip()]
    assert survived
    disconnects = [e for e in events if e["type"] == "disconnect"]
    assert len(disconnects) == 1, events
    server_detection = disconnects[0]["m"] - dead_at
    client_detection = client_detected_at - dead_at
    # The server: no sooner than ping_timeout, no later than the predicted worst case (plus
    # scheduling slack on a loaded machine).
    assert timeout <= server_detection <= predicted_max + 0.5, server_detection
    assert client_detection <= interval + timeout + 0.5, client_detection
    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "recommend-python-socketio.json").write_text(json.dumps({
        "ping_interval_s": interval, "ping_timeout_s": timeout, "predicted_detection_max_s": predicted_max,
        "server_detection_s": round(server_detection, 3), "server_reason": disconnects[0]["reason"],
        "client_detection_s": round(client_detection, 3), "client_reason": client_reason,
        "stalls_survived": 3,
    }, indent=2) + "\n")


BUNDLE = os.environ.get("SOCKETIO_JS")
WS = os.environ.get("NODE_WS", "/usr/share/nodejs/ws")


@pytest.mark.skipif(not (BUNDLE and shutil.which("node")), reason="SOCKETIO_JS or node missing")
def test_socketio_js_recommendation_holds_with_the_real_js_client(procs, tmp_path):
    """The socketio-js recommendation in a socket.io server (Flatline's, which keeps the JS
    server's timers) with the real socket.io JS client in node: 2 s stalls survived, the dead link
    detected by the client at its last ping + pingInterval + pingTimeout, within the prediction."""
    rec = recommend(tmp_path, "socketio-js")
    interval_ms = int(rec["settings"]["pingInterval"])
    timeout_ms = int(rec["settings"]["pingTimeout"])
    interval, timeout = interval_ms / 1000, timeout_ms / 1000
    assert timeout >= 2 and rec["predicted"]["detection_max_s"]["value"] == interval + timeout <= 8
    port = free_port()
    server = procs.start([BIN, "serve", "socketio", "--port", str(port), "--ping-interval", f"{interval_ms}ms",
                          "--ping-timeout", f"{timeout_ms}ms"])
    wait_port(port, server)
    api, listen = free_port(), free_port()
    proxy = procs.start([BIN, "proxy", "--port", str(api), "--seed", "1"])
    wait_port(api, proxy)
    assert requests.post(f"http://127.0.0.1:{api}/proxies", json={
        "name": "js", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{port}"}).status_code == 201
    started = time.monotonic()
    js = procs.start(["node", str(HERE / "js_client.js"), BUNDLE, WS, f"http://127.0.0.1:{listen}", "60"])
    time.sleep(3)
    dead_at = stalls_then_dead(api, "js", interval, timeout, lambda: js.poll() is None)
    out, _ = js.communicate(timeout=interval + timeout + 20)
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    disconnects = [e for e in events if e["type"] == "disconnect"]
    assert len(disconnects) == 1 and disconnects[0]["reason"] == "ping timeout", events
    # Not during a stall: the client's clock starts after `started`, so its times are at most ours.
    assert disconnects[0]["t"] >= dead_at - started - 1.0, (disconnects[0], dead_at - started)
    last_ping = max(e["t"] for e in events if e["type"] == "ping")
    detection = disconnects[0]["t"] - last_ping
    assert interval + timeout - 0.005 <= detection <= interval + timeout + 0.1, detection
    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "recommend-socketio-js.json").write_text(json.dumps({
        "pingInterval_ms": interval_ms, "pingTimeout_ms": timeout_ms,
        "predicted_detection_max_s": rec["predicted"]["detection_max_s"]["value"],
        "client_detection_after_last_ping_s": round(detection, 3), "stalls_survived": 3,
    }, indent=2) + "\n")


def grpc_watch(target, settings):
    """A channel with exactly the recommended channel arguments and an open server stream on it."""
    import grpc
    channel = grpc.insecure_channel(target, options=[(key, int(value)) for key, value in settings.items()])
    call = channel.unary_stream("/flatline.Feed/Watch", request_serializer=None, response_deserializer=None)(b"")
    return channel, call


def test_grpc_keepalive_recommendation_holds_with_grpcio(procs, tmp_path):
    """The gRPC recommendation with grpcio on both sides, through the proxy. With the server's
    minimum ping interval at its default (5 min) the recommender refuses short keepalives, and a
    real grpcio server does send GOAWAY too_many_pings to a 4 s keepalive; lowered to 1 s
    (--min-ping-interval), the proposed keepalive survives 2 s stalls and detects a dead link
    within keepalive time + timeout. grpcio needs grpc.http2.ping_timeout_ms for that (its default,
    one minute, overrides keepalive_timeout_ms): the recommendation sets it."""
    grpc = pytest.importorskip("grpc")
    import threading
    default = subprocess.run([BIN, "recommend", "--from", str(tmp_path / "none.json"), "--stack", "grpc", "--max-false", "1/10h",
                              "--detect-within", "8s", "--tolerate-stall", "2s", "--out", str(tmp_path / "d")],
                             capture_output=True, text=True, timeout=60)
    assert default.returncode == 2  # no such source: exit 2 before anything
    rec = recommend(tmp_path, "grpc", ("--min-ping-interval", "1s"))
    keepalive_ms = int(rec["settings"]["grpc.keepalive_time_ms"])
    timeout_ms = int(rec["settings"]["grpc.keepalive_timeout_ms"])
    assert timeout_ms >= 2000 and (keepalive_ms + timeout_ms) / 1000 <= 8
    assert int(rec["settings"]["grpc.http2.ping_timeout_ms"]) == timeout_ms
    # Without --min-ping-interval the 300 s server minimum makes 8 s detection infeasible.
    strict_out = tmp_path / "strict"
    strict = subprocess.run([BIN, "recommend", "--from", str(tmp_path / "samples.json"), "--stack", "grpc",
                             "--max-false", "1/10h", "--detect-within", "8s", "--tolerate-stall", "2s", "--out", str(strict_out)],
                            capture_output=True, text=True, timeout=60)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert json.loads((strict_out / "recommendation.json").read_text())["feasible"] is False

    # The constraint is real: a grpcio server at its default minimum answers a 4 s keepalive with
    # GOAWAY too_many_pings.
    strict_port = free_port()
    strict_server = procs.start([sys.executable, str(HERE / "grpc_peer.py"), str(strict_port), "300000"])
    wait_port(strict_port, strict_server)
    channel, call = grpc_watch(f"127.0.0.1:{strict_port}", rec["settings"])
    assert next(call) == b"hello"
    with pytest.raises(grpc.RpcError) as refused:
        for _ in call:
            pass
    assert "too_many_pings" in str(refused.value.details()) or refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
    channel.close()

    port = free_port()
    server = procs.start([sys.executable, str(HERE / "grpc_peer.py"), str(port), "1000"])
    wait_port(port, server)
    api, listen = free_port(), free_port()
    proxy = procs.start([BIN, "proxy", "--port", str(api), "--seed", "1"])
    wait_port(api, proxy)
    assert requests.post(f"http://127.0.0.1:{api}/proxies", json={
        "name": "grpc", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{port}"}).status_code == 201
    channel, call = grpc_watch(f"127.0.0.1:{listen}", rec["settings"])
    assert next(call) == b"hello"
    ended = {}

    def drain():
        try:
            for _ in call:
                pass
            ended["error"] = None
        except grpc.RpcError as error:
            ended["error"] = error
        ended["at"] = time.monotonic()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    interval, timeout = keepalive_ms / 1000, timeout_ms / 1000
    time.sleep(interval + 1)
    dead_at = stalls_then_dead(api, "grpc", interval, timeout, lambda: "at" not in ended)
    reader.join(interval + timeout + 10)
    assert "at" in ended and ended["error"] is not None, ended
    detection = ended["at"] - dead_at
    assert ended["error"].code() == grpc.StatusCode.UNAVAILABLE, ended["error"]
    assert timeout - 0.1 <= detection <= interval + timeout + 0.5, detection
    channel.close()
    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "recommend-grpc.json").write_text(json.dumps({
        "keepalive_time_ms": keepalive_ms, "keepalive_timeout_ms": timeout_ms,
        "predicted_detection_max_s": rec["predicted"]["detection_max_s"]["value"],
        "detection_s": round(detection, 3), "stalls_survived": 3,
        "default_server_minimum_answered": str(refused.value.details()),
    }, indent=2) + "\n")
