"""A python-socketio AsyncClient as an external client of a live scenario run.

Usage: sio_client.py HOST PORT INDEX [ANYTHING...]
Connects over WebSocket to http://HOST:PORT (Flatline's proxy in a live run) with the auth
{"flatline": "x<INDEX>"}, so the built-in server logs the connection under that name, and stays
connected (python-socketio reconnecting as it does) until it is terminated. Prints one JSON line
per connect/disconnect on stdout. Further arguments are ignored (tests pass a marker to find the
process by).
"""
import asyncio
import json
import sys
import time

import socketio

host, port, index = sys.argv[1], int(sys.argv[2]), sys.argv[3]
start = time.monotonic()


def log(kind, **fields):
    print(json.dumps({"t": round(time.monotonic() - start, 3), "type": kind, "index": index, **fields}), flush=True)


async def main():
    client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=1)

    @client.event
    async def connect():
        log("connect", sid=client.sid)

    @client.event
    async def disconnect(reason=None):
        log("disconnect", reason=str(reason))

    await client.connect(f"http://{host}:{port}", transports=["websocket"], auth={"flatline": f"x{index}"},
                         wait_timeout=10)
    # Stays connected until the run terminates it; bounded all the same.
    await asyncio.sleep(600)


asyncio.run(main())
