"""python-socketio's AsyncServer on aiohttp, the reference peer for Flatline's tests.

Usage: sio_server.py PORT PING_INTERVAL_S PING_TIMEOUT_S
Prints one JSON line per connect/disconnect on stdout (with the reason python-socketio gives) and
answers "echo" with an emit and an ack, like Flatline's built-in server.
"""
import json
import sys
import time

import socketio
from aiohttp import web

port, interval, timeout = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=interval, ping_timeout=timeout,
                           cors_allowed_origins="*")
app = web.Application()
sio.attach(app)
start = time.monotonic()


def log(kind, **fields):
    now = time.monotonic()
    # "m": the system-wide monotonic clock, so a test can line events up with its own instants.
    print(json.dumps({"t": now - start, "m": now, "type": kind, **fields}), flush=True)


@sio.event
async def connect(sid, environ, auth=None):
    log("connect", sid=sid)
    sio.start_background_task(ask, sid)


async def ask(sid):
    """Server-to-client event with an ack: the client's answer is logged."""
    await sio.sleep(0.1)
    try:
        answer = await sio.call("question", {"n": 21}, to=sid, timeout=5)
        log("answer", sid=sid, data=answer)
    except Exception as error:  # a client that does not ack
        log("no_answer", sid=sid, error=repr(error))


@sio.event
async def disconnect(sid, reason=None):
    log("disconnect", sid=sid, reason=str(reason))


@sio.on("echo")
async def echo(sid, data):
    await sio.emit("echo", data, to=sid)
    return data


web.run_app(app, host="127.0.0.1", port=port, print=None)
