"""Helpers shared by the interop tests: free loopback ports, waiting for a listener, and
processes that are always stopped (bounded waits everywhere)."""
import socket
import subprocess
import time

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=20):
    """Waits until something accepts on 127.0.0.1:port; fails the test if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"process exited early: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on {port}")


class Procs:
    """Processes started by a test; `close` kills whatever is still running."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p):
        """Terminates `p` and returns its stdout."""
        p.terminate()
        try:
            out, _ = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        return out

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
