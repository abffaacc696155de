#!/usr/bin/env bash
# Flatline's fuzzers (`make fuzz`; see docs/fuzzing.md): the control API, scenario files and the
# built-in servers' protocols, one after the other, against the flatline binary already built
# (built here only when missing, as scripts/interop-tests.sh does). Each is bounded in time and in
# count and deterministic in what it generates for a seed; each prints a summary line, and this
# script exits non-zero when any of them found a broken invariant (reproducers under FUZZ_OUT).
#
# Knobs (environment):
#   FUZZ_SECONDS=60              time budget of each fuzzer (CI: 8)
#   FUZZ_SEED=1                  seed of everything generated
#   FUZZ_OUT=results/fuzz        reproducers and logs, in <fuzzer>-seed<N>/ (emptied first)
#   FUZZ_ONLY="api scenario protocol"   which fuzzers to run
#   FUZZ_ARGS=                   more flags for every fuzzer, e.g. --strict or --max-cases 500
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(swift build --show-bin-path)/flatline"
[ -x "$bin" ] || swift build --product flatline
export FLATLINE_BIN="$bin"

seconds="${FUZZ_SECONDS:-60}"
seed="${FUZZ_SEED:-1}"
out_root="${FUZZ_OUT:-results/fuzz}"
py=.venv/bin/python
[ -x "$py" ] || { echo "error: $py missing (run scripts/ensure-deps.sh, or make deps)" >&2; exit 1; }

failed=()
for fuzzer in ${FUZZ_ONLY:-api scenario protocol}; do
  out="$out_root/${fuzzer}_fuzz-seed$seed"
  rm -rf "$out"
  echo "==> ${fuzzer}_fuzz: seed $seed, ${seconds}s, reproducers in $out"
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  if ! "$py" "scripts/fuzz/${fuzzer}_fuzz.py" --seed "$seed" --seconds "$seconds" --out "$out" ${FUZZ_ARGS:-}; then
    failed+=("${fuzzer}_fuzz")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: broken invariants in ${failed[*]}; see the failure-* folders under $out_root (docs/fuzzing.md)" >&2
  exit 1
fi
echo "fuzz: every invariant held"
