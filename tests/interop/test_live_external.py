"""Live scenario runs (`flatline run --mode live`) with external components, as a user would run
them: the real python-socketio server started by Flatline behind its fault proxy, python-socketio
clients started by Flatline in front of it, and Ctrl-C in the middle of a run. Every test checks
that no program Flatline started is left running. Each run takes about 10 s."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent
PY = sys.executable  # the venv's python, which has python-socketio


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def processes_mentioning(marker):
    """Pids of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def children_of(pid):
    """Pids whose parent is `pid`."""
    kids = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return kids


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def run(scenario, out, timeout=60, extra=()):
    proc = subprocess.run([BIN, "run", str(scenario), "--mode", "live", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=timeout)
    folders = list(out.glob("*/*"))
    return proc, folders


def test_python_socketio_server_behind_the_proxy_blackhole_detected(tmp_path):
    marker = str(tmp_path)  # the server's command line names the scenario's folder
    scenario = write(tmp_path, "external-server", f"""
name: external-server
seed: 3
duration: 10s
server:
  command: [{PY}, {HERE / 'sio_server.py'}, "{{port}}", "1", "1", --tag, "{marker}"]
  env: {{ PYTHONUNBUFFERED: "1" }}
  readiness: {{ tcp: true, timeout: 15s }}
clients: {{ count: 2, builtin: socketio, reconnection: {{ delay: 500ms, delayMax: 1s, randomization: 0 }} }}
link: {{ both: {{ latency: 5ms }} }}
phases:
  - {{ at: 5s, until: end, both: blackhole, note: outage }}
expect: {{ falseDisconnects: 0, detectionWithin: 3s }}
""")
    proc, folders = run(scenario, tmp_path / "results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(folders) == 1, folders
    folder = folders[0]
    summary = json.loads((folder / "summary.json").read_text())
    assert [(v["name"], v["passed"]) for v in summary["verdicts"]] == [("falseDisconnects", True), ("detectionWithin", True)]
    assert summary["metrics"]["detections"]["mean"] == 2 and summary["metrics"]["missedDetections"]["mean"] == 0
    assert summary["partial"] is False
    events = [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines() if l.strip()]
    # Detected by the built-in clients during the outage; RTTs from the proxy's tap.
    drops = [e for e in events if e["type"] == "disconnect" and e["side"] == "client"]
    assert sorted(e["conn"] for e in drops) == ["c1", "c2"] and all(e["t"] >= 5 for e in drops), drops
    assert any(e["type"] == "pong" and e.get("rtt_ms", 0) > 0 for e in events)
    # The server's own output was kept: python-socketio saw both clients and their ping timeouts.
    server_log = [json.loads(l) for l in (folder / "logs" / "server.stdout").read_text().splitlines() if l.strip()]
    assert sum(1 for e in server_log if e["type"] == "connect") >= 2, server_log
    assert (folder / "logs" / "server.stderr").exists()
    assert [p["name"] for p in summary["programs"]] == ["server"]
    assert processes_mentioning(marker) == []


def test_a_paused_python_socketio_server_is_frozen_and_resumed(tmp_path):
    """`server: pause` on an external server stops its process group (SIGSTOP) for the phase and
    continues it after: the built-in clients (1 s / 1 s heartbeat) give up on the frozen server
    ("ping timeout", a detection: the 4 s pause outlasts the tolerated 1 s) and reconnect once it
    runs again; nothing is left stopped or running afterwards."""
    marker = str(tmp_path)
    scenario = write(tmp_path, "paused-server", f"""
name: paused-server
seed: 8
duration: 12s
server:
  command: [{PY}, {HERE / 'sio_server.py'}, "{{port}}", "1", "1", --tag, "{marker}"]
  env: {{ PYTHONUNBUFFERED: "1" }}
  readiness: {{ tcp: true, timeout: 15s }}
clients: {{ count: 2, builtin: socketio, reconnection: {{ delay: 500ms, delayMax: 1s, randomization: 0 }} }}
link: {{ both: {{ latency: 5ms }} }}
toleratedStall: 1s
phases:
  - {{ at: 3s, for: 4s, server: pause, note: frozen }}
expect: {{ falseDisconnects: 0, detectionWithin: 4s }}
""")
    proc, folders = run(scenario, tmp_path / "results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = folders[0]
    events = [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines() if l.strip()]
    drops = [e for e in events if e["type"] == "disconnect" and e["side"] == "client"]
    assert sorted(e["conn"] for e in drops) == ["c1", "c2"], drops
    assert all(3 < e["t"] < 7 and e["reason"] == "ping timeout" for e in drops), drops
    back = [e for e in events if e["type"] == "connect" and e["side"] == "client" and "reconnected" in e.get("detail", "")]
    assert sorted(e["conn"] for e in back) == ["c1", "c2"] and all(e["t"] >= 7 for e in back), back
    assert processes_mentioning(marker) == []


def test_an_external_server_writing_flatline_events_has_them_merged(tmp_path):
    """An external component that writes Flatline's event log on stdout (here `flatline serve`
    itself, run as an external program) has its events merged into the run's log, on the run's
    clock: the server's own pings and its ping-timeout disconnects sit beside the built-in clients'
    events, under the same connection names."""
    scenario = write(tmp_path, "own-log", f"""
name: own-log
seed: 5
duration: 8s
server:
  command: [{BIN}, serve, socketio, --port, "{{port}}", --ping-interval, 1s, --ping-timeout, 1s]
  readiness: {{ tcp: true, timeout: 15s }}
clients: {{ count: 2, builtin: socketio, reconnection: {{ delay: 500ms, delayMax: 1s, randomization: 0 }} }}
link: {{ both: {{ latency: 5ms }} }}
phases:
  - {{ at: 4s, until: end, both: blackhole, note: outage }}
expect: {{ falseDisconnects: 0, detectionWithin: 3s }}
""")
    proc, folders = run(scenario, tmp_path / "results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = folders[0]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["programs"][0]["eventsMerged"] > 10, summary["programs"]
    events = [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines() if l.strip()]
    server = [e for e in events if e["side"] == "server" and e["conn"] in ("c1", "c2")]
    assert {e["conn"] for e in server if e["type"] == "ping"} == {"c1", "c2"}, server[:10]
    # The server's own pings before the outage, on the run's clock; its ping timeouts during it.
    assert all(0 <= e["t"] < 8 for e in server)
    timeouts = [e for e in server if e["type"] == "disconnect" and e.get("reason") == "ping timeout"]
    assert sorted(e["conn"] for e in timeouts) == ["c1", "c2"] and all(4 < e["t"] < 7 for e in timeouts), timeouts
    times = [e["t"] for e in events]
    assert times == sorted(times)


def test_external_python_clients_reach_the_builtin_server(tmp_path):
    marker = str(tmp_path)
    scenario = write(tmp_path, "external-clients", f"""
name: external-clients
seed: 4
duration: 5s
server: {{ builtin: socketio, pingInterval: 1s, pingTimeout: 1s }}
clients:
  count: 3
  command: [{PY}, {HERE / 'sio_client.py'}, "{{host}}", "{{port}}", "{{index}}", "{marker}"]
link: {{ both: {{ latency: 5ms }} }}
expect: {{ falseDisconnects: 0 }}
""")
    proc, folders = run(scenario, tmp_path / "results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = folders[0]
    events = [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines() if l.strip()]
    connects = sorted({e["conn"] for e in events if e["type"] == "connect" and e["side"] == "server"})
    assert connects == ["x1", "x2", "x3"], events[:20]
    # The server's heartbeat ran with them: pongs with RTTs from each.
    assert {e["conn"] for e in events if e["type"] == "pong"} == {"x1", "x2", "x3"}
    for index in (1, 2, 3):
        out = (folder / "logs" / f"client-{index}.stdout").read_text()
        assert '"type": "connect"' in out, out
        assert (folder / "logs" / f"client-{index}.stderr").exists()
    summary = json.loads((folder / "summary.json").read_text())
    assert [p["name"] for p in summary["programs"]] == ["client-1", "client-2", "client-3"]
    assert summary["verdicts"][0]["passed"] is True
    assert processes_mentioning(marker) == []


def test_sigint_stops_everything_and_writes_partial_results(tmp_path):
    marker = str(tmp_path)
    scenario = write(tmp_path, "interrupted", f"""
name: interrupted
duration: 60s
server:
  command: [{PY}, {HERE / 'sio_server.py'}, "{{port}}", "1", "1", --tag, "{marker}"]
  readiness: tcp
clients: {{ count: 2, builtin: socketio }}
phases:
  - {{ at: 40s, until: end, both: blackhole, note: outage }}
expect: {{ falseDisconnects: 0, detectionWithin: 5s }}
""")
    out = tmp_path / "results"
    proc = subprocess.Popen([BIN, "run", str(scenario), "--mode", "live", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        kids = []
        while time.monotonic() < deadline and not kids:
            kids = children_of(proc.pid)
            time.sleep(0.1)
        assert kids, "flatline started no program"
        time.sleep(5)
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stdout + stderr
    assert took < 5, took
    assert "interrupted" in stderr
    folders = list(out.glob("interrupted/*"))
    assert len(folders) == 1, folders
    summary = json.loads((folders[0] / "summary.json").read_text())
    assert summary["partial"] is True
    assert 4 <= summary["ranForSeconds"] < 20, summary["ranFor"]
    assert summary["settings"]["duration"] == "1m"
    assert [v["name"] for v in summary["verdicts"]] == ["falseDisconnects", "detectionWithin"]
    assert '<property name="partial" value="true"/>' in (folders[0] / "junit.xml").read_text()
    assert "This run was interrupted" in (folders[0] / "report.html").read_text()
    assert (folders[0] / "logs" / "server.stdout").exists()
    assert all(gone(pid) for pid in kids), kids
    assert processes_mentioning(marker) == []


def test_a_scaled_interval_python_engineio_cannot_advertise_is_noted(tmp_path):
    """Issue 10, time scaling external programs: the scale is written once ({scaled:25s}), and at
    0.05 python-engineio pings every 1.25 s while it advertises int(1.25) = 1 s in its open packet
    (engineio/async_server.py, python-engineio 4.15.1); the proxy's tap sees both and the run says so."""
    marker = str(tmp_path)
    scenario = write(tmp_path, "scaled-server", f"""
name: scaled-server
seed: 3
duration: 200s
server:
  command: [{PY}, {HERE / 'sio_server.py'}, "{{port}}", "{{scaled:25s}}", "{{scaled:60s}}", --tag, "{marker}"]
  env: {{ PYTHONUNBUFFERED: "1" }}
  readiness: {{ tcp: true, timeout: 15s }}
clients: {{ count: 1, builtin: socketio }}
link: {{ both: {{ latency: 5ms }} }}
""")
    proc, folders = run(scenario, tmp_path / "results", extra=["--time-scale", "0.05"])
    assert len(folders) == 1, proc.stdout + proc.stderr
    summary = json.loads((folders[0] / "summary.json").read_text())
    notes = [n for n in summary["limitations"] if "advertised pingInterval" in n]
    assert len(notes) == 1, summary["limitations"]
    assert notes[0].startswith("the server advertised pingInterval 1000ms but pinged every 12"), notes[0]
    assert processes_mentioning(marker) == []


def test_builtin_clients_send_no_auth_to_an_external_server_by_default(tmp_path):
    """Issue 10, connecting the way real clients do: against an external server the built-in clients
    send no CONNECT payload unless the scenario gives `auth`, so python-socketio's legacy
    `connect(sid, environ)` handler accepts them (with a payload it raises TypeError and nobody
    connects). With `auth: { token: t }` it is sent as given, and that handler fails: the run then
    fails with the 'connected' verdict, as it does against a server that refuses everyone."""
    def scenario(name, mode, auth=""):
        return write(tmp_path, name, f"""
name: {name}
duration: 4s
server:
  command: [{PY}, {HERE / 'sio_legacy_server.py'}, "{{port}}", {mode}]
  env: {{ PYTHONUNBUFFERED: "1" }}
  readiness: {{ tcp: true, timeout: 15s }}
clients: {{ count: 2, builtin: socketio, connectTimeout: 1s{auth}, reconnection: {{ delay: 300ms, delayMax: 300ms, randomization: 0 }} }}
""")
    proc, folders = run(scenario("legacy", "legacy"), tmp_path / "r1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((folders[0] / "summary.json").read_text())
    assert "connected" not in [v["name"] for v in summary["verdicts"]], summary["verdicts"]
    server_log = (folders[0] / "logs" / "server.stdout").read_text()
    assert server_log.count("connect ") >= 2, server_log

    proc, folders = run(scenario("with-auth", "legacy", ", auth: { token: t }"), tmp_path / "r2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = json.loads((folders[0] / "summary.json").read_text())
    verdict = [v for v in summary["verdicts"] if v["name"] == "connected"]
    assert verdict and not verdict[0]["passed"], summary["verdicts"]
    assert "TypeError" in (folders[0] / "logs" / "server.stderr").read_text()
    # The server's traceback is in the results, not only in its log.
    server = [p for p in summary["programs"] if p["name"] == "server"][0]
    assert "TypeError" in server.get("traceback", ""), server
    assert server["traceback"].startswith("Traceback (most recent call last):"), server["traceback"]
    assert any(n.startswith("server printed a stack trace (logs/server.stderr)") and "TypeError" in n
               for n in summary["limitations"]), summary["limitations"]

    proc, folders = run(scenario("refused", "refuse"), tmp_path / "r3")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = json.loads((folders[0] / "summary.json").read_text())
    verdict = [v for v in summary["verdicts"] if v["name"] == "connected"]
    assert verdict and verdict[0]["measured"].startswith("no client ever completed a connect: "), summary["verdicts"]
    assert "refused by server" in verdict[0]["measured"], verdict


@pytest.mark.parametrize("balance", ["sid", "round_robin"])
def test_two_python_socketio_instances_behind_the_balancer_over_polling(tmp_path, balance):
    """`server.instances: 2` with an external server (issue 11): Flatline starts two real
    python-socketio servers, each on its own {port}, behind its proxy's balancer, and its built-in
    clients long-poll through it. Sticky by the Engine.IO sid every client keeps one session on one
    instance; balanced in turn the requests of a session scatter and nobody stays connected."""
    marker = str(tmp_path)
    scenario = write(tmp_path, "two-instances", f"""
name: two-instances
seed: 3
duration: 6s
server:
  command: [{PY}, {HERE / 'sio_server.py'}, "{{port}}", "1", "1", --tag, "{marker}", "instance-{{instance}}"]
  env: {{ PYTHONUNBUFFERED: "1" }}
  readiness: {{ tcp: true, timeout: 15s }}
  instances: 2
  balance: {balance}
clients: {{ count: 4, builtin: socketio, transports: [polling], connectTimeout: 2s,
           reconnection: {{ delay: 300ms, delayMax: 300ms, randomization: 0 }} }}
toleratedStall: 1s
expect: {{ falseDisconnects: 0 }}
""")
    proc, folders = run(scenario, tmp_path / "results")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    folder = folders[0]
    summary = json.loads((folder / "summary.json").read_text())
    assert [p["name"] for p in summary["programs"]] == ["server", "server-2"]
    logs = [[json.loads(l) for l in (folder / "logs" / f"{name}.stdout").read_text().splitlines() if l.strip()]
            for name in ("server", "server-2")]
    connects = [sum(1 for e in log if e["type"] == "connect") for log in logs]
    events = [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines() if l.strip()]
    client_connects = [e for e in events if e["side"] == "client" and e["type"] == "connect"]
    drops = [e for e in events if e["side"] == "client" and e["type"] == "disconnect"]
    if balance == "sid":
        assert proc.returncode == 0, proc.stdout
        assert connects == [2, 2], connects  # the handshakes in turn, each session kept where it was made
        assert sorted(e["conn"] for e in client_connects) == ["c1", "c2", "c3", "c4"], client_connects
        assert drops == [], drops
    else:
        # Every session's requests scatter: python-engineio answers the other instance's 400.
        assert len(drops) + sum(1 for e in events if e["side"] == "client" and e["type"] == "connect_error") >= 4, events
        assert len(client_connects) < 4 or drops, client_connects
    assert processes_mentioning(marker) == []


def test_a_python_socketio_instance_that_goes_down_is_killed_and_started_again(tmp_path):
    """`server: { down: [2] }` with external instances (issue 11): Flatline kills instance 2's real
    python-socketio process (SIGKILL, as a crash), its clients fail over to the others, and at the
    phase's end it starts the program again on the same port ("server-2.2"), back in the balancing
    once it accepts connections."""
    marker = str(tmp_path)
    scenario = write(tmp_path, "instance-down", f"""
name: instance-down
seed: 3
duration: 9s
server:
  command: [{PY}, {HERE / 'sio_server.py'}, "{{port}}", "1", "1", --tag, "{marker}"]
  env: {{ PYTHONUNBUFFERED: "1" }}
  readiness: {{ tcp: true, timeout: 15s }}
  instances: 3
clients: {{ count: 3, builtin: socketio, connectTimeout: 2s, reconnection: {{ delay: 300ms, delayMax: 300ms, randomization: 0 }} }}
toleratedStall: 1s
phases:
  - {{ at: 2s, for: 3s, server: {{ down: [2] }}, note: instance 2 crashes }}
expect: {{ falseDisconnects: 0, detectionWithin: 1s }}
""")
    proc, folders = run(scenario, tmp_path / "results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = folders[0]
    summary = json.loads((folder / "summary.json").read_text())
    programs = {p["name"]: p for p in summary["programs"]}
    assert sorted(programs) == ["server", "server-2", "server-2.2", "server-3"], sorted(programs)
    assert programs["server-2"]["exit"] == "killed by signal 9", programs["server-2"]
    assert programs["server-2.2"]["command"] == programs["server-2"]["command"], "the same program on the same port"
    assert programs["server-2.2"]["exitedOnItsOwn"] is False and programs["server-2"]["exitedOnItsOwn"] is False
    # The second start of instance 2 served (python-socketio logged its start) and nothing else died.
    first = [json.loads(l) for l in (folder / "logs" / "server-2.stdout").read_text().splitlines() if l.strip()]
    assert sum(1 for e in first if e["type"] == "connect") == 1, first
    events = [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines() if l.strip()]
    drops = [e for e in events if e["side"] == "client" and e["type"] == "disconnect"]
    assert len(drops) == 1 and 2 <= drops[0]["t"] < 2.5, drops
    back = [e for e in events if e["side"] == "client" and e["type"] == "connect" and e["conn"] == drops[0]["conn"] and e["t"] > drops[0]["t"]]
    assert back and back[0]["t"] - drops[0]["t"] < 1.5, back
    assert processes_mentioning(marker) == []
