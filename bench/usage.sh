#!/usr/bin/env bash
# Usage recording's cost on static serving: bench/static.sh (Porch only) with recording off
# and on, by the one protocol for ratios (bench/compare.sh): Porch pinned to CPU 0, wrk to
# CPU 1 (BENCH_PIN=1), three interleaved runs (off on off on off on), the median of each
# number. Every wrk request of index.html is a cookie-less page view, so "on" is the worst
# case for recording. The target (issue 14): "on" within the run-to-run spread of "off".
#
#   bench/usage.sh                                  # builds porch (release, headless)
#   PORCH_BIN=target/release/porch RUNS=3 bench/usage.sh
#
# Environment: PORCH_BIN, RUNS (default 3), BENCH_OUT (raw output folder), and the
# variables of static.sh (BENCH_DURATION, BENCH_CONNECTIONS, ...). Prints the median table
# and, per run, the small file's req/s so the spread can be read next to the medians.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_porch_bin
out=${BENCH_OUT:-$(mktemp -d /tmp/porch-usage.XXXXXX)}
mkdir -p "$out"
runs=${RUNS:-3}
for ((i = 1; i <= runs; i++)); do
  for side in off on; do
    log "run $i/$runs: usage recording $side"
    BENCH_PIN=1 BENCH_ONLY=porch BENCH_USAGE=$side PORCH_BIN=$PORCH_BIN bash "$SCRIPT_DIR/static.sh" >"$out/$side.$i.txt" 2>"$out/$side.$i.log" ||
      die "static.sh failed with usage $side, run $i; see $out/$side.$i.log"
  done
done
python3 - "$out" "$runs" <<'PY'
import re, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def rows(path):
    r = {}
    for line in open(path):
        f = line.split()
        if len(f) == 6 and f[1] == "porch" and f[0] in ("small", "1MiB"):
            r[f[0]] = [float(x) for x in f[2:5]] + [int(f[5])]
        m = re.match(r"porch page views recorded (\S+) of (\d+)", line)
        if m:
            r["recorded"] = (m.group(1), int(m.group(2)))
    return r
data = {s: [rows(f"{out}/{s}.{i}.txt") for i in range(1, runs + 1)] for s in ("off", "on")}
print(f"static.sh, Porch only, usage recording off vs on: median of {runs} interleaved runs (Porch on CPU 0, wrk on CPU 1)")
print(f"raw output in {out}")
print(f"{'file':<7} {'usage':<5} {'req/s':>10} {'p50_ms':>8} {'p99_ms':>8} {'errors':>6}   req/s of each run")
for f in ("small", "1MiB"):
    for s in ("off", "on"):
        v = [d[f] for d in data[s] if f in d]
        if len(v) != runs:
            continue
        med = [statistics.median(x[k] for x in v) for k in range(4)]
        each = " ".join(f"{x[0]:.0f}" for x in v)
        print(f"{f:<7} {s:<5} {med[0]:>10.1f} {med[1]:>8.3f} {med[2]:>8.3f} {int(med[3]):>6}   {each}")
    off = [d[f][0] for d in data["off"] if f in d]
    on = [d[f][0] for d in data["on"] if f in d]
    if len(off) == runs and len(on) == runs:
        mo, mn = statistics.median(off), statistics.median(on)
        spread = (max(off) - min(off)) / mo * 100 if mo else float("nan")
        within = min(off) <= mn <= max(off) or mn >= mo
        print(f"{f:<7} on/off req/s {mn / mo:.3f}x; spread of off runs {spread:.1f}%; on median within off's spread (or above): {'yes' if within else 'NO'}")
rec = [d.get("recorded") for d in data["on"]]
if all(rec):
    print("page views recorded with usage on: " + ", ".join(f"{r[0]} of {r[1]}" for r in rec))
PY
