"""Fuzzes Flatline's scenario loader and runner with mutated scenario files (see docs/fuzzing.md).

The seeds are the pack, scenarios/*.yaml. Each case takes one, applies one to four mutations to its
YAML text (numbers made huge, negative, zero or malformed; scalars swapped for lists, maps, nulls,
tags and aliases; keys deleted, duplicated, misspelt; lines re-indented, spliced from another file;
control characters, invalid UTF-8 and BOMs inserted; deep nesting, long strings, alias bombs; names
and sweep values like "../x"), sometimes adds a `--set` override, writes it to a temp folder and
runs `flatline check FILE` with the working directory in that temp folder. A few of the files that
pass check are also run: `flatline run FILE --runs 1 --out OUT` (simulated). Everything generated
is drawn from random.Random(seed).

Invariants (each broken one is written to --out as a reproducer and makes the exit status 1):
- `check` and `run` exit with 0, 1 or 2: never a signal, never another code;
- on exit 2, stderr names the file (or `--set`) with a line and column, `FILE:LINE:COL:` (only
  errors about the whole file, "document too large" and "cannot read the file", may give none);
- on exit 0, check says `ok FILE`, and still accepts the file with a comment line of YAML-looking
  junk appended;
- `check` finishes within 20 s (a `run` that takes longer than its bound is stopped and counted
  as run_slow, with its file kept under OUT/slow/: a valid scenario may legitimately be long; one
  that reaches this fuzzer's 2 GiB memory limit is counted as run_memory_limit, kept under
  OUT/heavy/, unless a single allocation larger than the machine's memory aborted it);
- no error line is printed twice (every problem is reported once);
- a file check accepts is not refused by run (exit 2), and two simulated runs of it with the same
  seed write the same events, byte for byte;
- nothing is created, changed or removed outside the run's --out folder (the temp tree is
  compared before and after), and a finished run leaves no staging folder inside it.
"""
from __future__ import annotations

import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import fuzzlib  # noqa: E402

NAME = "scenario_fuzz"
CHECK_BOUND = 20.0
RUN_BOUND = 15.0
RUN_SHARE = 0.25  # of the files that pass check, the share that is also run
MEMORY_LIMIT = 2 << 30  # bytes of data segment per child, so a pathological case cannot exhaust the machine
# One allocation larger than this machine's memory (16 GiB at least) for a file check accepted is a bug,
# not this fuzzer's limit: such a run cannot succeed here.
HUGE_ALLOCATION = max(16 << 30, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))

# Broken invariants already reported as Flatline bugs (see docs/fuzzing.md, "Known issues"): none open.
# Fixed, and guarded by their kinds: a workload message size without bound (1000GB passed check and
# aborted the run; run_huge_allocation), and brackets in comments and quoted strings counted as
# nesting (a comment of 65 '[' refused; comment_nesting).
KNOWN: dict[str, str] = {}


def u(text: str) -> str:
    """Text as the latin-1 code units of its UTF-8 bytes (the mutators work on bytes in a str)."""
    return text.encode("utf-8").decode("latin-1")


NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:ns|us|ms|min|s|m|h|KiB|MiB|GiB|KB|MB|GB|B|kbit|Mbit|Gbit|bit|%)?"
                    r"(?:/(?:s|m|h))?(?![\w.])")
VALUE = re.compile(r"(?<=: )[^\s{}\[\],#][^,{}\[\]\n#]*")
KEY = re.compile(r"(?m)(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]*)(?=:(?: |$))")  # linear on a megabyte-long key

ODD_NUMBERS = ["0", "-1", "-5s", "0s", "0ms", "-0s", "1ns", "99999999999h", "168h", "169h", "720h", "721h", "1e309",
               "1e-9s", "NaN", ".nan", ".inf", "-.inf", "18446744073709551616", "9223372036854775807",
               "9223372036854775808s", "0x7fffffffffffffff", "0x", "0b101", "0o17", "1.5", "1e3s", "00", "1_000",
               "9m30", "+5s", "5 s", "5S", "5sec", "2/0s", "0/s", "1000000/s", "1001/s", "2000/s", "1e300/s",
               "100%", "101%", "-1%", "1e-400%", "0.0000001", "1000000", "1000001", "2147483648", "4294967296",
               "1h-1s", "1h1h", "1.5.5s", "∞", "١٢s", "5ｓ", "5s5s", "0.1ns", "100000", "100001", "1KiB/s",
               "512MiB", "1e20B", "0B/s", "-1B"]
ODD_VALUES = ["[a, b]", "[]", "{}", "{x: 1}", "null", "~", "true", "false", "'str'", '""', "!!binary aGVsbG8=",
              "&a x", "*nope", "!!int 3", "!!float .5", "!custom x", "|\n  block\n", ">-\n  folded\n", "? x",
              "!!map {}", "!!seq []", "!!str 5s", "!!null ''", "- x", "'5s'", '"5s"', '"\\u0000"', '"\\x85"',
              "yes", "no", "on", "off", "2001-01-01", "12:30:00", "0o777", "=", "<<", "..", "---", "...",
              "end", "stall", "blackhole", "reset", "socketio", "unlimited", "pause"]
PATHS = ["server.pingTimeout", "server.pingInterval", "name", "seed", "duration", "clients.count",
         "clients.builtin", "phases[0].at", "phases[0].for", "phases[99].for", "phases[-1].for", "link.both.latency",
         "link.both", "sweeps", "repetitions", "expect.falseDisconnects", "workload.serverToClient.rate",
         "clients.application.customPing.pingEvent", "clients.application.healthCheck", "faults.stalls.rate",
         "../x", "a..b", "[0]", "server.", ".server", "server..pingTimeout", "phases[", "phases[0", "phases[0]]",
         "phases[999999999999999999999].at", "é", "server.pingTimeout.x", ""]
PATH_VALUES = ["../x", "..", ".", "/tmp/x", "a/b", "", "10s", "-1s", "1e309s", "x" * 300, "../../etc/passwd",
               "%2e%2e", "a\\b", ".hidden", "~", "$HOME", "{port}", "nul", "CON", "a b", "名前", "'..'", "\"/\""]
NAMES = ["../x", "..", ".", "/abs", "a/b", "a\\b", ".hidden", "-", "x" * 201, "x" * 300, "", "名前", "a b", "'..'",
         '"../x"', "~", "a%2Fb", "...", "a.b", "CON", "x\x00y", "end"]
CONTROL = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", u("\x85"), u("\u2028"), u("\ufeff"), "\r",
           u("\ufffe"), u("\ud7ff"), u("\U0010ffff"), "\t"]
BAD_UTF8 = ["\xff", "\xfe", "\xc0\x80", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "\x80", "\xf8\x88\x80\x80\x80"]


def spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def replace_span(rng: random.Random, text: str, found: list[tuple[int, int]], new: str) -> str:
    a, b = rng.choice(found)
    return text[:a] + new + text[b:]


def lines_of(text: str) -> list[str]:
    return text.split("\n")


def block(lines: list[str], i: int) -> int:
    """The end (exclusive) of the block that starts at line i: it and the lines indented deeper."""
    indent = len(lines[i]) - len(lines[i].lstrip(" "))
    j = i + 1
    while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip(" ")) > indent):
        j += 1
    return j


def content_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")] or [0]


# ----- the mutators: (rng, text, seeds) -> (text, what was done)

def m_number(rng, text, seeds):
    found = spans(NUMBER, text)
    if not found:
        return text, "number:none"
    new = rng.choice(ODD_NUMBERS) if rng.random() < 0.8 else str(rng.choice([-1, 1]) * 10 ** rng.randrange(0, 30))
    return replace_span(rng, text, found, u(new)), f"number->{new[:20]}"


EXTREMES = [
    (re.compile(r"^\d+(?:\.\d+)?(?:ns|us|ms|s|m|min|h)$"),
     ["1ns", "1us", "0.000001s", "999ms", "59m59s", "167h", "168h", "719h", "720h", "1h59m59s999ms999us999ns",
      "0.5ns", "1e-3s", "3s"]),
    (re.compile(r"^\d+(?:\.\d+)?(?:B|KB|MB|GB|KiB|MiB|GiB)$"), ["0B", "1B", "1GiB", "1000GB", "0.5B", "1448B"]),
    (re.compile(r"^\d+(?:\.\d+)?(?:B|KB|MB|GB|KiB|MiB|GiB|bit|kbit|Mbit|Gbit)/s$"),
     ["1B/s", "0B/s", "1bit/s", "100Gbit/s", "1GiB/s"]),
    (re.compile(r"^\d+(?:\.\d+)?/(?:s|m|h)$"), ["1000/s", "999.9/s", "1/h", "0.0001/s", "60000/m"]),
    (re.compile(r"^\d+(?:\.\d+)?%$"), ["0%", "100%", "99.9999999%", "1e-9%", "50%"]),
    (re.compile(r"^\d+(?:\.\d+)?$"), ["0", "1", "2", "1000", "1000000", "0.999999", "100000", "0.0"]),
]


def m_extreme(rng, text, seeds):
    """A number swapped for an extreme of the same kind (a duration for a duration...), so it often stays valid."""
    found = spans(NUMBER, text)
    if not found:
        return text, "extreme:none"
    a, b = rng.choice(found)
    token = text[a:b]
    for pattern, choices in EXTREMES:
        if pattern.match(token):
            new = rng.choice(choices)
            return text[:a] + new + text[b:], f"extreme {token}->{new}"
    return text, f"extreme:{token}"


def m_value(rng, text, seeds):
    found = spans(VALUE, text)
    if not found:
        return text, "value:none"
    new = rng.choice(ODD_VALUES)
    return replace_span(rng, text, found, u(new)), f"value->{new[:20]!r}"


def m_delete(rng, text, seeds):
    lines = lines_of(text)
    i = rng.choice(content_lines(lines))
    j = block(lines, i) if rng.random() < 0.5 else i + 1
    return "\n".join(lines[:i] + lines[j:]), f"delete lines {i + 1}-{j}"


def m_duplicate(rng, text, seeds):
    lines = lines_of(text)
    i = rng.choice(content_lines(lines))
    j = block(lines, i) if rng.random() < 0.5 else i + 1
    return "\n".join(lines[:j] + lines[i:j] + lines[j:]), f"duplicate lines {i + 1}-{j}"


def m_key(rng, text, seeds):
    found = spans(KEY, text)
    if not found:
        return text, "key:none"
    a, b = rng.choice(found)
    key = text[a:b]
    op = rng.choice(["drop", "case", "double", "unicode", "prefix", "empty", "quote"])
    new = {"drop": key[:-1] or "x", "case": key.swapcase(), "double": key + key[-1], "unicode": key + u("\u0301"),
           "prefix": "_" + key, "empty": '""', "quote": f'"{key}"'}[op]
    return text[:a] + new + text[b:], f"key {key}->{op}"


def m_control(rng, text, seeds):
    i = rng.randrange(len(text) + 1)
    c = rng.choice(CONTROL)
    return text[:i] + c + text[i:], f"control {c.encode('latin-1')!r} at byte {i}"


def m_bad_utf8(rng, text, seeds):
    i = rng.randrange(len(text) + 1)
    b = rng.choice(BAD_UTF8)
    return text[:i] + b + text[i:], f"bad utf-8 {b.encode('latin-1')!r} at byte {i}"


def m_nesting(rng, text, seeds):
    found = spans(VALUE, text)
    depth = rng.choice([10, 63, 64, 65, 200, 5000])
    style = rng.choice(["flow_seq", "flow_map", "block_seq", "block_map", "quoted"])
    if style == "flow_seq":
        new = "[" * depth + "]" * depth
    elif style == "flow_map":
        new = "{a: " * depth + "1" + "}" * depth
    elif style == "block_seq":
        new = "\n" + "".join("  " * (k + 1) + "-\n" for k in range(min(depth, 400))) + "  " * 401 + "x"
        new = "\n" + "- " * depth + "x" if rng.random() < 0.5 else new
    elif style == "block_map":
        new = "\n" + "".join(" " * (k + 1) + f"k{k}:\n" for k in range(min(depth, 400))) + " " * 402 + "x"
    else:
        new = '"' + "[" * depth + '"'  # brackets inside a quoted string are text, not nesting
    if not found:
        return text + "\nextra: " + new + "\n", f"nesting {style} {depth}"
    return replace_span(rng, text, found, new), f"nesting {style} {depth}"


def m_long(rng, text, seeds):
    n = rng.choice([1000, 65536, 1 << 20, (1 << 20) + 1, 3 << 20])
    kind = rng.choice(["value", "key", "comment", "spaces", "note"])
    if kind == "value" and spans(VALUE, text):
        return replace_span(rng, text, spans(VALUE, text), "x" * n), f"long value {n}"
    if kind == "key":
        return text + "\n" + "k" * n + ": 1\n", f"long key {n}"
    if kind == "comment":
        return text + "\n# " + "c" * n + "\n", f"long comment {n}"
    if kind == "note":
        return text.replace("note: ", "note: " + "n" * n, 1), f"long note {n}"
    return text + " " * n, f"trailing spaces {n}"


def m_sweep(rng, text, seeds):
    path = rng.choice(PATHS)
    values = ", ".join(rng.choice([repr(v) if rng.random() < 0.5 else v for v in rng.sample(PATH_VALUES, 3)])
                       for _ in range(rng.randrange(1, 4)))
    entry = u(f"  {path or chr(39) * 2}: [{values}]")
    if "\nsweeps:" in text:
        text = text.replace("\nsweeps:", "\nsweeps:\n" + entry, 1)
    else:
        text += "\nsweeps:\n" + entry + "\n"
    return text, f"sweep {path}: [{values}]"[:80]


def m_name(rng, text, seeds):
    name = rng.choice(NAMES)
    quoted = rng.choice([name, repr(name), '"' + name.replace('"', '\\"') + '"'])
    return re.sub(r"(?m)^name: .*$", lambda _: u("name: " + quoted), text, count=1), f"name -> {quoted[:40]!r}"


def m_alias(rng, text, seeds):
    kind = rng.choice(["bomb", "undefined", "self", "merge", "merge_bad", "anchor_only"])
    if kind == "bomb":
        levels = rng.choice([3, 6, 9])
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]" for k in range(1, levels)]
        return text + "\n" + "\n".join(lines) + "\n", f"alias bomb {levels}"
    if kind == "undefined":
        return replace_span(rng, text, spans(VALUE, text) or [(len(text), len(text))], "*undefined"), "undefined alias"
    if kind == "self":
        return text + "\nloop: &l [*l]\n", "self alias"
    if kind == "merge":
        return text.replace("server:", "base: &b { pingInterval: 25s }\nserver:\n  <<: *b\n  __x:", 1), "merge key"
    if kind == "merge_bad":
        return text.replace("server:", "server:\n  <<: [1, 2]\n  __x:", 1), "bad merge key"
    return text.replace("duration:", "duration: &d", 1), "anchor"


def m_indent(rng, text, seeds):
    lines = lines_of(text)
    i = rng.choice(content_lines(lines))
    op = rng.choice(["more", "less", "tab", "zero"])
    line = lines[i]
    lines[i] = {"more": " " + line, "less": line[1:] if line.startswith(" ") else line, "tab": "\t" + line.lstrip(" "),
                "zero": line.lstrip(" ")}[op]
    return "\n".join(lines), f"indent {op} line {i + 1}"


def m_splice(rng, text, seeds):
    other = lines_of(rng.choice(seeds))
    start = rng.randrange(len(other))
    chunk = other[start:start + rng.randrange(1, 6)]
    lines = lines_of(text)
    i = rng.randrange(len(lines) + 1)
    return "\n".join(lines[:i] + chunk + lines[i:]), f"splice {len(chunk)} lines at {i + 1}"


def m_document(rng, text, seeds):
    kind = rng.choice(["directive", "two", "end", "bom", "crlf", "cr", "empty", "only_comment", "not_a_map", "json"])
    if kind == "directive":
        return rng.choice(["%YAML 1.1\n---\n", "%YAML 1.3\n---\n", "%TAG ! tag:x,2000:\n---\n", "%FOO\n---\n"]) + text, kind
    if kind == "two":
        return text + "\n---\nname: second\n", kind
    if kind == "end":
        return text + "\n...\ngarbage: 1\n", kind
    if kind == "bom":
        return u("\ufeff") + text, kind
    if kind == "crlf":
        return text.replace("\n", "\r\n"), kind
    if kind == "cr":
        return text.replace("\n", "\r"), kind
    if kind == "empty":
        return rng.choice(["", "\n", "---\n", "~\n", "{}\n", "[]\n"]), kind
    if kind == "only_comment":
        return "# nothing\n", kind
    if kind == "not_a_map":
        return rng.choice(["- a\n- b\n", "just text\n", "42\n", '"quoted"\n', "!!binary aGk=\n"]), kind
    return '{"name": "j", "duration": "1m", "server": {"builtin": "socketio"}, "clients": {"builtin": "socketio"}}\n', kind


def m_truncate(rng, text, seeds):
    i = rng.randrange(len(text) + 1)
    return text[:i], f"truncate at {i}"


MUTATORS = [(m_extreme, 5), (m_number, 6), (m_value, 4), (m_delete, 3), (m_duplicate, 3), (m_key, 2), (m_control, 1),
            (m_bad_utf8, 1), (m_nesting, 1), (m_long, 1), (m_sweep, 2), (m_name, 1), (m_alias, 1), (m_indent, 2),
            (m_splice, 2), (m_document, 1), (m_truncate, 1)]


def mutate(rng: random.Random, seeds: list[str]) -> tuple[bytes, list[str]]:
    text = rng.choice(seeds)
    notes = []
    mutators, weights = zip(*MUTATORS)
    for mutator in rng.choices(mutators, weights, k=rng.choice([1, 1, 1, 2, 2, 3, 4])):
        text, note = mutator(rng, text, seeds)
        notes.append(note)
    return text.encode("latin-1"), notes


def gen_comment(rng: random.Random) -> str:
    """A comment line of YAML-looking junk: appended to a file check accepted, it must not change the verdict."""
    pieces = [rng.choice(["[", "{", "]", "}"]) * rng.choice([1, 10, 64, 65, 200]), ": x", "- y", "'", '"', "&a *b",
              "!!int", "%YAML", "\\", u("é"), "\t", "---", "...", "? k", "|", ">", "#", "@", "`"]
    return "# " + "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 6)))


def gen_set(rng: random.Random) -> str | None:
    if rng.random() > 0.1:
        return None
    path = rng.choice(PATHS)
    value = rng.choice(ODD_NUMBERS + ODD_VALUES + PATH_VALUES)
    return f"{path}={value}"


# ----- running flatline

def limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))
    os.nice(5)


def run_flatline(argv: list[str], cwd: str, bound: float) -> dict:
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=limit_child)
    try:
        out, err = proc.communicate(timeout=bound)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the group of the process we started, by its pid
        out, err = proc.communicate()
        timed_out = True
    return {"rc": proc.returncode, "stdout": out, "stderr": err, "timed_out": timed_out,
            "elapsed": time.monotonic() - started}


def snapshot(root: str, skip: str) -> dict[str, tuple]:
    """Every file and folder under root but `skip`: path -> (kind, size, mtime)."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        if os.path.abspath(folder) == os.path.abspath(skip):
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if os.path.abspath(os.path.join(folder, d)) != os.path.abspath(skip)]
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            seen[os.path.relpath(path, root)] = ("d" if name in dirs else "f", st.st_size, st.st_mtime_ns)
    return seen


def diff(before: dict, after: dict) -> list[str]:
    changes = [f"created {p}" for p in after if p not in before]
    changes += [f"removed {p}" for p in before if p not in after]
    changes += [f"changed {p}" for p in after if p in before and after[p] != before[p] and after[p][0] == "f"]
    return sorted(changes)


def events_of(folder: str) -> list[tuple[str, bytes]]:
    """The event logs of a results folder, by scenario folder and file name (the run ids hold the time)."""
    found = []
    for where, _, files in os.walk(folder):
        for name in files:
            if name.startswith("events") and name.endswith(".jsonl"):
                scenario = os.path.relpath(where, folder).split(os.sep)[0]
                with open(os.path.join(where, name), "rb") as f:
                    found.append((f"{scenario}/{name}", f.read()))
    return sorted(found)


LOCATED = re.compile(rb":(\d+):(\d+): ")


class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.report = fuzzlib.Report(NAME, args, known=KNOWN)
        self.counts = self.report.counts
        self.rng = random.Random(args.seed)
        self.binary = fuzzlib.flatline_binary()
        seeds_dir = fuzzlib.REPO / "scenarios"
        self.seeds = [p.read_bytes().decode("latin-1") for p in sorted(seeds_dir.glob("*.yaml"))]
        if not self.seeds:
            sys.exit(f"{NAME}: no seed scenarios in {seeds_dir}")

    def fail(self, case: int, kind: str, message: str, data: bytes, notes: list[str], argv: list[str], result: dict):
        details = {"mutations": notes, "command": " ".join(argv), "exit": fuzzlib.describe_exit(result.get("rc")),
                   "elapsed": round(result.get("elapsed", 0), 2),
                   "stdout": result.get("stdout", b"")[-4000:].decode("utf-8", "replace"),
                   "stderr": result.get("stderr", b"")[-4000:].decode("utf-8", "replace")}
        self.report.fail(kind, message, case, {"case.yaml": data}, details)

    def check_exit(self, case: int, what: str, path: str, data: bytes, notes: list[str], argv: list[str],
                   result: dict) -> None:
        rc = result["rc"]
        allocation = re.search(rb"Fatal error: failed to allocate (\d+) bytes", result["stderr"])
        if rc == -6 and allocation and what == "run":
            if int(allocation.group(1)) >= HUGE_ALLOCATION:
                self.fail(case, "run_huge_allocation", f"flatline run aborted allocating {int(allocation.group(1)):,} "
                          "bytes at once", data, notes, argv, result)
            else:  # a big but valid run (a million clients) that reached this fuzzer's memory limit
                self.counts["run_memory_limit"] += 1
                self.keep(case, data, "heavy")
            return
        if rc not in (0, 1, 2):
            self.fail(case, f"{what}_exit", f"flatline {what} ended with {fuzzlib.describe_exit(rc)}", data, notes,
                      argv, result)
            return
        self.counts[f"{what}_exit{rc}"] += 1
        lines = [line for line in result["stderr"].splitlines() if line.strip()]
        if len(lines) != len(set(lines)):
            self.fail(case, f"{what}_error_twice", "the same error line is printed more than once", data, notes, argv,
                      result)
        if rc == 2:
            err = result["stderr"]
            named = [m for m in LOCATED.finditer(err)
                     if err[:m.start()].endswith(path.encode()) or err[:m.start()].endswith(b"--set")]
            whole_file = re.search(re.escape(path.encode()) + rb": (document too large|cannot read the file)", err)
            if whole_file and not named:
                self.counts[f"{what}_file_level_error"] += 1
            elif not named:
                self.fail(case, f"{what}_error_place", f"exit 2 but stderr does not say {path}:LINE:COLUMN (or --set:...)",
                          data, notes, argv, result)
            elif any(m.group(1) == b"0" for m in named):
                self.counts[f"{what}_error_at_line0"] += 1
        if rc == 0 and what == "check" and f"ok {path}".encode() not in result["stdout"]:
            self.fail(case, "check_ok", f"exit 0 but stdout does not say 'ok {path}'", data, notes, argv, result)

    def keep(self, case: int, data: bytes, folder: str) -> None:
        """Keeps a file that was not a failure but is worth a look (slow or heavy runs) under OUT/folder/."""
        where = os.path.join(self.args.out, folder)
        os.makedirs(where, exist_ok=True)
        with open(os.path.join(where, f"case-{case:06d}.yaml"), "wb") as f:
            f.write(data)

    def run(self) -> int:
        root = tempfile.mkdtemp(prefix="flatline-scenario-fuzz-")
        cwd, inputs, out = (os.path.join(root, d) for d in ("cwd", "in", "out"))
        for d in (cwd, inputs, out):
            os.makedirs(d)
        case = 0
        try:
            while self.report.budget.more(case) and self.counts["failures"] < 20:
                data, notes = mutate(self.rng, self.seeds)
                set_arg = gen_set(self.rng)
                try_run = self.rng.random() < RUN_SHARE
                twice = self.rng.random() < 0.5  # the second run, for determinism, on half of the runs
                comment = gen_comment(self.rng) if self.rng.random() < 0.2 else None
                path = os.path.join(inputs, f"case-{case:06d}.yaml")
                with open(path, "wb") as f:
                    f.write(data)
                argv = [self.binary, "check", path] + (["--set", set_arg] if set_arg else [])
                before = snapshot(root, out)
                result = run_flatline(argv, cwd, CHECK_BOUND)
                self.counts["cases"] += 1
                if set_arg:
                    self.counts["with_set"] += 1
                if self.args.verbose:
                    print(f"case {case} {notes} set={set_arg!r} -> {fuzzlib.describe_exit(result['rc'])} "
                          f"{result['stderr'][:160]!r}")
                if result["timed_out"]:
                    self.fail(case, "check_slow", f"flatline check took more than {CHECK_BOUND:g} s", data, notes,
                              argv, result)
                else:
                    self.check_exit(case, "check", path, data, notes, argv, result)
                if result["rc"] == 0 and comment is not None:
                    self.comment_case(case, path, set_arg, comment, data, notes, cwd)
                if result["rc"] == 0 and try_run:
                    self.run_case(case, path, set_arg, twice, data, notes, cwd, out)
                changes = [c for c in diff(before, snapshot(root, out)) if not c.endswith(" out-again")]
                if changes:
                    self.fail(case, "outside_out", f"files changed outside --out: {changes[:5]}", data, notes, argv,
                              result)
                os.remove(path)
                case += 1
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return self.report.summary()

    def comment_case(self, case: int, path: str, set_arg: str | None, comment: str, data: bytes, notes: list[str],
                     cwd: str) -> None:
        """A comment appended to a file check accepted: check must still accept it."""
        variant = data + b"\n" + comment.encode("latin-1") + b"\n"
        commented = path[:-len(".yaml")] + "-commented.yaml"
        with open(commented, "wb") as f:
            f.write(variant)
        argv = [self.binary, "check", commented] + (["--set", set_arg] if set_arg else [])
        result = run_flatline(argv, cwd, CHECK_BOUND)
        os.remove(commented)
        self.counts["comment_checks"] += 1
        if result["rc"] != 0:
            deep = max(comment.count("["), comment.count("{")) > 64
            self.fail(case, "comment_nesting" if deep else "comment_changes_verdict",
                      f"check accepted the file but refused it with the comment {comment[:60]!r} appended "
                      f"({fuzzlib.describe_exit(result['rc'])})", variant, notes + ["comment " + comment[:60]], argv,
                      result)

    def run_case(self, case: int, path: str, set_arg: str | None, twice: bool, data: bytes, notes: list[str], cwd: str,
                 out: str):
        """`flatline run` of a file check accepted, twice with the same seed: same events, byte for byte."""
        outcomes = []
        for attempt, folder in enumerate((out, out + "-again")):
            bound = min(RUN_BOUND, max(3.0, self.args.seconds - self.report.budget.elapsed() + 3))
            argv = [self.binary, "run", path, "--runs", "1", "--out", folder] + (["--set", set_arg] if set_arg else [])
            result = run_flatline(argv, cwd, bound)
            self.counts["runs"] += 1
            if result["timed_out"]:
                self.counts["run_slow"] += 1
                self.keep(case, data, "slow")
                break
            self.check_exit(case, "run", path, data, notes, argv, result)
            if result["rc"] == 2 and attempt == 0:
                self.fail(case, "check_run_disagree", "check accepted the file but run refused it (exit 2)", data, notes,
                          argv, result)
            if result["rc"] not in (0, 1):
                break
            summaries = [f for _, _, files in os.walk(folder) for f in files if f == "summary.json"]
            staging = [d for _, dirs, _ in os.walk(folder) for d in dirs if d.endswith(".partial")]
            if not summaries:
                self.fail(case, "run_results", f"exit {result['rc']} but no summary.json under --out", data, notes,
                          argv, result)
            if staging:
                self.fail(case, "run_staging", f"a finished run left staging folders {staging}", data, notes, argv, result)
            outcomes.append((result["rc"], events_of(folder)))
            if not twice:
                break
        if len(outcomes) == 2:
            self.counts["determinism_checks"] += 1
            if outcomes[0] != outcomes[1]:
                self.fail(case, "run_nondeterministic", "two simulated runs of the same file and seed differ "
                          f"(exit {outcomes[0][0]} vs {outcomes[1][0]}, events equal: {outcomes[0][1] == outcomes[1][1]})",
                          data, notes, argv, result)
        for folder in (out, out + "-again"):
            shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(out)


def main() -> int:
    args = fuzzlib.parse_args(NAME, __doc__, default_seconds=60, default_max_cases=100_000)
    return Fuzzer(args).run()


if __name__ == "__main__":
    sys.exit(main())
