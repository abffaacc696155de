"""Replays a fuzzer's reproducer bytes to a server on 127.0.0.1 and prints what comes back (docs/fuzzing.md).

    .venv/bin/python scripts/fuzz/replay.py PORT results/fuzz/api_fuzz-seed1/failure-001-5xx/request.bin
    .venv/bin/python scripts/fuzz/replay.py PORT .../all-requests.bin --sequence   # each request on its own connection

It sends the file as it is on one connection (with --sequence: every request of an api_fuzz
all-requests.bin, in order, one connection each), half-closes after --wait seconds of silence, and
prints the answer escaped, with how the connection ended.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import fuzzlib  # noqa: E402

SEPARATOR = b"\n\n==== next request ====\n\n"  # as api_fuzz writes all-requests.bin


def replay(port: int, data: bytes, wait: float, bound: float) -> None:
    started = time.monotonic()
    with socket.create_connection((fuzzlib.LOOPBACK, port), timeout=bound) as sock:
        try:
            sock.sendall(data)
        except OSError as error:
            print(f"(send stopped: {error})")
        got, closed = fuzzlib.recv_until(sock, started + bound, lambda d: False, quiet=wait)
        if not closed:
            sock.shutdown(socket.SHUT_WR)
            got, closed = fuzzlib.recv_until(sock, started + bound, lambda d: False, got)
    end = {True: "closed (FIN)", "reset": "reset", False: f"still open after {bound:g} s"}[closed]
    print(f"sent {len(data)} bytes; got {len(got)} bytes in {time.monotonic() - started:.2f} s; {end}")
    print(got[:4000].decode("latin-1").encode("unicode_escape").decode("ascii").replace("\\r\\n", "\\r\\n\n"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("file")
    parser.add_argument("--sequence", action="store_true", help="the file is an api_fuzz all-requests.bin")
    parser.add_argument("--wait", type=float, default=1.0, help="silence before half-closing (default 1 s)")
    parser.add_argument("--bound", type=float, default=15.0, help="give up after this long (default 15 s)")
    args = parser.parse_args()
    with open(args.file, "rb") as f:
        data = f.read()
    for i, piece in enumerate(data.split(SEPARATOR) if args.sequence else [data]):
        if args.sequence:
            print(f"== request {i + 1}")
        replay(args.port, piece, args.wait, args.bound)
    return 0


if __name__ == "__main__":
    sys.exit(main())
