"""A python-socketio AsyncServer whose connect handler is the legacy `connect(sid, environ)` one (no
auth parameter), as real dashboards write it; with `refuse` it refuses every namespace connect.

Usage: sio_legacy_server.py PORT MODE   (MODE: legacy or refuse)
python-socketio calls a handler without an auth parameter only when the client sent no CONNECT
payload (socketio/async_server.py, 5.18.1): with one, the call raises TypeError and the client is
never connected.
"""
import sys

import socketio
from aiohttp import web

port, mode = int(sys.argv[1]), sys.argv[2]
sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=1, ping_timeout=1)
app = web.Application()
sio.attach(app)


@sio.event
async def connect(sid, environ):
    if mode == "refuse":
        raise socketio.exceptions.ConnectionRefusedError("not allowed")
    print("connect", sid, flush=True)


web.run_app(app, host="127.0.0.1", port=port, print=None)
