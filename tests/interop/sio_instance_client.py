"""A python-socketio AsyncClient for the several-instances tests.

Usage: sio_instance_client.py URL TRANSPORT SECONDS
Connects to URL with only TRANSPORT (polling or websocket), reconnecting as python-socketio does,
and every 0.2 s calls "echo" (an emit with an ack) until SECONDS have passed. Prints one JSON line
per connect, disconnect, connect error, answered echo and failed echo.
"""
import asyncio
import json
import sys
import time

import socketio

url, transport, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
start = time.monotonic()


def log(kind, **fields):
    print(json.dumps({"t": round(time.monotonic() - start, 3), "type": kind, **fields}), flush=True)


async def main():
    client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=0.5,
                                  randomization_factor=0)

    @client.event
    async def connect():
        log("connect", sid=client.get_sid(), eio_sid=client.eio.sid)

    @client.event
    async def disconnect(reason=None):
        log("disconnect", reason=str(reason))

    @client.event
    async def connect_error(data):
        log("connect_error", data=str(data))

    try:
        await client.connect(url, transports=[transport], wait_timeout=5)
    except Exception as error:
        log("connect_failed", error=repr(error))
    n = 0
    while time.monotonic() - start < seconds:
        await asyncio.sleep(0.2)
        if not client.connected:
            continue
        n += 1
        try:
            answer = await client.call("echo", {"n": n}, timeout=1)
            log("echo_ok", n=n, ok=answer == {"n": n})
        except Exception as error:
            log("echo_failed", n=n, error=repr(error))
    await client.disconnect()


asyncio.run(main())
