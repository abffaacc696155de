"""Interop: drive Flatline's control API with the real Toxiproxy Python client.

The client is `toxiproxy-python` from PyPI (module `toxiproxy`, version 0.1.1, works on
Python 3.11). It has no call to update a toxic or to use the server's /populate endpoint, so
those go through the client's own HTTP layer (`toxiproxy.api.APIConsumer`) and, for PATCH,
through `requests` with the JSON Toxiproxy's Go and Ruby clients send.

Environment (set by whoever starts the servers):
  FLATLINE_API=127.0.0.1:PORT   a running `flatline proxy` control API
  FLATLINE_ECHO=127.0.0.1:PORT  a TCP echo server used as the proxies' upstream
"""

import re
import os
import socket
import time
import uuid

import pytest
import requests

toxiproxy = pytest.importorskip("toxiproxy")
from toxiproxy.api import APIConsumer  # noqa: E402
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists  # noqa: E402

API = os.environ.get("FLATLINE_API")
ECHO = os.environ.get("FLATLINE_ECHO")

if not API or not ECHO:
    pytest.skip("set FLATLINE_API and FLATLINE_ECHO to host:port of a running flatline proxy and echo server",
                allow_module_level=True)

API_HOST, API_PORT = API.rsplit(":", 1)
BASE = "http://%s" % API


def split(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


@pytest.fixture
def server():
    """A client pointed at Flatline, with every proxy removed before and after the test."""
    client = toxiproxy.Toxiproxy()
    client.update_api_consumer(API_HOST, int(API_PORT))
    client.destroy_all()
    yield client
    client.destroy_all()


@pytest.fixture
def name():
    return "py_" + uuid.uuid4().hex[:8]


def connect(proxy):
    conn = socket.create_connection(split(proxy.listen), timeout=5)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def round_trip(conn, payload=b"ping"):
    """Seconds for `payload` to come back through the echo server."""
    start = time.monotonic()
    conn.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = conn.recv(len(payload) - len(received))
        assert chunk, "connection closed during the round trip"
        received += chunk
    assert received == payload
    return time.monotonic() - start


def version_from_cli() -> str:
    """The version the flatline binary prints, when the interop script tells us where it is."""
    binary = os.environ.get("FLATLINE_BIN")
    if not binary:
        return requests.get(BASE + "/version").json()["version"]
    import subprocess
    return subprocess.run([binary, "--version"], check=True, capture_output=True, text=True).stdout.strip()


def test_server_is_running_and_reports_its_version(server):
    assert server.running()
    version = server.version()
    assert re.fullmatch(rb'\{"version":"\d+\.\d+\.\d+"\}\n?', version), version
    assert requests.get(BASE + "/version").json()["version"] == version_from_cli()


def test_create_list_and_destroy_a_proxy(server, name):
    proxy = server.create(upstream=ECHO, name=name)
    assert proxy.name == name
    assert proxy.upstream == ECHO
    assert proxy.enabled is True
    host, port = split(proxy.listen)
    assert host == "127.0.0.1" and port > 0

    proxies = server.proxies()
    assert name in proxies
    assert proxies[name].listen == proxy.listen

    with pytest.raises(ProxyExists):
        server.create(upstream=ECHO, name=name)
    # The server itself answers 409 too (the client checks first; ask directly).
    duplicate = requests.post(BASE + "/proxies", json={"name": name, "upstream": ECHO})
    assert duplicate.status_code == 409
    assert duplicate.json() == {"error": "proxy already exists", "status": 409}

    conn = connect(proxy)
    assert round_trip(conn) < 0.5
    conn.close()

    assert server.destroy(proxy) is True
    assert server.get_proxy(name) is None
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/%s" % name)


def test_add_update_and_remove_toxics(server, name):
    proxy = server.create(upstream=ECHO, name=name)
    conn = connect(proxy)
    assert round_trip(conn) < 0.1

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic is not None
    assert toxic.type == "latency"
    assert toxic.stream == "downstream"
    assert toxic.toxicity == 1
    assert toxic.attributes == {"latency": 100, "jitter": 0}
    assert round_trip(conn) >= 0.1

    proxy.add_toxic(type="bandwidth", stream="upstream", name="slow_up", toxicity=0.5, attributes={"rate": 64})
    toxics = proxy.toxics()
    assert sorted(toxics) == ["latency_downstream", "slow_up"]
    assert toxics["slow_up"].stream == "upstream"
    assert toxics["slow_up"].toxicity == 0.5
    assert toxics["slow_up"].attributes == {"rate": 64}

    with pytest.raises(ProxyExists):  # 409 "toxic already exists"
        proxy.add_toxic(type="latency", attributes={"latency": 5})
    with pytest.raises(InvalidToxic):  # 400 unknown type
        proxy.add_toxic(type="gauss", name="g")
    with pytest.raises(InvalidToxic):  # 400 bad attribute
        proxy.add_toxic(type="latency", name="neg", attributes={"latency": -1})

    # The client has no update call: POST through its own HTTP layer, as Toxiproxy 2.0 clients did.
    updated = APIConsumer.post("/proxies/%s/toxics/latency_downstream" % name,
                               json={"attributes": {"latency": 200}}).json()
    assert updated["attributes"] == {"latency": 200, "jitter": 0}
    assert proxy.get_toxic("latency_downstream").attributes["latency"] == 200
    assert round_trip(conn) >= 0.2

    # PATCH, as the Go client's UpdateToxic sends it: attributes merge, toxicity is replaced.
    patched = requests.patch(BASE + "/proxies/%s/toxics/latency_downstream" % name,
                             json={"attributes": {"jitter": 10}, "toxicity": 1.0})
    assert patched.status_code == 200
    assert patched.json()["attributes"] == {"latency": 200, "jitter": 10}

    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.destroy_toxic("slow_up") is True
    assert proxy.toxics() == {}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")
    assert round_trip(conn) < 0.1
    conn.close()


def test_flatline_toxics_through_the_client(server, name):
    proxy = server.create(upstream=ECHO, name=name)
    proxy.add_toxic(type="stall", stream="upstream", attributes={"duration": 0})
    proxy.add_toxic(type="loss", attributes={"model": "gilbert_elliott", "p": 0.02, "r": 0.3})
    proxy.add_toxic(type="latency", name="lognormal",
                    attributes={"distribution": {"type": "lognormal", "median": 40, "p99": 180}, "correlation": 0.25})
    toxics = proxy.toxics()
    assert toxics["stall_upstream"].attributes == {"duration": 0}
    assert toxics["loss_downstream"].attributes == {"model": "gilbert_elliott", "p": 0.02, "r": 0.3}
    assert toxics["lognormal"].attributes["distribution"] == {"type": "lognormal", "median": 40, "p99": 180}
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="loss", name="bad_loss", attributes={"probability": 1.5})


def test_disable_closes_connections_and_enable_restores(server, name):
    proxy = server.create(upstream=ECHO, name=name)
    conn = connect(proxy)
    round_trip(conn)

    proxy.disable()
    assert server.get_proxy(name).enabled is False
    conn.settimeout(5)
    try:
        assert conn.recv(1) == b""
    except ConnectionResetError:
        pass
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(split(proxy.listen), timeout=2)

    proxy.enable()
    assert server.get_proxy(name).enabled is True
    conn = connect(proxy)
    round_trip(conn)
    conn.close()

    with proxy.down():
        with pytest.raises(OSError):
            socket.create_connection(split(proxy.listen), timeout=2)
    assert server.get_proxy(name).enabled is True


def test_client_side_populate(server, name):
    proxies = [
        {"name": name + "_a", "upstream": ECHO, "listen": "127.0.0.1:0"},
        {"name": name + "_b", "upstream": ECHO, "listen": "127.0.0.1:0"},
    ]
    created = server.populate(proxies)
    assert sorted(p.name for p in created) == [name + "_a", name + "_b"]
    assert all(p.enabled for p in created)
    assert {name + "_a", name + "_b"} <= set(server.proxies())


def test_server_populate_endpoint(server, name):
    # Array form, as the Go client's Populate sends it.
    response = APIConsumer.post("/populate", json=[{"name": name, "upstream": ECHO}])
    assert response.status_code == 201
    body = response.json()
    assert [p["name"] for p in body["proxies"]] == [name]
    listen = body["proxies"][0]["listen"]

    # Object form; same listen and upstream keeps the proxy, another upstream replaces it.
    requests.post(BASE + "/proxies/%s/toxics" % name, json={"type": "latency", "attributes": {"latency": 1}})
    again = requests.post(BASE + "/populate", json={"proxies": [{"name": name, "upstream": ECHO, "listen": listen}]})
    assert again.status_code == 201
    assert len(again.json()["proxies"][0]["toxics"]) == 1

    bad = requests.post(BASE + "/populate", json=[{"name": name + "_x"}])
    assert bad.status_code == 400
    assert bad.json()["error"] == "missing required field: proxies[0].upstream"
    assert bad.json()["proxies"] == []


def test_reset_removes_toxics_and_enables_proxies(server, name):
    proxy = server.create(upstream=ECHO, name=name)
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()
    assert server.reset() is True
    assert proxy.toxics() == {}
    assert server.get_proxy(name).enabled is True


def test_errors_have_toxiproxy_shape(server, name):
    missing = requests.get(BASE + "/proxies/%s" % name)
    assert missing.status_code == 404
    assert missing.json() == {"error": "proxy not found", "status": 404}
    bad = requests.post(BASE + "/proxies", data="{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("bad request body:")
    assert requests.post(BASE + "/proxies", json={"upstream": ECHO}).json()["error"] == "missing required field: name"
    assert requests.delete(BASE + "/version").status_code == 405
    assert requests.get(BASE + "/no/such/route").status_code == 404
