"""RFC 6455 keepalive between Flatline's WebSocket pair and the real Python `websockets` (17.4).

1. `websockets`' client against `flatline serve websocket`: echo, each side's keepalive pings
   answered by the other, a clean close (1000).
2. `flatline connect websocket` against a `websockets` server with its keepalive on: pings both
   ways, messages echoed, a clean close with code 1000.
3. Through Flatline's proxy with both directions stalled: Flatline's client closes with "keepalive
   ping timeout" at its unanswered ping + ping_timeout (within 100 ms, from its own event log);
   the `websockets` server's detection is measured in the same run and written to
   results/interop/websocket-keepalive-detection.json.

`websockets` logs its keepalive at DEBUG ("% sent keepalive ping", "% received keepalive pong",
"- timed out waiting for keepalive pong"); a handler on a logger passed to it timestamps those
lines with time.monotonic() as they are emitted, which is how its side is measured.
"""
import asyncio
import json
import logging
import os
import pathlib
import subprocess
import time

import pytest
import requests
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from interop_support import free_port, wait_port

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
ROOT = pathlib.Path(__file__).parent.parent.parent

INTERVAL, TIMEOUT = 0.3, 0.5
FLAGS = ["--ping-interval", "300ms", "--ping-timeout", "500ms"]


def stop(proc) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.fixture
def procs():
    started = []

    def start(args):
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
            p.communicate()


class KeepaliveLog(logging.Handler):
    """Timestamps `websockets`' keepalive debug lines (time.monotonic(), at emission)."""

    def __init__(self, name):
        super().__init__(logging.DEBUG)
        self.lines = []
        self.logger = logging.getLogger(f"flatline.interop.{name}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.logger.handlers = [self]

    def emit(self, record):
        self.lines.append((time.monotonic(), record.getMessage()))

    def times(self, text):
        return [t for t, m in self.lines if text in m]

    @property
    def pings(self):
        return self.times("sent keepalive ping")

    @property
    def pongs(self):
        return self.times("received keepalive pong")

    @property
    def timeouts(self):
        return self.times("timed out waiting for keepalive pong")


def events_of(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def of_type(events, kind, detail=None):
    return [e for e in events if e["type"] == kind and (detail is None or e.get("detail") == detail)]


async def flatline_client(url, *args, timeout=30):
    proc = await asyncio.create_subprocess_exec(BIN, "connect", "websocket", url, *FLAGS, *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.communicate()
        pytest.fail("flatline connect websocket did not exit")
    return proc.returncode, out.decode(), err.decode()


class EchoServer:
    """A `websockets` echo server that remembers each connection's messages and close."""

    def __init__(self, log):
        self.log = log
        self.echoed = 0
        self.closes = []
        self.done = asyncio.Event()

    async def handler(self, ws):
        try:
            async for message in ws:
                await ws.send(message)
                self.echoed += 1
        except ConnectionClosed:
            pass
        self.closes.append({"code": ws.close_code, "reason": ws.close_reason,
                            "rcvd": ws.protocol.close_rcvd and ws.protocol.close_rcvd.code,
                            "sent": ws.protocol.close_sent and ws.protocol.close_sent.code,
                            "ended_at": time.monotonic()})
        self.done.set()

    def serve(self, port, **kw):
        return serve(self.handler, "127.0.0.1", port, ping_interval=INTERVAL, ping_timeout=TIMEOUT,
                     logger=self.log.logger, **kw)


def test_websockets_client_against_flatline_server(procs):
    port = free_port()
    server = procs([BIN, "serve", "websocket", "--port", str(port), *FLAGS])
    wait_port(port, server)
    log = KeepaliveLog("client-a")

    async def run():
        async with connect(f"ws://127.0.0.1:{port}/chat", ping_interval=INTERVAL, ping_timeout=TIMEOUT,
                           logger=log.logger) as ws:
            await ws.send("hello")
            text = await asyncio.wait_for(ws.recv(), 5)
            await ws.send(b"\x00\x01\x02")
            data = await asyncio.wait_for(ws.recv(), 5)
            await asyncio.sleep(1.3)
            latency = ws.latency
        return text, data, latency, ws.close_code, ws.protocol.close_rcvd.code

    text, data, latency, close_code, rcvd = asyncio.run(run())
    assert (text, data) == ("hello", b"\x00\x01\x02")
    # websockets' pings were answered by Flatline's server.
    assert len(log.pongs) >= 3 and not log.timeouts, log.lines
    assert 0 < latency < 0.1
    assert close_code == 1000 and rcvd == 1000
    time.sleep(0.1)
    events = events_of(stop(server))
    assert events[0]["type"] == "connect" and events[0]["detail"] == "websocket /chat", events
    # Flatline's pings were answered by websockets, with their round trips.
    sent, pongs = of_type(events, "ping", "sent"), of_type(events, "pong")
    assert len(sent) >= 3 and len(pongs) >= 3, events
    assert all(0 < e["rtt_ms"] < 100 for e in pongs), pongs
    # websockets' pings reached Flatline (and were answered: see log.pongs above).
    assert len(of_type(events, "ping", "received")) >= 3, events
    assert [e["detail"] for e in of_type(events, "message_received")] == ["text 5B", "binary 3B"]
    assert len(of_type(events, "message_sent")) == 2
    disconnect = of_type(events, "disconnect")
    assert len(disconnect) == 1 and disconnect[0]["reason"] == "close 1000", events
    assert disconnect[0]["detail"] == "initiated by peer"
    assert events[-1]["type"] == "disconnect"


def test_flatline_client_against_websockets_server():
    port = free_port()
    log = KeepaliveLog("server-b")
    echo = EchoServer(log)

    async def run():
        async with echo.serve(port):
            rc, out, err = await flatline_client(f"ws://127.0.0.1:{port}/feed", "--send-rate", "10/s",
                                                 "--duration", "2s")
            await asyncio.wait_for(echo.done.wait(), 5)
        return rc, out, err

    rc, out, err = asyncio.run(run())
    assert rc == 0, err
    events = events_of(out)
    assert events[0]["type"] == "connect" and events[0]["side"] == "client", events
    sent, pongs = of_type(events, "ping", "sent"), of_type(events, "pong")
    assert len(sent) >= 4 and len(pongs) >= 4, events
    assert all(0 < e["rtt_ms"] < 100 for e in pongs), pongs
    assert len(of_type(events, "ping", "received")) >= 4, events
    # The websockets server's own pings were answered by Flatline's client.
    assert len(log.pongs) >= 4 and not log.timeouts, log.lines
    messages_sent, messages_back = of_type(events, "message_sent"), of_type(events, "message_received")
    assert len(messages_sent) >= 15, events
    assert len(messages_sent) - 1 <= len(messages_back) <= len(messages_sent)
    assert len(messages_sent) - 1 <= echo.echoed <= len(messages_sent)
    disconnect = of_type(events, "disconnect")
    assert len(disconnect) == 1 and disconnect[0]["reason"] == "close 1000", events
    assert disconnect[0]["detail"] == "initiated by client"
    assert echo.closes[0]["code"] == 1000 and echo.closes[0]["rcvd"] == 1000, echo.closes


def test_stalled_link_flatline_client_detects_at_unanswered_ping_plus_timeout(procs):
    server_port, api, listen = free_port(), free_port(), free_port()
    proxy = procs([BIN, "proxy", "--port", str(api), "--seed", "1"])
    wait_port(api, proxy)
    r = requests.post(f"http://127.0.0.1:{api}/proxies", timeout=5,
                      json={"name": "ws", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{server_port}"})
    assert r.status_code == 201, r.text
    log = KeepaliveLog("server-c")
    echo = EchoServer(log)

    def stall(stream):
        return requests.post(f"http://127.0.0.1:{api}/proxies/ws/toxics", timeout=5,
                             json={"name": f"stall_{stream}", "type": "stall", "stream": stream})

    async def run():
        # close_timeout=1: after its own keepalive failure, websockets waits that long for a TCP
        # close the stalled proxy will not pass, then aborts; it bounds the test, not the detection.
        async with echo.serve(server_port, close_timeout=1):
            client = asyncio.create_task(flatline_client(f"ws://127.0.0.1:{listen}/", "--send-rate", "5/s",
                                                         "--duration", "10s"))
            await asyncio.sleep(1.2)  # a few keepalive rounds both ways first
            assert not client.done()
            for stream in ("upstream", "downstream"):
                resp = await asyncio.to_thread(stall, stream)
                assert resp.status_code == 200, resp.text
            stalled_at = time.monotonic()
            rc, out, err = await client
            await asyncio.wait_for(echo.done.wait(), 10)
        return stalled_at, rc, out, err

    stalled_at, rc, out, err = asyncio.run(run())
    assert rc == 0, err
    events = events_of(out)
    disconnect = of_type(events, "disconnect")
    assert len(disconnect) == 1 and disconnect[0]["reason"] == "keepalive ping timeout", events
    assert disconnect[0]["detail"] == "sent close 1011"
    assert len(of_type(events, "pong")) >= 3, events
    unanswered = max(e["t"] for e in of_type(events, "ping", "sent") if e["t"] <= disconnect[0]["t"])
    flatline_detection = disconnect[0]["t"] - unanswered
    assert TIMEOUT <= flatline_detection <= TIMEOUT + 0.1, flatline_detection

    # websockets' server: its own pings were answered before the stall, then one timed out.
    assert len([t for t in log.pongs if t < stalled_at]) >= 3, log.lines
    assert len(log.timeouts) == 1, log.lines
    timed_out = log.timeouts[0]
    its_unanswered = max(t for t in log.pings if t <= timed_out)
    python_detection = timed_out - its_unanswered
    python_after_stall = timed_out - stalled_at
    assert TIMEOUT <= python_detection <= TIMEOUT + 0.1, python_detection
    assert python_after_stall <= INTERVAL + TIMEOUT + 0.1, python_after_stall
    close = echo.closes[0]
    assert close["sent"] == 1011 and close["rcvd"] is None, close

    results = ROOT / "results" / "interop"
    results.mkdir(parents=True, exist_ok=True)
    (results / "websocket-keepalive-detection.json").write_text(json.dumps({
        "ping_interval_s": INTERVAL, "ping_timeout_s": TIMEOUT,
        "condition": "flatline proxy, stall toxic on upstream and downstream",
        "flatline_client_detection_after_unanswered_ping_s": round(flatline_detection, 4),
        "flatline_client_disconnect": disconnect[0],
        "python_websockets_server_detection_after_unanswered_ping_s": round(python_detection, 4),
        "python_websockets_server_detection_after_stall_s": round(python_after_stall, 4),
        "python_websockets_server_connection_ended_after_stall_s": round(close["ended_at"] - stalled_at, 4),
        "python_websockets_server_close_sent": close["sent"],
        "python_websockets_version": __import__("websockets").__version__,
    }, indent=2) + "\n")
