#!/usr/bin/env bash
# Before/after comparison of two porch binaries on one bench script, by the one protocol for
# ratios: servers pinned to CPU 0, the load generator to CPU 1 (BENCH_PIN=1, see lib.sh),
# three interleaved runs (A B A B A B), and the median of each number.
#
#   bench/compare.sh BEFORE_BIN AFTER_BIN SCRIPT [ARGS...]
#   e.g. bench/compare.sh /work/baseline/target/release/porch target/release/porch static.sh
#
# Every run's output is kept under $BENCH_OUT (default: a new /tmp/porch-compare.XXXXXX).
# The table printed at the end has one row per result line of the script: the line's
# labels, then for each number the median before → the median after (one value when they
# are equal). Lines are matched by
# their words with the numbers taken out, so any table the script prints can be compared.
# RUNS (default 3) sets the number of runs per binary.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(($# >= 3)) || { echo "usage: bench/compare.sh BEFORE_BIN AFTER_BIN SCRIPT [ARGS...]" >&2; exit 2; }
before=$(realpath "$1") after=$(realpath "$2") script=$3
shift 3
[[ -x $before && -x $after ]] || { echo "compare.sh: both binaries must exist and be executable" >&2; exit 2; }
[[ -f $SCRIPT_DIR/$script ]] || { echo "compare.sh: no bench script $SCRIPT_DIR/$script" >&2; exit 2; }
out=${BENCH_OUT:-$(mktemp -d /tmp/porch-compare.XXXXXX)}
mkdir -p "$out"
runs=${RUNS:-3}
for ((i = 1; i <= runs; i++)); do
  for side in before after; do
    bin=$before
    [[ $side == after ]] && bin=$after
    echo "[compare] run $i/$runs: $side ($bin)" >&2
    BENCH_PIN=1 PORCH_BIN=$bin bash "$SCRIPT_DIR/$script" "$@" >"$out/$side.$i.txt" 2>"$out/$side.$i.log" ||
      { echo "[compare] $script failed for $side run $i; see $out/$side.$i.log" >&2; exit 1; }
  done
done
python3 - "$out" "$runs" <<'PY'
import re, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
# A number standing on its own (a ratio may end in x): not digits inside a word such as
# p50_ms, -c32 or uvicorn 0.55.0, which stay part of the row's label.
NUM = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?=x?(?![\w.]))")
def parse(path):
    rows = {}
    order = []
    for line in open(path):
        line = line.rstrip()
        nums = NUM.findall(line)
        if not nums:
            continue
        key = NUM.sub("#", line)
        key = re.sub(r"\s+", " ", key)
        n = 1
        while (key, n) in rows:
            n += 1
        rows[(key, n)] = [float(x) for x in nums]
        order.append((key, n))
    return order, rows
sides = {s: [parse(f"{out}/{s}.{i}.txt") for i in range(1, runs + 1)] for s in ("before", "after")}
order = sides["before"][0][0]
print(f"median of {runs} interleaved runs per binary (servers on CPU 0, load on CPU 1); raw output in {out}")
for key in order:
    cols = []
    vals = {s: [r[1].get(key) for r in sides[s]] for s in sides}
    if any(v is None for s in vals for v in vals[s]):
        continue
    width = len(vals["before"][0])
    if any(len(v) != width for s in vals for v in vals[s]):
        continue
    for j in range(width):
        b = statistics.median(v[j] for v in vals["before"])
        a = statistics.median(v[j] for v in vals["after"])
        cols.append(f"{b:g}" if b == a else f"{b:g} → {a:g}")
    parts = key[0].split("#")
    line = "".join(p + (cols[k] if k < len(cols) else "") for k, p in enumerate(parts))
    print(line)
PY
