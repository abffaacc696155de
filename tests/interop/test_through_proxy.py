"""Heartbeats through Flatline's fault proxy, with real python-socketio peers.

1. The proxy's Engine.IO tap reports the RTT of python-socketio's own heartbeats (python server,
   python client), with no instrumentation in either.
2. A stalled link is detected when each protocol says: Flatline's server closes with "ping
   timeout" pingTimeout after its unanswered ping (within 100 ms); python-socketio's client's
   detection time is measured in the same run and recorded under results/interop/.
"""
import asyncio
import json
import os
import pathlib
import sys
import time

import pytest
import requests
import socketio
from interop_support import free_port, wait_port

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent


def start_proxy(procs, tmp_path, upstream_port):
    api, listen = free_port(), free_port()
    tap = tmp_path / "tap.jsonl"
    proxy = procs.start([BIN, "proxy", "--port", str(api), "--events", str(tap), "--seed", "1"])
    wait_port(api, proxy)
    r = requests.post(f"http://127.0.0.1:{api}/proxies",
                      json={"name": "sio", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{upstream_port}"})
    assert r.status_code == 201, r.text
    return proxy, api, listen, tap


def test_tap_reports_rtt_of_python_socketio_heartbeats(procs, tmp_path):
    sio_port = free_port()
    server = procs.start([sys.executable, str(HERE / "sio_server.py"), str(sio_port), "0.3", "2"])
    wait_port(sio_port, server)
    proxy, api, listen, tap = start_proxy(procs, tmp_path, sio_port)

    async def run():
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(f"http://127.0.0.1:{listen}", transports=["websocket"])
        reply = await client.call("echo", {"x": 1}, timeout=5)
        await asyncio.sleep(1.1)
        await client.disconnect()
        return reply

    assert asyncio.run(run()) == {"x": 1}
    time.sleep(0.2)
    procs.stop(proxy)
    events = [json.loads(line) for line in tap.read_text().splitlines() if line.strip()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "connect"
    pongs = [e for e in events if e["type"] == "pong"]
    assert kinds.count("ping") >= 3 and len(pongs) >= 3, kinds
    assert all(0 < e["rtt_ms"] < 100 for e in pongs), pongs
    assert kinds[-1] == "disconnect"


def test_stalled_link_is_detected_when_each_protocol_says(procs, tmp_path):
    interval, timeout = 0.3, 0.5
    sio_port = free_port()
    server = procs.start([BIN, "serve", "socketio", "--port", str(sio_port), "--ping-interval", "300ms",
                          "--ping-timeout", "500ms"])
    wait_port(sio_port, server)
    proxy, api, listen, tap = start_proxy(procs, tmp_path, sio_port)

    async def run():
        client = socketio.AsyncClient(reconnection=False)
        gone = asyncio.get_running_loop().create_future()

        @client.event
        async def disconnect(reason=None):
            if not gone.done():
                gone.set_result((time.monotonic(), str(reason)))

        await client.connect(f"http://127.0.0.1:{listen}", transports=["websocket"])
        await asyncio.sleep(1.0)  # a few heartbeats first
        for stream in ("upstream", "downstream"):
            r = requests.post(f"http://127.0.0.1:{api}/proxies/sio/toxics",
                              json={"name": f"stall_{stream}", "type": "stall", "stream": stream})
            assert r.status_code == 200, r.text
        stalled_at = time.monotonic()
        detected_at, reason = await asyncio.wait_for(gone, 10)
        return stalled_at, detected_at, reason

    stalled_at, client_detected_at, client_reason = asyncio.run(run())
    out = procs.stop(server)
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    disconnect = [e for e in events if e["type"] == "disconnect"]
    assert len(disconnect) == 1 and disconnect[0]["reason"] == "ping timeout", disconnect
    last_ping = max(e["t"] for e in events if e["type"] == "ping" and e["t"] < disconnect[0]["t"])
    server_detection = disconnect[0]["t"] - last_ping
    # Flatline's server: unanswered ping + pingTimeout, within 100 ms.
    assert timeout <= server_detection <= timeout + 0.1, server_detection
    # python-socketio's client: no ping within pingInterval + pingTimeout of the last one.
    client_detection = client_detected_at - stalled_at
    assert client_detection <= interval + timeout + 1.0, client_detection
    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "stall-detection.json").write_text(json.dumps({
        "pingInterval_s": interval, "pingTimeout_s": timeout,
        "flatline_server_detection_after_unanswered_ping_s": round(server_detection, 4),
        "python_socketio_client_detection_after_stall_s": round(client_detection, 4),
        "python_socketio_client_reason": client_reason,
    }, indent=2) + "\n")


def test_flatline_client_detects_a_stalled_link_at_last_ping_plus_interval_plus_timeout(procs, tmp_path):
    # Whole seconds: python-engineio advertises int(ping_interval) * 1000, truncating fractions.
    interval, timeout = 1.0, 1.0
    sio_port = free_port()
    server = procs.start([sys.executable, str(HERE / "sio_server.py"), str(sio_port), str(interval), str(timeout)])
    wait_port(sio_port, server)
    proxy, api, listen, tap = start_proxy(procs, tmp_path, sio_port)
    client = procs.start([BIN, "connect", "socketio", f"http://127.0.0.1:{listen}", "--reconnection", "off",
                          "--duration", "8s"])
    time.sleep(2.5)
    for stream in ("upstream", "downstream"):
        r = requests.post(f"http://127.0.0.1:{api}/proxies/sio/toxics",
                          json={"name": f"stall_{stream}", "type": "stall", "stream": stream})
        assert r.status_code == 200, r.text
    out, _ = client.communicate(timeout=30)
    events = [json.loads(l) for l in out.splitlines()]
    disconnect = [e for e in events if e["type"] == "disconnect"]
    assert len(disconnect) == 1 and disconnect[0]["reason"] == "ping timeout", events
    last_ping = max(e["t"] for e in events if e["type"] == "ping")
    detection = disconnect[0]["t"] - last_ping
    assert interval + timeout <= detection <= interval + timeout + 0.1, detection
    server_log = [json.loads(l) for l in procs.stop(server).splitlines() if l.startswith("{")]
    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "stall-detection-flatline-client.json").write_text(json.dumps({
        "pingInterval_s": interval, "pingTimeout_s": timeout,
        "flatline_client_detection_after_last_ping_s": round(detection, 4),
        "python_socketio_server_disconnect": [e for e in server_log if e["type"] == "disconnect"],
    }, indent=2) + "\n")
