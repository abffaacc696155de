"""Shared plumbing for Flatline's fuzzers (scripts/fuzz/*_fuzz.py; see docs/fuzzing.md).

Every fuzzer takes the same flags (`--seed N --seconds S --out DIR [--max-cases K]`), finds the
`flatline` binary the same way (FLATLINE_BIN, else `swift build --show-bin-path`; it never builds),
starts its servers on 127.0.0.1 in process groups of their own and stops them by pid, and records
each broken invariant the same way: a folder `DIR/failure-NNN-<kind>/` holding the failing input
byte for byte and `case.json` (what was observed, what was expected, the command that reproduces it).
Only the standard library is used.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Callable

REPO = pathlib.Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


def flatline_binary() -> str:
    """The already-built flatline binary: $FLATLINE_BIN, else `swift build --show-bin-path`/flatline."""
    path = os.environ.get("FLATLINE_BIN")
    if not path:
        try:
            bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, check=True,
                                     capture_output=True, text=True, timeout=120).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            sys.exit(f"error: cannot ask swift for the bin path ({error}); set FLATLINE_BIN")
        path = os.path.join(bin_dir, "flatline")
    if not os.access(path, os.X_OK):
        sys.exit(f"error: {path} is not an executable flatline binary (build it first: swift build --product flatline)")
    return path


def parse_args(name: str, doc: str, default_seconds: float, default_max_cases: int) -> argparse.Namespace:
    """The flags every fuzzer shares; --seconds defaults to $FUZZ_SECONDS, else `default_seconds`."""
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=doc.strip().splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="seed of everything generated (default 1)")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", default_seconds)),
                        help=f"time budget for generating cases (default $FUZZ_SECONDS or {default_seconds:g})")
    parser.add_argument("--max-cases", type=int, default=default_max_cases,
                        help=f"count budget: stop after this many cases (default {default_max_cases})")
    parser.add_argument("--out", default=None, help=f"where reproducers and logs go (default results/fuzz/{name}-seed<N>)")
    parser.add_argument("--strict", action="store_true",
                        help="count the known Flatline issues listed in the fuzzer as failures too")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = parser.parse_args()
    if args.out is None:
        args.out = str(REPO / "results" / "fuzz" / f"{name}-seed{args.seed}")
    os.makedirs(args.out, exist_ok=True)
    return args


class Budget:
    """Bounded in count and in time: `more(n)` says whether case `n` may start."""

    def __init__(self, seconds: float, max_cases: int):
        self.start = time.monotonic()
        self.seconds = seconds
        self.max_cases = max_cases

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def more(self, done: int) -> bool:
        return done < self.max_cases and self.elapsed() < self.seconds


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the OS may give it to someone else later)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Waits until a TCP connect to 127.0.0.1:port succeeds; False after `seconds` or once `alive()` is False."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Child:
    """A server the fuzzer started: its own process group, output in a log file, stopped by pid."""

    def __init__(self, argv: list[str], log_path: str, stdout_path: str | None = None, cwd: str | None = None):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.stdout_path = stdout_path
        self.stdout = open(stdout_path, "wb") if stdout_path else self.log
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.stdout, stderr=self.log,
                                     cwd=cwd, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop_problem(self, what: str, grace: float = 10.0) -> str | None:
        """Stops the child (`stop`) and says what was wrong with how it ended, or None when it
        exited within `grace` of SIGTERM with status 0 or by SIGTERM itself."""
        code, took = self.stop(grace)
        if took == float("inf"):
            return f"{what} did not exit within {grace:g} s of SIGTERM"
        if code not in (0, -signal.SIGTERM):
            return f"{what} ended with {describe_exit(code)} on SIGTERM"
        return None

    def stop(self, grace: float = 10.0) -> tuple[int | None, float]:
        """SIGTERM, then SIGKILL after `grace` seconds; returns (exit code, seconds it took to exit after SIGTERM)."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        took = time.monotonic() - started
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group of the process we started, by its pid
            except ProcessLookupError:
                pass
            self.proc.wait()
            took = float("inf")
        for f in {self.log, self.stdout}:
            f.close()
        return self.proc.returncode, took

    def log_tail(self, limit: int = 2000) -> str:
        try:
            self.log.flush()
            with open(self.log_path, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""


class Report:
    """Counts and failures of one fuzzer run; prints the summary line and gives the exit code."""

    def __init__(self, name: str, args: argparse.Namespace, known: dict[str, str] | None = None,
                 max_failures: int = 20):
        self.name = name
        self.args = args
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.max_failures = max_failures
        self.budget = Budget(args.seconds, args.max_cases)
        # Broken invariants already reported as Flatline bugs (kind -> what and where it is written
        # down): counted as known_<kind>, one reproducer kept, not failed unless --strict. Remove an
        # entry once the bug is fixed, so the fuzzer guards the fix.
        self.known = {} if args.strict else dict(known or {})

    def repro_command(self, case: int | None = None) -> str:
        cases = f" --max-cases {case + 1}" if case is not None else ""
        return (f".venv/bin/python scripts/fuzz/{self.name}.py --seed {self.args.seed} --seconds 600{cases} "
                f"--out /tmp/{self.name}-repro")

    def fail(self, kind: str, message: str, case: int | None = None, files: dict[str, bytes] | None = None,
             details: dict | None = None) -> None:
        """Records a broken invariant: prints it and writes DIR/failure-NNN-kind/ with the input
        (a known issue: DIR/known-kind/, once, and no failure)."""
        if kind in self.known:
            self.counts[f"known_{kind}"] += 1
            folder = os.path.join(self.args.out, f"known-{kind}")
            if self.counts[f"known_{kind}"] > 1:
                return
        else:
            self.counts["failures"] += 1
            n = len(self.failures) + 1
            if n > self.max_failures:
                return
            folder = os.path.join(self.args.out, f"failure-{n:03d}-{kind}")
        os.makedirs(folder, exist_ok=True)
        for filename, data in (files or {}).items():
            with open(os.path.join(folder, filename), "wb") as f:
                f.write(data)
        record = {"fuzzer": self.name, "seed": self.args.seed, "case": case, "kind": kind, "message": message,
                  "reproduce": self.repro_command(case), "files": sorted(files or {})}
        record.update(details or {})
        with open(os.path.join(folder, "case.json"), "w") as f:
            json.dump(record, f, indent=2, ensure_ascii=False, default=repr)
            f.write("\n")
        if kind in self.known:
            print(f"{self.name}: known issue [{kind}] case {case}: {message}\n  ({self.known[kind]}; reproducer: {folder})",
                  file=sys.stderr, flush=True)
            return
        self.failures.append(folder)
        print(f"{self.name}: FAIL [{kind}] case {case}: {message}\n  reproducer: {folder}", file=sys.stderr, flush=True)

    def summary(self) -> int:
        """Prints `<name>: seed=N cases=... failures=F elapsed=Ts` and returns the exit code (1 on any failure)."""
        parts = [f"seed={self.args.seed}"]
        order = ["cases"] + sorted(k for k in self.counts if k not in ("cases", "failures")) + ["failures"]
        parts += [f"{k}={self.counts[k]}" for k in order]
        parts.append(f"elapsed={self.budget.elapsed():.1f}s")
        print(f"{self.name}: " + " ".join(parts), flush=True)
        if self.counts["failures"]:
            print(f"{self.name}: {self.counts['failures']} broken invariant(s); reproducers under {self.args.out}",
                  file=sys.stderr)
            return 1
        return 0


def recv_until(sock: socket.socket, deadline: float, done: Callable[[bytes], bool], data: bytes = b"",
               quiet: float | None = None) -> tuple[bytes, bool]:
    """Reads into `data` until done(data), EOF (returns closed=True), `deadline`, or `quiet` seconds of silence.
    A reset counts as a close: closed is then the string "reset" (truthy)."""
    last = time.monotonic()
    while not done(data):
        now = time.monotonic()
        wait = deadline - now
        if quiet is not None:
            wait = min(wait, last + quiet - now)
        if wait <= 0:
            return data, False
        sock.settimeout(wait)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return data, "reset"
        if not chunk:
            return data, True
        data += chunk
        last = time.monotonic()
    return data, False


def parse_http_response(data: bytes, head_request: bool = False) -> tuple[int, dict[str, str], bytes, int] | None:
    """The first complete final (non-1xx) response in `data`: (status, headers lower-cased, body, bytes used);
    None while incomplete. Bodies are framed by Content-Length, or by the close when there is none."""
    offset = 0
    while True:
        end = data.find(b"\r\n\r\n", offset)
        if end < 0:
            return None
        head = data[offset:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP status line: {lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_start = end + 4
        if 100 <= status < 200 and status != 101:
            offset = body_start
            continue
        if head_request or status in (101, 204, 304):
            return status, headers, b"", body_start
        if "content-length" in headers:
            length = int(headers["content-length"])
            if len(data) < body_start + length:
                return None
            return status, headers, data[body_start:body_start + length], body_start + length
        return status, headers, data[body_start:], len(data)


def http_exchange(port: int, raw: bytes, bound: float = 5.0, first_wait: float = 3.0,
                  pieces: list[bytes] | None = None, piece_delay: float = 0.0) -> dict:
    """Sends `raw` (or `pieces`, `piece_delay` apart) on a fresh connection and waits for the answer:
    up to `first_wait` for a response, then half-closes and waits for a response or the close until
    `bound`. Returns {outcome: response|close|reset|timeout|refused, status, headers, body, elapsed}."""
    started = time.monotonic()
    deadline = started + bound
    result: dict = {"outcome": "timeout", "status": None, "headers": {}, "body": b"", "raw": b""}
    try:
        sock = socket.create_connection((LOOPBACK, port), timeout=bound)
    except OSError as error:
        result.update(outcome="refused", error=str(error), elapsed=time.monotonic() - started)
        return result
    with sock:
        try:
            for i, piece in enumerate(pieces or [raw]):
                if i and piece_delay:
                    time.sleep(piece_delay)
                sock.sendall(piece)
        except OSError:
            pass  # the server may close before it has read everything; what it answered still counts
        head = (pieces or [raw])[0].startswith(b"HEAD ")
        data, closed, half_closed = b"", False, False
        while True:
            phase_end = min(deadline, started + first_wait) if not half_closed else deadline
            data, closed = recv_until(sock, phase_end, lambda d: response_complete(d, head), data)
            if response_complete(data, head) or closed:
                break
            if half_closed or time.monotonic() >= deadline:
                break
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            half_closed = True
        result["raw"] = data
        result["elapsed"] = time.monotonic() - started
        try:
            parsed = parse_http_response(data, head) if data else None
        except ValueError as error:
            result.update(outcome="garbage", error=str(error))
            return result
        if parsed is None and closed and data and not _only_interim(data):
            result.update(outcome="truncated")
        elif parsed:
            status, headers, body, _ = parsed
            result.update(outcome="response", status=status, headers=headers, body=body)
        elif closed:
            result.update(outcome="close")
        return result


def response_complete(data: bytes, head: bool = False) -> bool:
    """Whether `data` holds a whole final response (or cannot be one: not HTTP at all)."""
    try:
        return parse_http_response(data, head) is not None
    except ValueError:
        return True


def _only_interim(data: bytes) -> bool:
    """Whether `data` holds nothing but whole 1xx responses (100 Continue before a close)."""
    heads = data.split(b"\r\n\r\n")
    return heads[-1] == b"" and all(re.match(rb"HTTP/\d\.\d 1\d\d ", h) for h in heads[:-1])
