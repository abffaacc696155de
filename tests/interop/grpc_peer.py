"""A grpcio (PyPI) server for the keepalive tests: one server-streaming method, /flatline.Feed/Watch,
that sends one message and then holds the stream open without data, so only HTTP/2 keepalive pings
cross the connection. Raw bytes, no generated code.

Usage: grpc_peer.py PORT MIN_PING_INTERVAL_MS
MIN_PING_INTERVAL_MS is the server's GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS: a client
pinging more often gets GOAWAY too_many_pings (grpc core's default is 300000, five minutes).
"""
import sys
import time
from concurrent import futures

import grpc

port, min_ping_ms = int(sys.argv[1]), int(sys.argv[2])


def watch(request, context):
    yield b"hello"
    while context.is_active():
        time.sleep(0.1)


handler = grpc.method_handlers_generic_handler("flatline.Feed", {
    "Watch": grpc.unary_stream_rpc_method_handler(watch),
})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[
    ("grpc.http2.min_ping_interval_without_data_ms", min_ping_ms),
    ("grpc.keepalive_permit_without_calls", 1),
])
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port(f"127.0.0.1:{port}")
server.start()
print("ready", flush=True)
server.wait_for_termination()
