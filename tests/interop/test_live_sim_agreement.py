"""A scenario run live (`flatline run --mode live`: loopback sockets through the fault proxy, the
built-in server and clients on NIO) and simulated (`--mode sim`, virtual time, the same Heartbeat
machines and link model) must agree: same verdicts, and per client the same disconnects with the
same classification at nearly the same times. Run in its own process: a live run needs the CPU."""
import json
import os
import pathlib
import subprocess

import pytest

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
HERE = pathlib.Path(__file__).parent
TOLERANCE_S = 0.3


def run(mode, out, file="agreement.yaml", name="live-sim-agreement"):
    proc = subprocess.run([BIN, "run", str(HERE / file), "--mode", mode, "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    folder = next((out / name).iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    events = [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines() if l.strip()]
    drops = sorted((e["conn"], e["t"], e["reason"]) for e in events
                   if e["type"] == "disconnect" and e["side"] == "client" and e["reason"] != "io client disconnect")
    return summary, drops


def test_live_and_simulated_runs_agree(tmp_path):
    sim, sim_drops = run("sim", tmp_path / "sim")
    live, live_drops = run("live", tmp_path / "live")
    assert [(v["name"], v["passed"]) for v in sim["verdicts"]] == [("falseDisconnects", False), ("detectionWithin", True)]
    assert [(v["name"], v["passed"]) for v in live["verdicts"]] == [(v["name"], v["passed"]) for v in sim["verdicts"]]
    assert [v["measured"].split(" ")[0] for v in live["verdicts"]][:1] == [v["measured"].split(" ")[0] for v in sim["verdicts"]][:1]
    assert len(sim_drops) == len(live_drops) == 4, (sim_drops, live_drops)
    for (sc, st, sr), (lc, lt, lr) in zip(sim_drops, live_drops):
        assert sc == lc and sr == lr, (sim_drops, live_drops)
        assert abs(st - lt) < TOLERANCE_S, (sim_drops, live_drops)


def test_application_layer_server_pause_and_throttled_timers_agree(tmp_path):
    """agreement-app.yaml: the custom ping catches a paused server (built-in server's event loop
    blocked live, server work deferred in the simulator), then hidden-tab timers (aligned to 3 s)
    notice an outage on the same boundary in both runs."""
    file, name = "agreement-app.yaml", "live-sim-agreement-app"
    sim, sim_drops = run("sim", tmp_path / "sim", file, name)
    live, live_drops = run("live", tmp_path / "live", file, name)
    assert [(v["name"], v["passed"]) for v in sim["verdicts"]] == [("falseDisconnects", False), ("detectionWithin", True)]
    assert [(v["name"], v["passed"]) for v in live["verdicts"]] == [(v["name"], v["passed"]) for v in sim["verdicts"]]
    assert [r for _, _, r in sim_drops] == ["forced close", "ping timeout"] * 2, sim_drops
    assert len(sim_drops) == len(live_drops) == 4, (sim_drops, live_drops)
    for (sc, st, sr), (lc, lt, lr) in zip(sim_drops, live_drops):
        assert sc == lc and sr == lr, (sim_drops, live_drops)
        assert abs(st - lt) < TOLERANCE_S, (sim_drops, live_drops)
