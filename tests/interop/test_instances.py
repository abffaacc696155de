"""Several server instances behind Flatline's proxy (issue 11): two and three real python-socketio
servers (python-socketio 5.18.1 / python-engineio 4.15.1 on aiohttp) behind one proxy that balances
new connections. Long-polling needs every request of a session to reach the instance that holds it:
balanced in turn, the second request lands on the other instance, which answers 400 "Invalid session
<sid>" (python-engineio's async_server.py, `_bad_request(f'Invalid session {sid}')`), and the real
python-socketio client cannot connect; sticky by the Engine.IO sid or by the client's address, it
works. WebSocket (one connection a session) works in turn. An instance that dies and is taken out of
the balancing loses its clients, which reconnect to the others."""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
import requests
from interop_support import Procs, free_port, wait_port

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.close()


def start_cluster(procs, count, balance):
    """`count` python-socketio servers and a Flatline proxy in front of them; returns the proxy's
    address, the API's base URL and the server processes with their ports."""
    ports = [free_port() for _ in range(count)]
    servers = [procs.start([sys.executable, str(HERE / "sio_server.py"), str(p), "1", "1"]) for p in ports]
    api, listen = free_port(), free_port()
    procs.start([BIN, "proxy", "--port", str(api)])
    for port, server in zip(ports, servers):
        wait_port(port, server)
    wait_port(api)
    base = f"http://127.0.0.1:{api}"
    created = requests.post(f"{base}/proxies", json={
        "name": "lb", "listen": f"127.0.0.1:{listen}",
        "upstreams": [f"127.0.0.1:{p}" for p in ports], "balance": balance}, timeout=5)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["upstreams"] == [f"127.0.0.1:{p}" for p in ports] and body["balance"] == balance
    return listen, base, list(zip(servers, ports))


def http(listen, target, body=None, source="127.0.0.1"):
    """One HTTP request on a connection of its own (from `source`, a loopback address), as a
    long-polling client's concurrent requests are; returns the status and the body."""
    with socket.create_connection(("127.0.0.1", listen), timeout=5, source_address=(source, 0)) as s:
        method = "POST" if body is not None else "GET"
        data = (body or "").encode()
        s.sendall(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                  f"Content-Type: text/plain\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), payload.decode(errors="replace")


def handshake(listen, source="127.0.0.1"):
    status, body = http(listen, "/socket.io/?EIO=4&transport=polling", source=source)
    assert status == 200 and body.startswith("0{"), (status, body)
    return json.loads(body[1:])["sid"]


def client(procs, listen, transport, seconds):
    return procs.start([sys.executable, str(HERE / "sio_instance_client.py"), f"http://127.0.0.1:{listen}",
                        transport, str(seconds)])


def client_events(p, timeout=30):
    out, _ = p.communicate(timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def connects(procs, servers):
    """How many Socket.IO connects each server logged (stops them)."""
    return [sum(1 for line in procs.stop(s).splitlines() if '"type": "connect"' in line) for s, _ in servers]


def test_polling_balanced_in_turn_breaks_sessions_and_sticky_ones_hold(procs):
    listen, base, servers = start_cluster(procs, 2, "round_robin")
    # The handshake lands on instance 0; the session's next request, on a connection of its own,
    # on instance 1, which never heard of it.
    sid = handshake(listen)
    status, body = http(listen, f"/socket.io/?EIO=4&transport=polling&sid={sid}", body="40")
    assert status == 400 and f"Invalid session {sid}" in body, (status, body)
    # The real client cannot connect over polling at all.
    events = client_events(client(procs, listen, "polling", 2))
    assert not any(e["type"] == "echo_ok" for e in events), events
    assert any(e["type"] in ("connect_failed", "connect_error") for e in events), events

    # Sticky by the Engine.IO sid: the proxy read the sid its handshake answer handed out, and
    # routes every later request of that session to the instance that holds it.
    assert requests.patch(f"{base}/proxies/lb", json={"balance": "sid"}, timeout=5).status_code == 200
    sid = handshake(listen)
    for _ in range(3):
        status, body = http(listen, f"/socket.io/?EIO=4&transport=polling&sid={sid}", body="40")
        assert status == 200 and body == "OK", (status, body)
    runs = [client(procs, listen, "polling", 3) for _ in range(3)]
    for events in map(client_events, runs):
        assert any(e["type"] == "connect" for e in events), events
        assert sum(e["type"] == "echo_ok" and e["ok"] for e in events) >= 5, events
        assert not any(e["type"] in ("echo_failed", "connect_failed", "connect_error") for e in events), events
        assert [e["reason"] for e in events if e["type"] == "disconnect"] == ["client disconnect"], events
    # The handshakes were spread in turn, so both instances hold sessions.
    assert all(n >= 1 for n in connects(procs, servers))


def test_polling_sticky_by_client_address(procs):
    listen, _, servers = start_cluster(procs, 2, "source")
    # Clients on two loopback addresses; each address's requests always reach the same instance.
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        sid = handshake(listen, source=source)
        for _ in range(3):
            status, body = http(listen, f"/socket.io/?EIO=4&transport=polling&sid={sid}", body="40", source=source)
            assert status == 200 and body == "OK", (source, status, body)


def test_websocket_in_turn_spreads_clients_and_an_instance_that_dies_loses_them_to_the_others(procs):
    listen, base, servers = start_cluster(procs, 3, "round_robin")
    runs = [client(procs, listen, "websocket", 6) for _ in range(3)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = requests.get(f"{base}/proxies/lb/upstreams", timeout=5).json()
        if [u["connections"] for u in listed] == [1, 1, 1]:
            break
        time.sleep(0.1)
    assert [u["connections"] for u in listed] == [1, 1, 1], listed
    # Instance 1 dies; the balancer takes it out (a health check would).
    victim, _ = servers[1]
    victim.kill()
    victim.communicate(timeout=5)
    out = requests.post(f"{base}/proxies/lb/upstreams/1", json={"enabled": False}, timeout=5)
    assert out.status_code == 200 and out.json()["enabled"] is False, out.text
    results = list(map(client_events, runs))
    def dropped_at(events):
        # Not the client's own disconnect at the end.
        return [e["t"] for e in events if e["type"] == "disconnect" and e["reason"] != "client disconnect"]
    dropped = [events for events in results if dropped_at(events)]
    assert len(dropped) == 1, results
    events = dropped[0]
    gone = dropped_at(events)[0]
    back = [e for e in events if e["type"] == "connect" and e["t"] > gone]
    assert back and back[0]["t"] - gone < 2, events
    assert any(e["type"] == "echo_ok" and e["t"] > back[0]["t"] for e in events), events
    # Every client kept answering; the survivors took the dropped one.
    for events in results:
        assert sum(e["type"] == "echo_ok" for e in events) >= 15, events
    survivors = [servers[0], servers[2]]
    assert sum(connects(procs, survivors)) == 3
    listed = requests.get(f"{base}/proxies/lb/upstreams", timeout=5).json()
    assert listed[1]["enabled"] is False


def test_bad_pools_are_refused_with_the_field(procs):
    api = free_port()
    procs.start([BIN, "proxy", "--port", str(api)])
    wait_port(api)
    base = f"http://127.0.0.1:{api}"
    for body, field in [({"name": "a", "upstreams": []}, "upstreams"),
                        ({"name": "a", "upstreams": ["nowhere"]}, "upstreams[0]"),
                        ({"name": "a", "upstreams": ["127.0.0.1:1"], "balance": "random"}, "balance"),
                        ({"name": "a", "upstream": "127.0.0.1:2", "upstreams": ["127.0.0.1:1"]}, "upstream")]:
        r = requests.post(f"{base}/proxies", json=body, timeout=5)
        assert r.status_code == 400 and field in r.text, (body, r.status_code, r.text)
    assert requests.get(f"{base}/proxies", timeout=5).json() == {}, "nothing was created"
    assert requests.post(f"{base}/proxies", json={"name": "a", "upstream": "127.0.0.1:1"}, timeout=5).status_code == 201
    assert requests.get(f"{base}/proxies/a/upstreams/3", timeout=5).status_code == 404
    assert requests.post(f"{base}/proxies/a/upstreams/0", json={"enabled": "no"}, timeout=5).status_code == 400
