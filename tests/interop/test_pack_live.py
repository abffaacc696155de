"""Files of the scenario pack run live (`--mode live --time-scale F`: the built-in server and
clients through the fault proxy, every duration of the scenario and of the built-in components'
settings multiplied by F) must reach the verdicts the simulated run reaches, and detect the same
outages. Each live run takes 15 to 60 s; run in its own process, since a live run needs the CPU."""
import json
import os
import pathlib
import subprocess

import pytest

BIN = os.environ.get("FLATLINE_BIN")
pytestmark = pytest.mark.skipif(not BIN, reason="FLATLINE_BIN not set (run through scripts/interop-tests.sh)")
PACK = pathlib.Path(__file__).parent.parent.parent / "scenarios"


def run(file, out, *extra):
    proc = subprocess.run([BIN, "run", str(PACK / file), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    folder = next(next(out.iterdir()).iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    return proc.returncode, [(v["name"], v["passed"]) for v in summary["verdicts"]], summary


@pytest.mark.parametrize("file,scale", [
    ("half-open-peer.yaml", "0.05"),           # 5 min in 15 s: the blackholed peer is detected
    # 20 min in 60 s: short pauses survive, the long one is detected. Not faster: scaled, the
    # clients' 20 s connect timeout would be 0.4 s, too tight for ten reconnections at once on a
    # loaded 2-core machine after the pause.
    ("server-event-loop-stall.yaml", "0.05"),
    ("throttled-background-tab.yaml", "0.02"), # 20 min in 24 s: throttled timers, the outage noticed late
    ("instance-failover.yaml", "0.1"),         # 5 min in 30 s: three instances, one dies, its clients move
])
def test_pack_file_live_reaches_the_simulated_verdicts(tmp_path, file, scale):
    sim_code, sim_verdicts, sim = run(file, tmp_path / "sim")
    live_code, live_verdicts, live = run(file, tmp_path / "live", "--mode", "live", "--time-scale", scale)
    assert live["mode"] == "live" and live["partial"] is False
    assert live_verdicts == sim_verdicts, (sim_verdicts, live_verdicts, live["verdicts"])
    assert live_code == sim_code
    # The same outages detected, connection by connection, and none missed.
    detections = sim["metrics"]["detections"]["mean"]
    assert detections > 0
    assert live["metrics"]["detections"]["mean"] == detections, live["metrics"]
    assert live["metrics"]["missedDetections"]["mean"] == sim["metrics"]["missedDetections"]["mean"] == 0


def test_polling_behind_two_instances_needs_sticky_sessions_live(tmp_path):
    """polling-two-instances.yaml runs live only (long-polling): balanced in turn its clients never
    get sessions going (fails by design); sticky by the Engine.IO sid they all do."""
    proc = subprocess.run([BIN, "run", str(PACK / "polling-two-instances.yaml"), "--out", str(tmp_path), "--mode", "live",
                           "--time-scale", "0.1"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    points = {}
    for folder in tmp_path.iterdir():
        run = next(folder.iterdir())
        points[folder.name] = json.loads((run / "summary.json").read_text())
    rr = points["polling-two-instances+server.balance=round_robin"]
    sid = points["polling-two-instances+server.balance=sid"]
    assert [v["passed"] for v in rr["verdicts"]] != [True] * len(rr["verdicts"]), rr["verdicts"]
    # Little or nothing delivered (with no client ever connected there is no delivery figure at all).
    assert rr["metrics"].get("broadcastDelivery", {"mean": 0})["mean"] < 0.5, rr["metrics"]
    assert all(v["passed"] for v in sid["verdicts"]), sid["verdicts"]
    assert sid["metrics"]["broadcastDelivery"]["mean"] == 1, sid["metrics"]["broadcastDelivery"]
    # Both instances held sessions: the handshakes were spread, the sessions kept where they were made.
    notes = [n for n in sid["limitations"] if n.startswith("instance ")]
    assert len(notes) == 2 and all("0 ended with the client back on another instance" in n for n in notes), notes
    # The simulator refuses long-polling, saying so.
    sim = subprocess.run([BIN, "run", str(PACK / "polling-two-instances.yaml"), "--out", str(tmp_path / "sim")],
                         capture_output=True, text=True, timeout=60)
    assert sim.returncode == 2 and "long-polling runs live only" in sim.stderr, sim.stdout + sim.stderr


def test_dashboard_recovery_live_recovers_as_simulated(tmp_path):
    """dashboard-recovery.yaml live at a tenth of its time (20 min in 2 min): the flapping
    dashboard's clients recover their sessions at (nearly) every reconnect and miss no update, the
    verdicts the simulation reaches. (At a twentieth, the unscaled Wi-Fi latency lets some
    reconnects overtake the server's notice of the old close, which then cannot be recovered.)"""
    sim_code, sim_verdicts, _ = run("dashboard-recovery.yaml", tmp_path / "sim")
    live_code, live_verdicts, live = run("dashboard-recovery.yaml", tmp_path / "live", "--mode", "live", "--time-scale", "0.1")
    assert live_verdicts == sim_verdicts == [("deliveryAtLeast", True), ("missedEventsAtMost", True)], live["verdicts"]
    assert live_code == sim_code == 0
    m = live["metrics"]
    assert m["missedEvents"]["mean"] == 0, m["missedEvents"]
    assert m["recoveredReconnects"]["mean"] >= 0.95 * m["disconnects"]["mean"] > 0, (m["recoveredReconnects"], m["disconnects"])
