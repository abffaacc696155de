"""Flatline's built-in Socket.IO client (`flatline connect socketio`) against python-socketio's
AsyncServer (PyPI): websocket and polling, events and acks both ways, the heartbeat, a clean
disconnect, and reconnection after the server restarts.
"""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
from interop_support import free_port

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent


def start_server(port):
    proc = subprocess.Popen([sys.executable, str(HERE / "sio_server.py"), str(port), "0.3", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("python-socketio server did not start")


def stop(proc):
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


@pytest.mark.parametrize("transport", ["websocket", "polling", "polling,websocket"])
def test_flatline_client_against_python_server(transport):
    port = free_port()
    server = start_server(port)
    try:
        out = subprocess.run([BIN, "connect", "socketio", f"http://127.0.0.1:{port}", "--transports", transport,
                              "--emit-rate", "5/s", "--duration", "1.5s"],
                             capture_output=True, text=True, timeout=30)
    finally:
        server_log = stop(server)
    assert out.returncode == 0, out.stderr
    events = [json.loads(l) for l in out.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "connect"
    upgraded = any(e["type"] == "connect" and e.get("detail") == "upgraded to websocket" for e in events)
    assert upgraded == ("," in transport), events[:3]
    assert kinds.count("ping") >= 3, kinds          # python-socketio pings every 300 ms
    sent = sum(1 for e in events if e["type"] == "message_sent" and e["detail"] == "echo")
    echoed = sum(1 for e in events if e["type"] == "message_received" and e["detail"] == "echo")
    acked = sum(1 for e in events if e["type"] == "message_received" and e["detail"] == "ack")
    assert sent >= 5 and echoed >= sent - 1 and acked >= sent - 1, (sent, echoed, acked)
    assert any(e["type"] == "message_received" and e["detail"] == "question" for e in events)
    assert events[-1] == {**events[-1], "type": "disconnect", "reason": "io client disconnect"}
    # The server saw our ack to its question, and a clean client disconnect.
    assert any(e["type"] == "answer" and e["data"] == {"n": 21} for e in server_log), server_log
    assert server_log[-1]["type"] == "disconnect" and server_log[-1]["reason"] == "client disconnect"


def test_flatline_client_reconnects_when_the_server_comes_back():
    port = free_port()
    server = start_server(port)
    client = subprocess.Popen([BIN, "connect", "socketio", f"http://127.0.0.1:{port}", "--duration", "6s",
                               "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        stop(server)
        time.sleep(1.5)
        server = start_server(port)
        out, _ = client.communicate(timeout=30)
    finally:
        stop(server)
        if client.poll() is None:
            client.kill()
    events = [json.loads(l) for l in out.splitlines()]
    kinds = [e["type"] for e in events]
    first_drop = kinds.index("disconnect")
    # A stopped server is noticed either by its closing the socket or, when its process is slow to
    # close sockets on SIGTERM, by the client's heartbeat; both are real-world ways to see it go.
    assert events[first_drop]["reason"] in ("transport close", "transport error", "ping timeout"), events[first_drop]
    attempts = [e for e in events if e["type"] == "reconnect_attempt"]
    assert attempts and attempts[0]["attempt"] == 1
    # socket.io-client's backoff: the first delay is 1 s +- 50 % after the drop.
    delay = attempts[0]["t"] - events[first_drop]["t"]
    assert 0.45 <= delay <= 1.6, delay
    assert any(e["type"] == "connect" and "reconnected" in e.get("detail", "") for e in events), kinds
    assert kinds.count("connect") >= 2


@pytest.mark.parametrize("transport", ["websocket", "polling", "polling,websocket"])
def test_flatline_client_against_flatline_server(transport):
    port = free_port()
    server = subprocess.Popen([BIN, "serve", "socketio", "--port", str(port), "--ping-interval", "300ms",
                               "--emit-rate", "10/s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        out = subprocess.run([BIN, "connect", "socketio", f"http://127.0.0.1:{port}", "--transports", transport,
                              "--emit-rate", "5/s", "--duration", "1.2s"], capture_output=True, text=True, timeout=30)
    finally:
        server.terminate()
        server_out, _ = server.communicate(timeout=5)
    events = [json.loads(l) for l in out.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds.count("ping") >= 3
    assert sum(1 for e in events if e.get("detail") == "tick") >= 8
    assert sum(1 for e in events if e.get("detail") == "ack") >= 4
    assert events[-1]["type"] == "disconnect" and events[-1]["reason"] == "io client disconnect"
    server_events = [json.loads(l) for l in server_out.splitlines()]
    assert sum(1 for e in server_events if e["type"] == "pong") >= 3
