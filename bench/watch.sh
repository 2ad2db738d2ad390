#!/usr/bin/env bash
# Linked-folder benchmark: time from saving a file in a linked folder to the new version
# being served, for a static page, a FastAPI app and a Jupyter notebook.
#
# Usage: bench/watch.sh
#
# Each item is deployed with `porch deploy DIR --watch`; then, BENCH_WATCH_REPS times per
# item (after BENCH_WATCH_WARMUP unreported saves), the client writes a new marker into
# the source file and polls the viewer URL until the marker is served (every 5 ms; 50 ms
# for the notebook's 280 KB page, so polling does not slow its render). Saves
# are spaced so that none coalesces with the previous one. For the app and the notebook
# it also times their own cost outside Porch, in the virtualenv Porch built: uvicorn from
# exec to first answer, and nbconvert --execute of the notebook. The target is
# save->served < 1 s + that own cost. Porch waits for 300 ms of quiet (its debounce)
# before it packs, so that is the floor of every number here.
#
# Environment:
#   PORCH_BIN=path          use this porch binary instead of building it (release, headless)
#   BENCH_WATCH_REPS=5      measured saves per item
#   BENCH_WATCH_WARMUP=1    unreported saves first
#   BENCH_START_TIMEOUT=30  seconds to wait for porch serve to come up
#   BENCH_KEEP=1            keep the temp dir (logs) for inspection
#
# Exits non-zero only on setup errors (missing tools, build or deploy failure, a server
# that does not start, a redeploy that fails); a slow result is just printed. Needs uv
# (Porch builds the app's and the notebook's environments from PyPI on first deploy).
set -euo pipefail

BENCH_WATCH_REPS=${BENCH_WATCH_REPS:-5}
BENCH_WATCH_WARMUP=${BENCH_WATCH_WARMUP:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) die "watch.sh takes no arguments (see --help)" ;;
esac
[[ $BENCH_WATCH_REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_WATCH_REPS must be a positive integer"
[[ $BENCH_WATCH_WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WATCH_WARMUP must be an integer >= 0"

CLIENT=$SCRIPT_DIR/watch_client.py
cd "$REPO_ROOT"

command -v python3 >/dev/null 2>&1 || die "python3 not found"
command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 ||
  die "uv not found (Porch needs it to build the app's environment): pip install uv"

bench_porch_bin

bench_tmp watch

DATA=$TMP/data
mkdir -p "$DATA"
start_porch "$DATA" "$TMP"
log "porch listening on $BASE"

# The three folders, in their first version.
mkdir -p "$TMP/static" "$TMP/fastapi" "$TMP/notebook" "$TMP/work"
printf '<!doctype html><title>bench</title><h1>first</h1>\n' >"$TMP/static/index.html"
printf 'from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get("/")\ndef root():\n    return {"marker": "first"}\n' \
  >"$TMP/fastapi/app.py"
printf 'fastapi>=0.100\nuvicorn\n' >"$TMP/fastapi/requirements.txt"
printf '# standard library only\n' >"$TMP/notebook/requirements.txt"
python3 - "$TMP/notebook/report.ipynb" <<'EOF'
import json, sys
nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ["print('first')\n"]}],
      "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
json.dump(nb, open(sys.argv[1], "w"), indent=1)
EOF

ITEMS=()
for kind in static fastapi notebook; do
  log "porch deploy $kind --watch (first deploy builds its environment)"
  out=$("$PORCH_BIN" deploy "$TMP/$kind" --name "bench-watch-$kind" --watch --data-dir "$DATA" 2>"$TMP/deploy-$kind.err") ||
    die "porch deploy $kind failed: $(tail -n 8 "$TMP/deploy-$kind.err")"
  [[ $out =~ /content/([0-9a-f-]+)/ ]] || die "porch deploy $kind printed no content URL: $out"
  ITEMS+=(--item "$kind:${BASH_REMATCH[1]}:$TMP/$kind")
done
# The app's first worker starts on the first request: take it before timing.
curl -fsS --max-time 120 -o /dev/null "$BASE/content/$(cut -d: -f2 <<<"${ITEMS[3]}")/" || die "the FastAPI app does not answer"

R=$(python3 "$CLIENT" --base "$BASE" --key "$KEY" "${ITEMS[@]}" --reps "$BENCH_WATCH_REPS" \
  --warmup "$BENCH_WATCH_WARMUP" --envs "$DATA/envs" --work "$TMP/work") ||
  die "measurement failed: $(tail -n 20 "$TMP/stderr.log")"

echo
echo "linked folders: file save -> new version served (viewer polls every 5 ms, notebook 50 ms), debounce 300 ms, $(nproc) CPUs"
echo "    own   = the content's own cost outside Porch, same venv: uvicorn exec -> first answer; nbconvert --execute"
echo "    extra = median served - median own (what Porch adds: debounce, pack, deploy, switch)"
python3 - "$R" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
f = lambda x: "n/a" if x is None else "%.3f" % x
print("%-9s %9s %9s %9s %4s %9s %9s  %s" % ("content", "median_s", "min_s", "max_s", "n", "own_s", "extra_s", "target (median < 1 s + own)"))
for kind in ("static", "fastapi", "notebook"):
    r = d.get(kind)
    if not r:
        continue
    s, o = r["served"], r["own"]
    own = o["median"] if o else 0.0
    extra = s["median"] - own
    print("%-9s %9s %9s %9s %4d %9s %9s  %s" % (kind, f(s["median"]), f(s["min"]), f(s["max"]), s["n"],
          f(o["median"]) if o else "-", f(extra), "met" if s["median"] < 1.0 + own else "NOT met"))
print()
for kind in ("static", "fastapi", "notebook"):
    r = d.get(kind)
    if r:
        print("%-9s all: %s" % (kind, " ".join("%.3f" % x for x in r["served"]["all"])))
EOF
