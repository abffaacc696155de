#!/usr/bin/env python3
"""Turn the benchmark driver's raw.jsonl into results.json and table.md (stdlib only).

Usage: bench-report.py --raw results/bench/raw.jsonl --out results/bench [--partial]

raw.jsonl has one record per line: {"section": ..., "path": ..., "data": {...}} for a measurement,
{"section": ..., "path": ..., "error": "..."} for a failed one, {"section": "note", "text": ...}
and one {"section": "meta", "data": {...}}. See docs/benchmarks.md for what each number means.
"""

import argparse
import json
import math
import os
import statistics
import sys
import tempfile

# Targets (from the benchmark issue).
TARGET_ADDED_RTT_SLACK_US = 10.0
TARGET_ACCURACY_P99_MS = 0.5
TARGET_IDLE_KB_PER_CONN = 15.0
TARGET_PEAK_RSS_MIB = 128.0
TARGET_SIM_24H_SECONDS = 30.0

BASELINES = ("direct", "socat", "haproxy")


def percentile(values, p):
    """Nearest-rank percentile (the same definition FlatlineBench uses)."""
    if not values:
        return None
    s = sorted(values)
    rank = math.ceil(p / 100.0 * len(s))
    return s[min(max(rank, 1), len(s)) - 1]


def rnd(x, digits=1):
    return None if x is None else round(x, digits)


def load(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                records.append({"section": "note", "text": f"raw.jsonl line {n} unreadable: {e}"})
    return records


def summarize(records):
    meta = dict(next((r.get("data", {}) for r in records if r.get("section") == "meta"), {}))
    meta.update(next((r.get("data", {}) for r in records if r.get("section") == "meta_end"), {}))
    notes = [r["text"] for r in records if r.get("section") == "note"]
    errors = [
        {k: r.get(k) for k in ("section", "path", "rep", "requested_ms", "error")}
        for r in records
        if "error" in r
    ]
    ok = [r for r in records if "data" in r and r.get("section") not in ("meta", "meta_end", "note")]

    # 1. throughput: median MB/s over complete runs.
    throughput = {}
    for r in ok:
        if r["section"] != "throughput" or not isinstance(r["data"], dict):
            continue
        t = throughput.setdefault(r["path"], {"runs_mbps": [], "incomplete_runs": 0})
        if r["data"].get("complete"):
            t["runs_mbps"].append(r["data"]["mbps"])
        else:
            t["incomplete_runs"] += 1
    for path, t in throughput.items():
        t["median_mbps"] = rnd(statistics.median(t["runs_mbps"])) if t["runs_mbps"] else None
        t["max_mbps"] = max(t["runs_mbps"]) if t["runs_mbps"] else None
    for path, t in throughput.items():
        for base in ("direct", "haproxy"):
            b = throughput.get(base, {}).get("median_mbps")
            t[f"ratio_vs_{base}"] = rnd(t["median_mbps"] / b, 3) if b and t["median_mbps"] else None

    # 2. round trips: each path's rounds pooled; added = proxied - direct, per percentile.
    pooled = {}
    for r in ok:
        if r["section"] == "pingpong" and isinstance(r["data"], dict):
            p = pooled.setdefault(r["path"], {"samples": [], "rounds": 0, "complete": True})
            p["samples"].extend(r["data"].get("samples_us") or [])
            p["rounds"] += 1
            p["complete"] = p["complete"] and bool(r["data"].get("complete"))
    rtt = {}
    for path, p in pooled.items():
        s = p["samples"]
        if not s:
            continue
        rtt[path] = {
            "count": len(s),
            "rounds": p["rounds"],
            "p50_us": rnd(percentile(s, 50), 2),
            "p90_us": rnd(percentile(s, 90), 2),
            "p99_us": rnd(percentile(s, 99), 2),
            "p999_us": rnd(percentile(s, 99.9), 2),
            "max_us": rnd(max(s), 2),
            "mean_us": rnd(sum(s) / len(s), 2),
            "complete": p["complete"],
        }
    direct = rtt.get("direct")
    for path, v in rtt.items():
        for q in ("p50", "p99"):
            v[f"added_{q}_us"] = rnd(v[f"{q}_us"] - direct[f"{q}_us"], 2) if direct else None

    # 3. latency accuracy: error = measured RTT - direct p50 RTT - requested latency, per timer
    # kind ("precise": the run's proxy; "plain": the baseline process with FLATLINE_PRECISE_TIMERS=0),
    # pooled over the rounds. The direct RTT is the section's own (measured the same way, the client
    # polling its socket), else the ping-pong section's.
    accuracy = {}
    own_direct = [r for r in ok if r["section"] == "accuracy" and r.get("timers") == "none" and isinstance(r["data"], dict)]
    direct_p50 = own_direct[0]["data"].get("p50_us") if own_direct else (direct["p50_us"] if direct else None)
    pooled = {}
    for r in ok:
        if r["section"] != "accuracy" or r.get("timers") == "none" or not isinstance(r["data"], dict):
            continue
        key = (r.get("requested_ms"), r.get("timers", "precise"))
        pooled.setdefault(key, []).extend(r["data"].get("samples_us") or [])
    for (ms, timers), samples in sorted(pooled.items(), key=lambda kv: (kv[0][0], kv[0][1] != "precise")):
        entry = {"requested_ms": ms, "timers": timers, "count": len(samples), "direct_p50_us": direct_p50}
        # A plain sleep's lateness has no round trip to subtract.
        subtract = 0.0 if timers == "sleep" else direct_p50
        if samples and subtract is not None:
            err = [(x - subtract) / 1000.0 - ms for x in samples]
            entry["error_ms"] = {q: rnd(percentile(err, p), 3) for q, p in
                                 (("p1", 1), ("p10", 10), ("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9))}
            entry["error_ms"].update(min=rnd(min(err), 3), max=rnd(max(err), 3))
            entry["error_p50_ms"] = entry["error_ms"]["p50"]
            entry["error_p99_ms"] = entry["error_ms"]["p99"]
        accuracy.setdefault(str(ms), {})[timers] = entry

    # 4. idle connections: RSS growth per connection.
    idle = {}
    for r in ok:
        if r["section"] != "idle" or not isinstance(r["data"], dict):
            continue
        d = r["data"]
        client = d.get("client") or {}
        opened = client.get("opened") or 0
        e = {
            "conns_requested": d.get("conns"),
            "conns_opened": opened,
            "alive_after_hold": client.get("alive_after_hold"),
            "rss_before_kb": d.get("rss_before_kb"),
            "rss_with_kb": d.get("rss_with_kb"),
            "rss_after_kb": d.get("rss_after_kb"),
            "open_seconds": client.get("open_seconds"),
            "kb_per_conn": None,
            "complete": bool(client.get("complete")),
        }
        if opened and d.get("rss_with_kb") is not None and d.get("rss_before_kb") is not None:
            e["kb_per_conn"] = rnd((d["rss_with_kb"] - d["rss_before_kb"]) / opened, 2)
        idle[r["path"]] = e

    # 5. transfer under 50 ms latency: peak RSS.
    latency_throughput = {}
    for r in ok:
        if r["section"] != "latency_throughput" or not isinstance(r["data"], dict):
            continue
        d = r["data"]
        client = d.get("client") or {}
        latency_throughput[r["path"]] = {
            "latency_ms": r.get("latency_ms"),
            "peak_rss_mib": rnd(d["hwm_kb"] / 1024, 1) if d.get("hwm_kb") is not None else None,
            "peak_rss_before_mib": rnd(d["hwm_before_kb"] / 1024, 1) if d.get("hwm_before_kb") is not None else None,
            "rss_after_mib": rnd(d["rss_after_kb"] / 1024, 1) if d.get("rss_after_kb") is not None else None,
            "mbps": client.get("mbps"),
            "bytes": client.get("bytes"),
            "bytes_requested": client.get("bytes_requested"),
            "seconds": client.get("seconds"),
            "complete": client.get("complete"),
            "status": client.get("status"),
        }

    # 6. the simulator: its target run, the unbatched baseline, counters-only memory.
    simulator = {}
    for r in ok:
        if r["section"] == "simulator" and isinstance(r["data"], dict):
            simulator[r["path"]] = r["data"]

    runner = next((r["data"] for r in ok if r["section"] == "runner" and isinstance(r["data"], dict)), None)

    detectors = next((r["data"] for r in ok if r["section"] == "detectors" and isinstance(r["data"], dict)), None)
    return meta, notes, errors, throughput, rtt, accuracy, idle, latency_throughput, simulator, runner, detectors


def fmt(x, digits=1, sign=False):
    """A number for the table: thousands separators, fixed decimals (0 for counts)."""
    if x is None:
        return "—"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    return f"{x:{'+' if sign else ''},.{digits}f}"


def verdict(ok):
    return "—" if ok is None else ("pass" if ok else "**FAIL**")


def build(records, partial):
    meta, notes, errors, throughput, rtt, accuracy, idle, latency_throughput, simulator, runner, detectors = summarize(records)
    flatline_skipped = not meta.get("flatline")
    rows = []
    checks = {}

    def flat_missing():
        return "not built" if flatline_skipped else "no data"

    def add(name, flat, baselines, ratio, target, ok, key):
        if flat is None:
            ok = None
            flat = flat_missing()
        rows.append([name, flat, baselines or "—", ratio or "—", target, verdict(ok) if flat != "not built" else "skipped"])
        checks[key] = {"pass": ok, "skipped": flatline_skipped}

    # 1. throughput
    f = throughput.get("flatline", {})
    base = ", ".join(
        f"{p} {fmt(throughput[p]['median_mbps'])}" for p in BASELINES if throughput.get(p, {}).get("median_mbps") is not None
    )
    ratio = None
    if f.get("ratio_vs_haproxy") is not None:
        ratio = f"{f['ratio_vs_haproxy']:.2f}× haproxy, {f['ratio_vs_direct']:.2f}× direct"
    h = throughput.get("haproxy", {}).get("median_mbps")
    ok = (f["median_mbps"] >= h) if f.get("median_mbps") is not None and h else None
    reps = meta.get("reps", "?")
    add(
        f"Throughput, {meta.get('bytes', '?')} (MB/s, median of {reps})",
        fmt(f.get("median_mbps")) if f.get("median_mbps") is not None else None,
        base, ratio, "≥ haproxy", ok, "throughput",
    )

    # 2. added RTT
    for q, has_target in (("p50", True), ("p99", False)):
        fr = rtt.get("flatline", {}).get(f"added_{q}_us")
        hr = rtt.get("haproxy", {}).get(f"added_{q}_us")
        parts = []
        if "direct" in rtt:
            parts.append(f"direct RTT {fmt(rtt['direct'][f'{q}_us'], 1)}")
        for p in ("socat", "haproxy"):
            if rtt.get(p, {}).get(f"added_{q}_us") is not None:
                parts.append(f"{p} {fmt(rtt[p][f'added_{q}_us'], 1, sign=True)}")
        ratio = f"{fr - hr:+.1f} µs vs haproxy" if fr is not None and hr is not None else None
        if has_target:
            ok = (fr <= hr + TARGET_ADDED_RTT_SLACK_US) if fr is not None and hr is not None else None
            target = f"≤ haproxy + {TARGET_ADDED_RTT_SLACK_US:g} µs"
        else:
            ok, target = None, "(info)"
        add(
            f"Added RTT {q}, 1-byte ping-pong (µs)",
            fmt(fr, 1, sign=True) if fr is not None else None,
            ", ".join(parts), ratio, target, ok, f"added_rtt_{q}",
        )

    # 3. latency accuracy
    for ms in ("5", "50"):
        a = accuracy.get(ms, {}).get("precise", {})
        b = accuracy.get(ms, {}).get("plain", {})
        e = a.get("error_ms")
        p99 = e["p99"] if e else None
        ok = abs(p99) < TARGET_ACCURACY_P99_MS if p99 is not None else None
        flat = (f"p1 {e['p1']:+.3f}, p50 {e['p50']:+.3f}, p90 {e['p90']:+.3f}, p99 {e['p99']:+.3f}, max {e['max']:+.3f} "
                f"({a['count']} samples)") if e else None
        base = b.get("error_ms")
        baseline = (f"plain timers: p50 {base['p50']:+.3f}, p99 {base['p99']:+.3f}; "
                    f"error = RTT − direct p50 ({fmt(a.get('direct_p50_us'), 1)} µs) − {ms} ms") if base else None
        ratio = f"p99 {e['p99'] - base['p99']:+.3f} ms vs plain" if e and base else None
        floor = accuracy.get(ms, {}).get("sleep", {}).get("error_ms")
        if floor and baseline:
            # How late this machine wakes a plain sleep of the same length, in the same run: a p99
            # above the target there is the machine's, and no proxy on it can be more punctual.
            baseline += f"; machine floor (a {ms} ms sleep's lateness): p50 {floor['p50']:+.3f}, p99 {floor['p99']:+.3f}"
        add(
            f"Latency toxic accuracy, {ms} ms downstream (error, ms)",
            flat, baseline, ratio,
            f"\\|p99\\| < {TARGET_ACCURACY_P99_MS:g} ms", ok, f"accuracy_{ms}ms",
        )

    # 4. idle
    fi, hi = idle.get("flatline", {}), idle.get("haproxy", {})
    n = (fi or hi).get("conns_requested") or meta.get("idle_conns", "?")
    fkb, hkb = fi.get("kb_per_conn"), hi.get("kb_per_conn")
    ok = None
    if fkb is not None:
        ok = fkb <= TARGET_IDLE_KB_PER_CONN and fi.get("complete", False)
    flat = None
    if fkb is not None:
        flat = fmt(fkb, 2) + ("" if fi.get("complete") else f" (only {fi.get('alive_after_hold')} of {n} alive)")
    add(
        f"Memory per idle connection, {fmt(n, 0)} conns (KB/conn, RSS)",
        flat, f"haproxy {fmt(hkb, 2)}" if hkb is not None else None,
        f"{fkb / hkb:.2f}× haproxy" if fkb is not None and hkb else None,
        f"≤ {TARGET_IDLE_KB_PER_CONN:g} KB", ok, "idle_kb_per_conn",
    )

    # 5. peak RSS under latency
    lt = latency_throughput.get("flatline", {})
    peak = lt.get("peak_rss_mib")
    ok = peak <= TARGET_PEAK_RSS_MIB if peak is not None else None
    flat = None
    if peak is not None:
        flat = f"{fmt(peak)} MiB peak at {fmt(lt.get('mbps'))} MB/s" + ("" if lt.get("complete") else " (transfer cut short)")
    add(
        f"Peak RSS, {meta.get('bytes', '?')} through 50 ms upstream latency",
        flat, None, None, f"≤ {TARGET_PEAK_RSS_MIB:g} MiB", ok, "peak_rss_under_latency",
    )

    # 6. simulator speed: the target run's wall time (extrapolated to 24 h when shorter), against
    # the same configuration with one event per tick; memory of counters-only runs.
    targets = sorted((v for k, v in simulator.items() if k.startswith("target")),
                     key=lambda v: v.get("extrapolated_24h_seconds") or float("inf"))
    st, se = (targets[0] if targets else None), simulator.get("exact")
    if st:
        day = st.get("extrapolated_24h_seconds")
        hours = st.get("simulated_hours")
        ok = day <= TARGET_SIM_24H_SECONDS if day is not None else None
        flat = f"{fmt(day)} s" + ("" if hours == 24 else f" (extrapolated from {fmt(hours, 2)} h in {fmt(st.get('wall_seconds'), 2)} s)")
        if len(targets) > 1:
            flat += " (faster of " + ", ".join(f"{fmt(t.get('extrapolated_24h_seconds'))} s" for t in targets) + ")"
        flat += f", peak RSS {fmt(st.get('peak_rss_kib', 0) / 1024)} MiB with {fmt(st.get('events_logged'), 0)} events logged"
        base = None
        ratio = None
        if se and se.get("extrapolated_24h_seconds"):
            base = f"one event per tick: {fmt(se['extrapolated_24h_seconds'])} s (from {fmt(se.get('simulated_hours'), 2)} h)"
            ratio = f"{se['extrapolated_24h_seconds'] / day:.1f}× faster" if day else None
        rows.append([
            "Simulator: 24 h × 1,000 connections, 25 s heartbeats, 2 events/s (s, one core)",
            flat, base or "—", ratio or "—", f"≤ {TARGET_SIM_24H_SECONDS:g} s", verdict(ok),
        ])
        checks["simulator_24h"] = {"pass": ok, "skipped": False}
        counters = sorted(
            (v for k, v in simulator.items() if k.startswith("counters-")), key=lambda v: v.get("simulated_hours", 0)
        )
        if len(counters) >= 2:
            a, b = counters[0], counters[-1]
            ra, rb = a.get("peak_rss_kib"), b.get("peak_rss_kib")
            ok = (rb <= ra * 1.5 + 4096) if ra and rb else None
            rows.append([
                "Simulator memory, counters only (peak RSS, MiB)",
                f"{fmt(rb / 1024)} after {fmt(b.get('simulated_hours'), 1)} h",
                f"{fmt(ra / 1024)} after {fmt(a.get('simulated_hours'), 1)} h",
                f"{rb / ra:.2f}×" if ra else "—",
                "bounded: ≤ 1.5× + 4 MiB", verdict(ok),
            ])
            checks["simulator_memory_bounded"] = {"pass": ok, "skipped": False}

    # 7. a long scenario through flatline run (informational).
    if runner:
        rss = runner.get("peak_rss_kib")
        flat = f"{fmt(runner.get('wall_seconds'))} s"
        if rss:
            flat += f", peak RSS {fmt(rss / 1024)} MiB"
        if runner.get("results_bytes") is not None:
            flat += f", results {fmt(runner['results_bytes'] / 1e6)} MB"
        rows.append([
            f"flatline run, {fmt(runner.get('clients'), 0)} clients × 1 h, 2 events/s, every message logged",
            flat, "—", "—", "(info)", "—",
        ])

    # 9. the detector bench: does the challenger dominate every other detector on every trace?
    if detectors:
        n, d = detectors.get("comparisons") or 0, detectors.get("dominated") or 0
        ok = n > 0 and d == n
        rows.append([
            f"detector bench: {detectors.get('challenger') or '?'} vs the others on {fmt(detectors.get('traces'), 0)} traces "
            f"(results/bench/detectors/summary.md)",
            f"dominates in {d} of {n} comparisons", "—", "—", "dominates in all", verdict(ok) if n else "nothing to judge",
        ])
        checks["detector_dominance"] = {"pass": ok, "skipped": n == 0}

    table = []
    title = "Flatline benchmarks" + (" — PARTIAL RUN" if partial else "") + (" (quick mode)" if meta.get("quick") else "")
    table.append(f"## {title}\n")
    env = ", ".join(
        f"{k} {meta[k]}"
        for k in ("date", "kernel", "cpus", "swift", "socat", "haproxy", "git", "loadavg_start", "loadavg_end")
        if meta.get(k) not in (None, "")
    )
    if env:
        table.append(f"_{env}_\n")
    header = ["Benchmark", "Flatline", "Baseline(s)", "Ratio", "Target", "Result"]
    table.append("| " + " | ".join(header) + " |")
    table.append("|" + "|".join(["---"] * len(header)) + "|")
    for r in rows:
        table.append("| " + " | ".join(str(c) for c in r) + " |")
    if throughput or rtt:
        table.append("")
        table.append("Per path (throughput median MB/s; RTT p50 / p99 µs):\n")
        table.append("| Path | Throughput | vs direct | RTT p50 | RTT p99 | Added p50 | Added p99 |")
        table.append("|---|---|---|---|---|---|---|")
        for p in ("direct", "socat", "haproxy", "flatline"):
            if p not in throughput and p not in rtt:
                continue
            t, v = throughput.get(p, {}), rtt.get(p, {})
            table.append(
                f"| {p} | {fmt(t.get('median_mbps'))} | {fmt(t.get('ratio_vs_direct'), 2)} | {fmt(v.get('p50_us'), 1)} | "
                f"{fmt(v.get('p99_us'), 1)} | {fmt(v.get('added_p50_us'), 1, sign=True)} | {fmt(v.get('added_p99_us'), 1, sign=True)} |"
            )
    if notes or errors:
        table.append("")
        for n_ in notes:
            table.append(f"- note: {n_}")
        for e in errors:
            where = "/".join(str(e[k]) for k in ("section", "path") if e.get(k))
            table.append(f"- error in {where}: {e['error']}")
    table_md = "\n".join(table) + "\n"

    results = {
        "partial": partial,
        "meta": meta,
        "targets": {
            "throughput": "flatline median MB/s >= haproxy median MB/s",
            "added_rtt_p50_us": f"flatline added p50 <= haproxy added p50 + {TARGET_ADDED_RTT_SLACK_US}",
            "latency_accuracy_p99_ms": f"|p99 error| < {TARGET_ACCURACY_P99_MS} (the run's proxy, client polling its socket)",
            "idle_kb_per_conn": f"<= {TARGET_IDLE_KB_PER_CONN}",
            "peak_rss_mib_under_50ms": f"<= {TARGET_PEAK_RSS_MIB}",
            "simulator_24h_seconds": f"<= {TARGET_SIM_24H_SECONDS} (1,000 connections, one core)",
            "simulator_memory_bounded": "counters-only peak RSS after the longer run <= 1.5x the shorter + 4 MiB",
            "detector_dominance": "the challenger dominates (no worse mean detection time at any mistake rate, better somewhere) every other detector on every trace",
        },
        "checks": checks,
        "throughput": throughput,
        "rtt": rtt,
        "latency_accuracy": accuracy,
        "idle": idle,
        "latency_throughput": latency_throughput,
        "simulator": simulator,
        "runner": runner,
        "detectors": detectors,
        "notes": notes,
        "errors": errors,
    }
    return results, table_md


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--partial", action="store_true")
    args = ap.parse_args()
    records = load(args.raw)
    results, table_md = build(records, args.partial)
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "results.json"), json.dumps(results, indent=2) + "\n")
    write_atomic(os.path.join(args.out, "table.md"), table_md)
    sys.stdout.write(table_md)


if __name__ == "__main__":
    main()
