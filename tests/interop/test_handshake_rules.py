"""RFC 6455 rules at the server, Flatline's against the real references (issue 12, finding 9).

The same raw bytes (an opening handshake, then one frame) go to each pair on loopback:
- `flatline serve websocket` and the Python `websockets` server (17.4);
- `flatline serve socketio` and python-socketio's AsyncServer on aiohttp (tests/interop/sio_server.py),
  for the frame rules on Engine.IO's /socket.io/ path.
The RFC's reference is `websockets`: Flatline's two servers must close as it does.
A declined handshake must get a 4xx answer from Flatline and from `websockets` (aiohttp, which
serves python-socketio, upgrades Sec-WebSocket-Version 8 and 7, from the hybi drafts; the statuses
are printed; `websockets` answers a wrong version with 400, Flatline with RFC 6455's suggested 426 and
Sec-WebSocket-Version: 13), and a frame that breaks the protocol must be answered with the same
close code the reference sends (1002, or 1007 for a reason that is not UTF-8), a good close code
echoed as the reference echoes it.
"""
import asyncio
import os
import socket
import struct
import subprocess
import sys
import time
import pathlib

import pytest
from websockets.asyncio.server import serve
from interop_support import free_port, wait_port

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
FEED = "/feed"
EIO = "/socket.io/?EIO=4&transport=websocket"


def upgrade(target, version="13", key=KEY):
    text = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    if key:
        text += f"Sec-WebSocket-Key: {key}\r\n"
    if version:
        text += f"Sec-WebSocket-Version: {version}\r\n"
    return (text + "\r\n").encode()


def frame(opcode, payload, masked=True, rsv1=False):
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode, (0x80 if masked else 0) | len(payload)])
    return head + (b"\0\0\0\0" if masked else b"") + payload


def close(code, reason=b""):
    return frame(0x8, struct.pack("!H", code) + reason)


def read_until(sock, data, seconds, done=lambda data: False):
    """Appends what `sock` sends to `data` until `done(data)`, the peer closes, or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while not done(data) and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    return data


def exchange(port, request, frames=(), wait=2.0):
    """Sends the handshake, waits for the whole answer's headers, sends `frames`, and returns
    (status line, the bytes after the headers) once the server closes or `wait` passes."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(0.05)
    sock.sendall(request)
    data = read_until(sock, b"", 2, lambda data: b"\r\n\r\n" in data)
    for f in frames:
        try:
            sock.sendall(f)
        except OSError:
            break
    data = read_until(sock, data, wait)
    sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(errors="replace"), rest


def close_code(rest):
    """The code of the first close frame in `rest` (a server's frames are unmasked), or None."""
    i = 0
    while i + 2 <= len(rest):
        opcode, length = rest[i] & 0x0F, rest[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = struct.unpack("!H", rest[i:i + 2])[0], i + 2
        elif length == 127:
            length, i = struct.unpack("!Q", rest[i:i + 8])[0], i + 8
        if opcode == 0x8:
            return struct.unpack("!H", rest[i:i + 2])[0] if length >= 2 else 1005
        i += length
    return None


HANDSHAKES = {
    "version 8": dict(version="8"),
    "no key": dict(key=None),
    "a key that is not 16 bytes": dict(key="c2hvcnQ="),
}
FRAMES = {
    "unmasked": frame(0x1, b"4hi", masked=False),
    "rsv1 without an extension": frame(0x1, b"4hi", rsv1=True),
    "reserved opcode 0xB": frame(0xB, b""),
    "one-byte close payload": frame(0x8, b"\x03"),
    "reason not UTF-8": close(1000, b"\xc3\x28"),
    **{f"close {c}": close(c) for c in (999, 1004, 1005, 2999, 5000, 1000, 1001, 3001, 4000)},
}


@pytest.fixture
def servers():
    """(name, Flatline's port, the reference's port, target) for both pairs; stops them after."""
    procs = []

    def start(args):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        procs.append(p)
        return p

    flat_ws, flat_sio, ref_ws, ref_sio = (free_port() for _ in range(4))
    wait_port(flat_ws, start([BIN, "serve", "websocket", "--port", str(flat_ws)]))
    wait_port(flat_sio, start([BIN, "serve", "socketio", "--port", str(flat_sio)]))
    wait_port(ref_sio, start([sys.executable, str(HERE / "sio_server.py"), str(ref_sio), "25", "20"]))
    code = (
        "import asyncio,sys\n"
        "from websockets.asyncio.server import serve\n"
        "async def h(ws):\n    async for m in ws: await ws.send(m)\n"
        "async def main():\n"
        f"    async with serve(h,'127.0.0.1',{ref_ws}): await asyncio.Future()\n"
        "asyncio.run(main())\n"
    )
    wait_port(ref_ws, start([sys.executable, "-c", code]))
    yield [("websocket", flat_ws, ref_ws, FEED), ("engine.io", flat_sio, ref_sio, EIO)]
    for p in procs:
        p.kill()
        p.wait()


def test_declined_handshakes_get_a_4xx_like_the_reference(servers):
    for name, flatline, reference, target in servers:
        for case, fields in HANDSHAKES.items():
            ours, _ = exchange(flatline, upgrade(target, **fields), wait=1)
            theirs, _ = exchange(reference, upgrade(target, **fields), wait=1)
            print(f"{name}, {case}: flatline {ours!r}, reference {theirs!r}")
            if name == "websocket":
                # aiohttp (under python-socketio) is laxer: it takes version 8 and 7, as the older
                # hybi drafts did, and upgrades them; `websockets` keeps RFC 6455's rule.
                assert theirs.split(" ")[1].startswith("4"), f"{name}, {case}: the reference answered {theirs!r}"
            assert ours.split(" ")[1].startswith("4"), f"{name}, {case}: Flatline answered {ours!r}, reference {theirs!r}"
            if case == "version 8":
                assert ours.startswith("HTTP/1.1 426"), ours


def test_protocol_violations_close_with_the_references_code(servers):
    """Both of Flatline's servers close as `websockets` does; aiohttp's answers are printed only,
    since it is laxer (it takes unmasked client frames, for one)."""
    (_, _, websockets_port, _) = servers[0]
    for name, flatline, reference, target in servers:
        for case, bad in FRAMES.items():
            ours_status, ours = exchange(flatline, upgrade(target), [bad])
            rfc_status, rfc = exchange(websockets_port, upgrade(FEED), [bad])
            assert ours_status.startswith("HTTP/1.1 101") and rfc_status.startswith("HTTP/1.1 101"), \
                f"{name}, {case}: {ours_status!r} / {rfc_status!r}"
            expected = close_code(rfc)
            assert expected is not None, f"{case}: `websockets` sent no close frame: {rfc[:60]!r}"
            if name == "engine.io":
                _, theirs = exchange(reference, upgrade(target), [bad])
                print(f"{name}, {case}: flatline {close_code(ours)}, websockets {expected}, aiohttp {close_code(theirs)}")
            else:
                print(f"{name}, {case}: flatline {close_code(ours)}, websockets {expected}")
            assert close_code(ours) == expected, f"{name}, {case}: Flatline closed with {close_code(ours)}, `websockets` with {expected}"
