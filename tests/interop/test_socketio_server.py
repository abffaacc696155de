"""Flatline's built-in Socket.IO server against the real python-socketio AsyncClient (PyPI).

Starts `flatline serve socketio` on a free loopback port and talks to it over websocket only,
polling only, and polling upgraded to websocket: connect, events both ways, acks both ways,
the server's heartbeat, and a clean disconnect. The server's event log (stdout) is checked too.
"""
import asyncio
import json
import os
import socket
import subprocess
import time

import pytest
import socketio
from interop_support import free_port

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")


@pytest.fixture
def server():
    port = free_port()
    proc = subprocess.Popen(
        [BIN, "serve", "socketio", "--port", str(port), "--ping-interval", "300ms", "--ping-timeout", "2s",
         "--emit-rate", "20/s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("flatline serve did not start: " + proc.stderr.read())
    yield f"http://127.0.0.1:{port}", proc
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


def server_events(proc):
    proc.terminate()
    out, _ = proc.communicate(timeout=5)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def exercise(url, transports):
    client = socketio.AsyncClient(reconnection=False)
    ticks = []
    asked = asyncio.get_running_loop().create_future()

    @client.on("tick")
    async def on_tick(data):
        ticks.append(data)

    @client.on("question")
    async def on_question(data):
        if not asked.done():
            asked.set_result(data)
        return {"answer": data["n"] * 2}

    await client.connect(url, transports=transports, wait_timeout=10)
    transport = client.transport()
    reply = await client.call("echo", {"hello": "flatline", "n": 1}, timeout=5)
    await client.emit("ask", {"n": 21})
    question = await asyncio.wait_for(asked, 5)
    await asyncio.sleep(1.0)  # several 300 ms server pings and 50 ms ticks
    still_connected = client.connected
    await client.disconnect()
    return transport, reply, question, ticks, still_connected


@pytest.mark.parametrize("transports,expected", [
    (["websocket"], "websocket"),
    (["polling"], "polling"),
    (["polling", "websocket"], "websocket"),
])
def test_python_client_talks_to_flatline_server(server, transports, expected):
    url, proc = server
    transport, reply, question, ticks, still_connected = asyncio.run(exercise(url, transports))
    assert transport == expected
    assert reply == {"hello": "flatline", "n": 1}
    assert question == {"n": 21}
    assert still_connected, "the heartbeat (300 ms pings) must keep the connection up"
    assert len(ticks) >= 5 and all("seq" in t for t in ticks)
    events = server_events(proc)
    types = [e["type"] for e in events]
    assert types[0] == "connect"
    assert types.count("ping") >= 2 and types.count("pong") >= 2
    assert all(e["rtt_ms"] >= 0 for e in events if e["type"] == "pong")
    # The client's answer to the server's question arrives as an ack.
    assert any(e["type"] == "message_received" and e.get("detail") == "ack:question" for e in events)
    # python-engineio's client queues "41" and "1" and then closes the WebSocket without waiting
    # for its write loop ("Write loop: WebSocket connection was closed, aborting"), so which of the
    # two a server sees first is a race in the client; either is a clean client-side close.
    assert events[-1]["type"] == "disconnect"
    assert events[-1]["reason"] in ("client namespace disconnect", "transport close")
    assert sum(1 for e in events if e["type"] == "disconnect") == 1
