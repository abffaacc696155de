"""Fuzzes Flatline's built-in servers at the protocol level (see docs/fuzzing.md).

Starts `flatline serve socketio` (Engine.IO v4 polling and WebSocket) and `flatline serve
websocket` (RFC 6455 echo with keepalive) on 127.0.0.1, with 2 s ping interval and timeout so
idle sessions end quickly, and sends them, a few connections at a time: Engine.IO polling GETs
and POSTs with mutated queries, headers and bodies (random packets, invalid UTF-8, bogus
Content-Length, broken chunking, half-sent requests); WebSocket opening handshakes, good and
mutated, followed by random frames (reserved opcodes and bits, unmasked frames, fragments,
interleaved control frames, huge or non-minimal lengths, bad close codes and reasons). A handful
of requests are left unfinished, to be closed by the servers' 10 s request timeout. Everything
sent is drawn from random.Random(seed) (a session id from a fresh handshake is filled in at
send time).

Invariants (each broken one is written to --out as a reproducer and makes the exit status 1):
- neither server process dies, and both exit on SIGTERM within 10 s at the end;
- every connection gets an answer (any byte) or is closed within 15 s, and once the fuzzer has
  closed its side, the server closes too within that bound (no connection is held forever);
- no HTTP answer is a 5xx;
- every frame a server sends is a well-formed server frame: not masked, no reserved bits or
  opcodes, control frames short and unfragmented, close codes ones a peer may send, text UTF-8;
- the echo server answers as a model of RFC 6455 says: each message echoed and each ping ponged,
  in order; our close echoed (1002 for a code no one may send, 1007 for a reason that is not
  UTF-8); a frame that breaks the protocol answered with a close frame, 1002 (1007 for text that
  is not UTF-8, 1009 past its 1 MiB limit), and nothing echoed after it; the Engine.IO server too
  closes with 1007 a first text frame that is not UTF-8;
- every line of both servers' event logs (stdout) is a JSON object with t, conn, side and type;
- afterwards, GET /socket.io/?EIO=4&transport=polling still answers 200 with a sid, an Engine.IO
  WebSocket upgrade still opens with a sid, and a good WebSocket handshake still gets 101 and an
  echo.
"""
from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import fuzzlib  # noqa: E402

NAME = "protocol_fuzz"
BOUND = 15.0  # seconds within which a connection must be answered or closed
WORKERS = 4  # connections in flight at a time
UNFINISHED = 3  # requests left half-sent per run, for the servers' request timeout
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EIO_PATH = "/socket.io/"

# Broken invariants already reported as Flatline bugs (see docs/fuzzing.md, "Known issues"): none open.
# Fixed, and guarded by their kinds: the plain server echoing text that is not UTF-8 (ws_invalid_utf8)
# and dropping the connection without a close frame on an orphan continuation (ws_abrupt_close), and
# the Engine.IO server reading such text with U+FFFD in its place (eio_invalid_utf8).
KNOWN: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------
# WebSocket frames.

def ws_frame(rng: random.Random, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True,
             length: int | None = None, minimal: bool = True) -> bytes:
    n = len(payload) if length is None else min(length, 2 ** 64 - 1)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | (opcode & 0x0F)])
    m = 0x80 if mask else 0
    if n < 126 and minimal:
        head += bytes([m | n])
    elif n < 65536 and (minimal or rng.random() < 0.5):
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if mask:
        key = rng.randbytes(4)
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def parse_frames(data: bytes) -> tuple[list[tuple[int, int, int, bool, bytes]], bytes]:
    """Server frames in `data`: (fin, rsv, opcode, masked, payload) each, and the bytes left over."""
    frames = []
    i = 0
    while len(data) - i >= 2:
        b0, b1 = data[i], data[i + 1]
        n, j = b1 & 0x7F, i + 2
        if n == 126:
            if len(data) - j < 2:
                break
            n, j = struct.unpack("!H", data[j:j + 2])[0], j + 2
        elif n == 127:
            if len(data) - j < 8:
                break
            n, j = struct.unpack("!Q", data[j:j + 8])[0], j + 8
        masked = bool(b1 & 0x80)
        key = data[j:j + 4] if masked else b""
        j += 4 if masked else 0
        if len(data) - j < n:
            break
        payload = data[j:j + n]
        if masked:
            payload = bytes(b ^ key[k % 4] for k, b in enumerate(payload))
        frames.append((b0 >> 7, (b0 >> 4) & 7, b0 & 0x0F, masked, payload))
        i = j + n
    return frames, data[i:]


def frame_problem(frame: tuple[int, int, int, bool, bytes]) -> str | None:
    """Why a frame a server sent breaks RFC 6455, or None."""
    fin, rsv, opcode, masked, payload = frame
    if masked:
        return "a masked server frame"
    if rsv:
        return f"reserved bits {rsv:03b} set"
    if opcode not in (0, 1, 2, 8, 9, 10):
        return f"reserved opcode {opcode}"
    if opcode >= 8 and (not fin or len(payload) > 125):
        return f"control frame {opcode} fragmented or longer than 125 bytes ({len(payload)})"
    if opcode == 8 and payload:
        if len(payload) == 1:
            return "a close frame with a 1-byte payload"
        code = struct.unpack("!H", payload[:2])[0]
        if not (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or 3000 <= code <= 4999):
            return f"close code {code}, which no endpoint may send"
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            return "a close reason that is not UTF-8"
    return None


# ---------------------------------------------------------------------------------------------
# Generators.

EIO_PACKETS = ["4hello", "40", "41", "42[\"echo\",\"x\"]", "42[\"ping\"]", "43[1]", "44{}", "45", "46", "2", "3",
               "2probe", "3probe", "5", "6", "1", "0", "", "7", "9", "4", "b", "bAAAA", "b!!!", "4" + "x" * 1000,
               "42[", "42[\"x\"", "40/admin,", "40/nsp,{\"token\":1}", "42/nope,[\"x\"]", "4\u0000", "4é", "\u2028"]


def eio_body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.6:
        packets = [rng.choice(EIO_PACKETS) for _ in range(rng.randrange(1, 5))]
        if rng.random() < 0.2:
            packets.append("b" + base64.b64encode(rng.randbytes(rng.randrange(0, 40))).decode())
        return "\x1e".join(packets).encode()
    if roll < 0.8:
        return rng.randbytes(rng.randrange(0, 200))
    if roll < 0.9:
        good = "\x1e".join(rng.choice(EIO_PACKETS) for _ in range(3)).encode()
        i = rng.randrange(len(good) + 1)
        return good[:i] + rng.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\x1e\x1e", b"\x00"]) + good[i:]
    return b"4" + b"y" * rng.choice([100000, 999999, 1000001])


def eio_query(rng: random.Random, transport: str = "polling", sid: bool = False) -> str:
    params = [("EIO", "4"), ("transport", transport)]
    if sid:
        params.append(("sid", "{sid}"))
    if rng.random() < 0.3:
        op = rng.choice(["eio", "transport", "sid", "dup", "extra", "drop", "encode"])
        if op == "eio":
            params[0] = ("EIO", rng.choice(["3", "5", "", "4.0", "04", "-4", "x", "99999999999999999999"]))
        elif op == "transport":
            params[1] = ("transport", rng.choice(["websocket", "flashsocket", "", "POLLING", "polling%00"]))
        elif op == "sid":
            params.append(("sid", rng.choice(["", "nope", "x" * 1000, "{sid}x", "%zz", "{sid}"])))
        elif op == "dup":
            params.append(rng.choice(params))
        elif op == "extra":
            params.append(rng.choice([("t", "Nx1"), ("b64", "1"), ("j", "0"), ("", ""), ("a", "=b"), ("x" * 500, "y")]))
        elif op == "drop":
            params.pop(rng.randrange(len(params)))
        else:
            return "&".join(f"{k}={v}" for k, v in params).replace("=", "%3D", 1)
    return "&".join(f"{k}={v}" if k or v else "" for k, v in params)


def http_request(rng: random.Random, method: str, target: str, body: bytes | None,
                 headers: list[tuple[str, str]] | None = None) -> tuple[bytes, bool, str]:
    """Request bytes, whether they are complete as sent, and what was mutated."""
    headers = [("Host", "127.0.0.1")] + (headers or [])
    complete, notes, eol, version = True, [], "\r\n", "HTTP/1.1"
    length = None if body is None else len(body)
    chunked = False
    if rng.random() < 0.3:
        for _ in range(rng.randrange(1, 3)):
            op = rng.choice(["method", "version", "length", "chunked", "header", "lf", "target", "truncate"])
            notes.append(op)
            if op == "method":
                method = rng.choice(["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", "get", ""])
                complete = method.isupper()
            elif op == "version":
                version = rng.choice(["HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "", "HTTP/1.1 x"])
            elif op == "length":
                body = body if body is not None else b"4hello"
                length = rng.choice([len(body) + rng.randrange(1, 50), max(0, len(body) - 1), -1, "x", 2 ** 64, 0])
                complete = not (isinstance(length, int) and length > len(body))
            elif op == "chunked" and body is not None:
                chunked = True
            elif op == "header":
                headers.append(rng.choice([("X-Long", "v" * rng.choice([1000, 100000])), ("Bad Header", "1"),
                                           ("X-Nul", "a\x00b"), ("Content-Type", "application/octet-stream"),
                                           ("Origin", "http://evil.example"), ("Connection", "Upgrade"),
                                           ("Upgrade", "websocket"), ("Cookie", "io=" + "c" * 5000),
                                           ("Content-Length", "3"), ("Transfer-Encoding", "chunked, gzip"),
                                           ("Access-Control-Request-Method", "POST")]))
            elif op == "lf":
                eol = "\n"
            elif op == "target":
                target = rng.choice([target + "#x", "/" + target, target.replace("?", "/?"), target + "&" * 100,
                                     target.replace("socket.io", "SOCKET.IO"), "*", "http://127.0.0.1:1" + target,
                                     target + "%", target + "/../x", target + " x"])
            elif op == "truncate":
                complete = False
    if chunked:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if rng.random() < 0.7 else b"zz\r\n" + body
        headers.append(("Transfer-Encoding", "chunked"))
    elif length is not None:
        headers.append(("Content-Length", str(length)))
    raw = (f"{method} {target} {version}".rstrip() + eol + "".join(f"{k}: {v}{eol}" for k, v in headers) + eol).encode(
        "utf-8", "surrogateescape") + (body or b"")
    if "truncate" in notes:
        raw = raw[:rng.randrange(1, len(raw))]
    return raw, complete, "+".join(notes)


def ws_handshake(rng: random.Random, target: str, good: bool) -> tuple[bytes, str]:
    key = base64.b64encode(rng.randbytes(16)).decode()
    headers = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
               ("Sec-WebSocket-Version", "13")]
    method, version, note = "GET", "HTTP/1.1", "good"
    if not good:
        op = rng.choice(["no_key", "short_key", "version", "no_upgrade", "method", "http10", "casing", "two_keys",
                         "no_connection", "extensions", "protocol", "long"])
        note = op
        if op == "no_key":
            headers = [h for h in headers if h[0] != "Sec-WebSocket-Key"]
        elif op == "short_key":
            headers[3] = ("Sec-WebSocket-Key", rng.choice(["", "abc", "x" * 100, "dGhlIHNhbXBsZSBub25jZQ", "%%%%"]))
        elif op == "version":
            headers[4] = ("Sec-WebSocket-Version", rng.choice(["8", "7", "", "14", "13, 8", "x"]))
        elif op == "no_upgrade":
            headers = [h for h in headers if h[0] != "Upgrade"]
        elif op == "method":
            method = rng.choice(["POST", "PUT", "HEAD"])
        elif op == "http10":
            version = "HTTP/1.0"
        elif op == "casing":
            headers = [(k.lower(), v.upper() if k == "Upgrade" else v) for k, v in headers]
        elif op == "two_keys":
            headers.append(("Sec-WebSocket-Key", key))
        elif op == "no_connection":
            headers = [h for h in headers if h[0] != "Connection"]
        elif op == "extensions":
            headers.append(("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"))
        elif op == "protocol":
            headers.append(("Sec-WebSocket-Protocol", "chat, superchat"))
        else:
            headers.append(("X-Long", "z" * rng.choice([10000, 100000])))
    raw = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return raw.encode(), note


VALID_CLOSE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014} | set(range(3000, 5000))


def ws_frames(rng: random.Random, eio: bool) -> tuple[list[bytes], list[str], dict]:
    """Frames to send after a handshake, what was done, and the echo server's expected answer:
    {"data": messages echoed, "pongs": ping payloads answered, "close": the close code it answers
    (None: any), "complete": whether the model covers every frame sent}. The model stops at the
    first frame that breaks the protocol (after it only a close is expected) or at our close."""
    frames, notes = [], []
    model: dict = {"data": [], "pongs": [], "close": None, "complete": True, "modelling": True, "violation": None,
                   "violation_close": None}

    def expect(kind: str, value) -> None:
        if model["modelling"]:
            model[kind].append(value)

    def stop(complete: bool = False, violation: str | None = None, close: int | None = None) -> None:
        """Ends the model: at our close (complete), or at a frame that breaks the protocol, which the
        server must answer with the close code `close` (None: not known, e.g. a frame it may wait on)."""
        if model["modelling"]:
            model["modelling"], model["complete"] = False, complete
            model["violation"], model["violation_close"] = violation, close

    for _ in range(rng.randrange(1, 7)):
        if not model["modelling"] and rng.random() < 0.7:
            break  # mostly nothing after a violation or our close: input left unread makes the server's close a reset
        op = rng.choice(["text", "text", "binary", "fragments", "ping", "pong", "close", "reserved_opcode", "rsv",
                         "unmasked", "huge_length", "nonminimal", "big_control", "bad_utf8", "continuation", "garbage"])
        notes.append(op)
        text = (rng.choice(EIO_PACKETS) if eio else rng.choice(["hello", "", "é" * 50, "x" * 70000])).encode()
        if op == "text":
            frames.append(ws_frame(rng, 1, text))
            expect("data", (1, text))
        elif op == "binary":
            payload = rng.randbytes(rng.choice([0, 1, 125, 126, 65535, 65536]))
            frames.append(ws_frame(rng, 2, payload))
            expect("data", (2, payload))
        elif op == "fragments":
            parts = [text[i:i + 3] for i in range(0, max(len(text), 1), 3)][:20] or [b""]
            for k, part in enumerate(parts):
                frames.append(ws_frame(rng, 1 if k == 0 else 0, part, fin=k == len(parts) - 1))
                if rng.random() < 0.2:
                    frames.append(ws_frame(rng, 9, b"mid"))
                    expect("pongs", b"mid")
            expect("data", (1, b"".join(parts)))
        elif op == "ping":
            payload = rng.randbytes(rng.randrange(0, 126))
            frames.append(ws_frame(rng, 9, payload))
            expect("pongs", payload)
        elif op == "pong":
            frames.append(ws_frame(rng, 10, b"unsolicited"))
        elif op == "close":
            code = rng.choice([1000, 1001, 1002, 1005, 1006, 1015, 999, 0, 1004, 1016, 2999, 3000, 4999, 5000, 65535])
            reason = rng.choice([b"", b"bye", b"\xff\xfe", "é".encode(), b"r" * 123])
            payload = struct.pack("!H", code) + reason if rng.random() < 0.9 else rng.choice([b"", b"\x03"])
            frames.append(ws_frame(rng, 8, payload))
            if model["modelling"]:
                if len(payload) == 1 or (len(payload) >= 2 and code not in VALID_CLOSE):
                    model["close"] = 1002
                elif len(payload) >= 2 and not utf8(reason):
                    model["close"] = 1007
                elif len(payload) >= 2:
                    model["close"] = code
            stop(complete=True)
        elif op == "reserved_opcode":
            frames.append(ws_frame(rng, rng.choice([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), b"?"))
            stop(violation=op, close=1002)
        elif op == "rsv":
            frames.append(ws_frame(rng, 1, text, rsv=rng.randrange(1, 8)))
            stop(violation=op, close=1002)
        elif op == "unmasked":
            frames.append(ws_frame(rng, 1, text, mask=False))
            stop(violation=op, close=1002)
        elif op == "huge_length":
            length = rng.choice([2 ** 63 - 1, 2 ** 64 - 1, 2 ** 32, (1 << 20) + 1, 1000001])
            opcode = rng.choice([1, 2, 9])
            frames.append(ws_frame(rng, opcode, b"short", length=length))
            # Too big for a control frame (1002) or past the 1 MiB message limit (1009); else it waits for the rest.
            stop(violation=op, close=(1002, 1009) if opcode == 9 else (1009 if length > 1 << 20 else None))
        elif op == "nonminimal":
            frames.append(ws_frame(rng, 1, text[:100], minimal=False))
            stop()
        elif op == "big_control":
            frames.append(ws_frame(rng, rng.choice([8, 9, 10]), b"\x03\xe8" + b"c" * 200))
            stop(violation=op, close=1002)
        elif op == "bad_utf8":
            frames.append(ws_frame(rng, 1, rng.choice([b"\xff", b"\xc0\x80", b"a\xed\xa0\x80", b"\xe2\x82"])))
            stop(violation=op, close=1007)
        elif op == "continuation":
            frames.append(ws_frame(rng, 0, b"orphan", fin=rng.random() < 0.5))
            stop(violation=op, close=1002)
        else:
            frames.append(rng.randbytes(rng.randrange(1, 30)))
            stop()
    model["first"] = notes[0]
    return frames, notes, model


def utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def messages(frames: list[tuple[int, int, int, bool, bytes]]) -> tuple[list, list, int | None | str]:
    """The server's data messages (reassembled), its pongs, and the code of its first close ('-' for none)."""
    data, pongs, close, current = [], [], "-", None
    for fin, _, opcode, _, payload in frames:
        if opcode == 8:
            close = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            break
        if opcode == 10:
            pongs.append(payload)
        elif opcode in (1, 2):
            current = (opcode, payload)
        elif opcode == 0 and current:
            current = (current[0], current[1] + payload)
        if opcode in (0, 1, 2) and fin and current:
            data.append(current)
            current = None
    return data, pongs, close


class Case:
    """One connection's worth of input, drawn from the generator."""

    def __init__(self, index: int, kind: str, server: str, data: bytes, note: str, complete: bool = True,
                 frames: list[bytes] | None = None, needs_sid: bool = False, model: dict | None = None):
        self.index, self.kind, self.server, self.data, self.note = index, kind, server, data, note
        self.complete, self.frames, self.needs_sid, self.model = complete, frames or [], needs_sid, model


def gen_case(rng: random.Random, index: int) -> Case:
    kind = rng.choices(["eio_http", "eio_ws", "ws"], [5, 2, 3])[0]
    if kind == "eio_http":
        template = rng.choice(["handshake", "poll", "post", "post", "options", "other_path"])
        if template == "handshake":
            raw, complete, note = http_request(rng, "GET", EIO_PATH + "?" + eio_query(rng), None)
            return Case(index, kind, "eio", raw, "handshake " + note, complete)
        if template == "poll":
            raw, complete, note = http_request(rng, "GET", EIO_PATH + "?" + eio_query(rng, sid=True), None)
            return Case(index, kind, "eio", raw, "poll " + note, complete, needs_sid=True)
        if template == "post":
            body = eio_body(rng)
            raw, complete, note = http_request(rng, "POST", EIO_PATH + "?" + eio_query(rng, sid=True), body,
                                               [("Content-Type", "text/plain;charset=UTF-8")])
            return Case(index, kind, "eio", raw, "post " + note, complete, needs_sid=True)
        if template == "options":
            raw, complete, note = http_request(rng, "OPTIONS", EIO_PATH + "?" + eio_query(rng), None,
                                               [("Origin", "http://127.0.0.1"), ("Access-Control-Request-Method", "POST")])
            return Case(index, kind, "eio", raw, "options " + note, complete)
        path = rng.choice(["/", "/socket.io", "/socket.io/x", "/other", "/socket.io/?", "/favicon.ico"])
        raw, complete, note = http_request(rng, "GET", path, None)
        return Case(index, kind, "eio", raw, f"path {path} " + note, complete)
    good = rng.random() < 0.8
    if kind == "eio_ws":
        target = EIO_PATH + "?" + (eio_query(rng, "websocket") if rng.random() < 0.8 else eio_query(rng, "websocket", True))
        raw, note = ws_handshake(rng, target, good)
        frames, fnotes, model = ws_frames(rng, eio=True)
        return Case(index, kind, "eio", raw, f"handshake {note}; frames {fnotes}", frames=frames,
                    needs_sid="{sid}" in target, model=model)
    target = rng.choice(["/", "/feed", "/a?b=c", "/" + "p" * 3000, "/%zz"])
    raw, note = ws_handshake(rng, target, good)
    frames, fnotes, model = ws_frames(rng, eio=False)
    return Case(index, kind, "ws", raw, f"handshake {note}; frames {fnotes}", frames=frames, model=model)


def unfinished_cases(rng: random.Random) -> list[Case]:
    """Requests that stop half-way and stay open: the servers must close them (request timeout 10 s)."""
    head = f"GET {EIO_PATH}?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    post = (f"POST {EIO_PATH}?EIO=4&transport=polling&sid={{sid}} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Length: 100\r\n\r\n4hello").encode()
    ws = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    choices = [Case(-1, "unfinished", "eio", head, "unfinished head"),
               Case(-2, "unfinished", "eio", post, "unfinished body", needs_sid=True),
               Case(-3, "unfinished", "ws", ws, "unfinished handshake")]
    rng.shuffle(choices)
    return choices[:UNFINISHED]


# ---------------------------------------------------------------------------------------------
# The run.

class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.report = fuzzlib.Report(NAME, args, known=KNOWN)
        self.counts = self.report.counts
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def fail(self, case: Case | None, kind: str, message: str, sent: bytes = b"", got: bytes = b"") -> None:
        details = {"note": case.note if case else "", "server": case.server if case else "",
                   "port": self.ports.get(case.server) if case else None}
        with self.lock:
            self.report.fail(kind, message, case.index if case else None, {"sent.bin": sent, "received.bin": got}, details)

    def start(self) -> None:
        out, binary = self.args.out, fuzzlib.flatline_binary()
        self.servers = {
            "eio": fuzzlib.Child([binary, "serve", "socketio", "--port", "0", "--ping-interval", "2s",
                                  "--ping-timeout", "2s", "--seed", str(self.args.seed)],
                                 f"{out}/socketio.log", f"{out}/socketio.events.jsonl"),
            "ws": fuzzlib.Child([binary, "serve", "websocket", "--port", "0", "--ping-interval", "2s",
                                 "--ping-timeout", "2s", "--close-timeout", "2s"],
                                f"{out}/websocket.log", f"{out}/websocket.events.jsonl"),
        }
        self.ports = {}
        deadline = time.monotonic() + 20
        for key, child in self.servers.items():
            while key not in self.ports and time.monotonic() < deadline and child.alive():
                m = re.search(r"on (?:ws://)?127\.0\.0\.1:(\d+)", child.log_tail())
                if m:
                    self.ports[key] = int(m.group(1))
                else:
                    time.sleep(0.05)
            if key not in self.ports or not fuzzlib.wait_port(self.ports[key], 10, child.alive):
                sys.exit(f"{NAME}: flatline serve did not start: {child.log_tail()}")

    def new_sid(self) -> str | None:
        r = fuzzlib.http_exchange(self.ports["eio"], f"GET {EIO_PATH}?EIO=4&transport=polling HTTP/1.1\r\n"
                                  "Host: 127.0.0.1\r\n\r\n".encode(), bound=BOUND)
        m = re.search(rb'"sid":"([^"]+)"', r["body"] or b"")
        return m.group(1).decode() if r["status"] == 200 and m else None

    def fill_sid(self, case: Case) -> bytes | None:
        if not case.needs_sid:
            return case.data
        sid = self.new_sid()
        if sid is None:
            self.fail(case, "handshake", "a good Engine.IO handshake did not answer 200 with a sid")
            return None
        return case.data.replace(b"{sid}", sid.encode())

    # ----- one connection

    def execute(self, case: Case) -> None:
        data = self.fill_sid(case)
        if data is None:
            return
        if case.kind == "eio_http":
            self.http_case(case, data)
        elif case.kind == "unfinished":
            self.unfinished_case(case, data)
        else:
            self.ws_case(case, data)
        for key, child in self.servers.items():
            if not child.alive():
                self.fail(case, "crash", f"the {key} server died: {fuzzlib.describe_exit(child.proc.returncode)}", data)

    def http_case(self, case: Case, data: bytes) -> None:
        r = fuzzlib.http_exchange(self.ports[case.server], data, bound=BOUND,
                                  first_wait=4.0 if case.complete else 0.3)
        self.count(r["outcome"])
        if r["outcome"] == "response":
            self.count(f"http_{r['status'] // 100}xx")
            if r["status"] >= 500:
                self.fail(case, "5xx", f"status {r['status']}: {r['body'][:300]!r}", data, r["raw"])
        elif r["outcome"] in ("timeout", "refused", "garbage"):
            self.fail(case, r["outcome"], f"no answer and no close within {BOUND:g} s ({r['outcome']})", data, r["raw"])

    def ws_case(self, case: Case, handshake: bytes) -> None:
        started = time.monotonic()
        deadline = started + BOUND
        sent = handshake
        try:
            sock = socket.create_connection((fuzzlib.LOOPBACK, self.ports[case.server]), timeout=BOUND)
        except OSError as error:
            self.fail(case, "refused", f"connect failed: {error}", handshake)
            return
        with sock:
            sock.sendall(handshake)
            got, closed = fuzzlib.recv_until(sock, deadline, lambda d: b"\r\n\r\n" in d)
            if b"\r\n\r\n" not in got:
                if not closed:
                    self.fail(case, "timeout", f"handshake neither answered nor closed within {BOUND:g} s", sent, got)
                self.count("ws_closed_in_handshake")
                return
            head, rest = got.split(b"\r\n\r\n", 1)
            status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
            self.count(f"ws_handshake_{status}")
            if status >= 500 or status == 0:
                self.fail(case, "5xx" if status else "garbage", f"handshake answered {head[:200]!r}", sent, got)
                return
            if status != 101:
                return
            key = re.search(rb"(?im)^sec-websocket-key: *(\S+)", handshake)
            accept = re.search(rb"(?im)^sec-websocket-accept: *(\S+)", head)
            if key and (not accept or accept.group(1) != base64.b64encode(hashlib.sha1(key.group(1) + GUID).digest())):
                self.fail(case, "ws_accept", "101 without the right Sec-WebSocket-Accept", sent, got)
            answered = bool(rest)
            send_failed = False
            for frame in case.frames:
                try:
                    sock.sendall(frame)
                    sent += frame
                except OSError:  # the server closed: what it sent before is still to be read
                    send_failed = True
                    break
            if not closed:
                rest, closed = fuzzlib.recv_until(sock, deadline, lambda d: False, rest,
                                                  quiet=None if send_failed else 0.3)
            if not closed:  # the polite end: our close frame, then our FIN
                try:
                    close = ws_frame(random.Random(case.index), 8, struct.pack("!H", 1000))
                    sock.sendall(close)
                    sent += close
                    rest, closed = fuzzlib.recv_until(sock, deadline, lambda d: False, rest, quiet=1.0)
                except OSError:
                    pass
            if not closed:
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                rest, closed = fuzzlib.recv_until(sock, deadline, lambda d: False, rest)
            answered = answered or bool(rest)
            frames, _ = parse_frames(rest)
            self.count("ws_frames_received", len(frames))
            for frame in frames:
                problem = frame_problem(frame)
                if problem:
                    self.fail(case, "bad_server_frame", f"the {case.server} server sent {problem}", sent,
                              head + b"\r\n\r\n" + rest)
                    break
            for opcode, payload in messages(frames)[0]:
                if opcode == 1 and not utf8(payload):
                    self.fail(case, "ws_invalid_utf8", f"the {case.server} server sent a text message that is not "
                              f"UTF-8 ({payload[:20]!r})", sent, head + b"\r\n\r\n" + rest)
                    break
            if closed == "reset":
                # The server closed with our input unread, so the kernel reset the connection and what it
                # had still to send may be lost: the model cannot be held to it.
                self.count("ws_reset")
            elif case.server == "ws":
                self.check_echo(case, frames, sent, head + b"\r\n\r\n" + rest)
            elif case.model["first"] == "bad_utf8" and messages(frames)[2] != 1007:
                self.fail(case, "eio_invalid_utf8", "the Engine.IO server answered a first text frame that is not "
                          f"UTF-8 with close {messages(frames)[2]} (1007 expected)", sent, head + b"\r\n\r\n" + rest)
            if not closed:
                self.fail(case, "not_closed", f"still open {BOUND:g} s after the handshake, after our close frame and "
                          f"FIN ({'answered' if answered else 'never answered'})", sent, head + b"\r\n\r\n" + rest)
            self.count("ws_sessions")

    def check_echo(self, case: Case, frames: list, sent: bytes, got: bytes) -> None:
        """The echo server's answer to the frames: what the model in ws_frames expects."""
        model = case.model
        data, pongs, close = messages(frames)
        self.count("echo_checks")
        if any(opcode == 1 and not utf8(payload) for opcode, payload in data):
            return  # reported by ws_case
        violation, want = model["violation"], model["violation_close"]
        if violation and want is not None and close not in (want if isinstance(want, tuple) else (want,)):
            if close == "-":
                kind = "ws_abrupt_close" if violation == "continuation" else "ws_no_close_frame"
                self.fail(case, kind, f"after a frame that breaks the protocol ({violation}) the server closed "
                          f"without a close frame (expected {want})", sent, got)
            else:
                kind = "ws_invalid_utf8" if violation == "bad_utf8" else "ws_close_code"
                self.fail(case, kind, f"after a frame that breaks the protocol ({violation}) the server's close code "
                          f"was {close}, expected {want}", sent, got)
            return
        if model["complete"]:
            wrong = data != model["data"] or pongs != model["pongs"]
        else:
            wrong = data[:len(model["data"])] != model["data"] or pongs[:len(model["pongs"])] != model["pongs"]
        if wrong:
            self.fail(case, "ws_echo", f"echoed {[(o, len(p)) for o, p in data]} and pongs {[len(p) for p in pongs]}, "
                      f"expected {[(o, len(p)) for o, p in model['data']]} and pongs {[len(p) for p in model['pongs']]}",
                      sent, got)
        if model["complete"] and model["close"] is not None and close != model["close"]:
            self.fail(case, "ws_close_code", f"answered our close with {close}, expected {model['close']}", sent, got)

    def unfinished_case(self, case: Case, data: bytes) -> None:
        started = time.monotonic()
        try:
            with socket.create_connection((fuzzlib.LOOPBACK, self.ports[case.server]), timeout=BOUND) as sock:
                sock.sendall(data)
                got, closed = fuzzlib.recv_until(sock, started + BOUND, lambda d: False)
        except OSError as error:
            self.fail(case, "refused", f"connect failed: {error}", data)
            return
        took = time.monotonic() - started
        self.count("unfinished")
        if not closed:
            self.fail(case, "not_closed", f"{case.note}: still open after {BOUND:g} s (request timeout 10 s)", data, got)
        elif self.args.verbose:
            print(f"{case.note}: closed after {took:.1f} s ({len(got)} bytes answered)")

    # ----- final checks

    def final_checks(self) -> None:
        sid = self.new_sid()
        self.count("final_checks")
        if sid is None:
            self.fail(None, "after_handshake", "after the fuzz, GET /socket.io/?EIO=4&transport=polling did not answer "
                      "200 with a sid")
        for server, target in (("ws", "/"), ("eio", EIO_PATH + "?EIO=4&transport=websocket")):
            raw, _ = ws_handshake(random.Random(0), target, True)
            try:
                with socket.create_connection((fuzzlib.LOOPBACK, self.ports[server]), timeout=BOUND) as sock:
                    sock.sendall(raw)
                    deadline = time.monotonic() + BOUND
                    got, _ = fuzzlib.recv_until(sock, deadline, lambda d: b"\r\n\r\n" in d)
                    ok = got.startswith(b"HTTP/1.1 101 ")
                    if ok and server == "ws":
                        sock.sendall(ws_frame(random.Random(1), 1, b"hello"))
                    want = b"hello" if server == "ws" else b'"sid":'
                    got, _ = fuzzlib.recv_until(sock, deadline, lambda d: want in d, got)
                    ok = ok and want in got
            except OSError:
                ok, got = False, b""
            if not ok:
                what = "echo 'hello'" if server == "ws" else "send an open packet with a sid"
                self.fail(None, "after_handshake", f"after the fuzz, a good WebSocket handshake to the {server} server "
                          f"did not get 101 and {what}", raw, got)

    def check_event_logs(self) -> None:
        for key, child in self.servers.items():
            with open(child.stdout_path, "rb") as f:
                for n, line in enumerate(f, 1):
                    self.counts["event_lines"] += 1
                    try:
                        event = json.loads(line)
                        ok = isinstance(event, dict) and all(k in event for k in ("t", "conn", "side", "type"))
                    except ValueError:
                        ok = False
                    if not ok:
                        self.fail(None, "event_log", f"{key} server's event log line {n} is not a Flatline event: "
                                  f"{line[:300]!r}", got=line)
                        break

    def run(self) -> int:
        self.ports = {}
        self.start()
        pool = concurrent.futures.ThreadPoolExecutor(WORKERS + UNFINISHED)
        pending = [pool.submit(self.execute, c) for c in unfinished_cases(self.rng)]
        index = 0
        try:
            while self.report.budget.more(index) and self.counts["failures"] < 20:
                for f in [f for f in pending if f.done()]:
                    f.result()  # a fuzzer bug surfaces here rather than vanishing in the pool
                    pending.remove(f)
                if not all(c.alive() for c in self.servers.values()):
                    break
                if sum(not f.done() for f in pending) >= WORKERS + UNFINISHED:
                    concurrent.futures.wait(pending, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
                    continue
                case = gen_case(self.rng, index)
                if self.args.verbose:
                    print(f"case {index} {case.kind} {case.note} {case.data[:100]!r}")
                pending.append(pool.submit(self.execute, case))
                self.counts["cases"] += 1
                index += 1
            for f in concurrent.futures.as_completed(pending):
                f.result()
            if all(c.alive() for c in self.servers.values()):
                self.final_checks()
        finally:
            pool.shutdown(wait=True)
            for key, child in self.servers.items():
                alive = child.alive()
                problem = child.stop_problem(f"the {key} server")
                if alive and problem:
                    self.fail(None, "shutdown", problem)
            self.check_event_logs()
        return self.report.summary()


def main() -> int:
    args = fuzzlib.parse_args(NAME, __doc__, default_seconds=60, default_max_cases=20_000)
    return Fuzzer(args).run()


if __name__ == "__main__":
    sys.exit(main())
