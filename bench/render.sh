#!/usr/bin/env bash
# Rendered-content benchmark: how much time Porch adds to rendering a trivial Jupyter
# notebook, compared with running nbconvert directly, and how precisely schedules start.
#
# Usage: bench/render.sh [all | overhead | sched]...   (default: all)
#
#   overhead  a one-cell notebook (print(1)): BENCH_RENDER_REPS renders through Porch
#             (POST .../render, wait for the task) interleaved with as many direct runs of
#             the command Porch runs, in the same virtualenv
#   sched     BENCH_SCHED_RUNS copies of that notebook, each with a `minute` schedule whose
#             first run is planned a few seconds apart; planned vs actual start of each
#
# Both parts share one Porch instance and one data dir; overhead runs first (when both run).
#
# Environment:
#   PORCH_BIN=path          use this porch binary instead of building it
#   BENCH_RENDER_REPS=5     measured render pairs (porch, direct), after BENCH_RENDER_WARMUP
#   BENCH_RENDER_WARMUP=1   unreported pairs first
#   BENCH_SCHED_RUNS=20     scheduled runs (one item each)
#   BENCH_SCHED_LEAD=10     seconds from creating the schedules to the first planned run
#   BENCH_SCHED_STAGGER=    seconds between planned runs (default: 2 x slowest render, >= 3)
#   BENCH_SCHED_POLL=0.05   seconds between polls of an item's render list
#   BENCH_START_TIMEOUT=30  seconds to wait for porch serve to come up
#   BENCH_KEEP=1            keep the temp dir (logs, raw output) for inspection
#
# Exits non-zero only on setup errors (missing tools, build or deploy failure, a server
# that does not start, a failed render); a slow result is just printed. All benchmark
# traffic goes to 127.0.0.1; the first deploy lets uv fetch nbconvert and ipykernel.
set -euo pipefail

BENCH_RENDER_REPS=${BENCH_RENDER_REPS:-5}
BENCH_RENDER_WARMUP=${BENCH_RENDER_WARMUP:-1}
BENCH_SCHED_RUNS=${BENCH_SCHED_RUNS:-20}
BENCH_SCHED_LEAD=${BENCH_SCHED_LEAD:-10}
BENCH_SCHED_STAGGER=${BENCH_SCHED_STAGGER:-}
BENCH_SCHED_POLL=${BENCH_SCHED_POLL:-0.05}
BENCH_KEEP=${BENCH_KEEP:-0}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A PART=()
(($#)) || set -- all
for a in "$@"; do
  case $a in
    all) PART[overhead]=1 PART[sched]=1 ;;
    overhead | sched) PART[$a]=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "render.sh: unknown part '$a' (all, overhead, sched)" >&2; exit 2 ;;
  esac
done
want() { [[ -n ${PART[$1]:-} ]]; }
for v in BENCH_RENDER_REPS BENCH_SCHED_RUNS BENCH_SCHED_LEAD; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[[ $BENCH_RENDER_WARMUP =~ ^[0-9]+$ ]] || die "BENCH_RENDER_WARMUP must be an integer >= 0"
[[ -z $BENCH_SCHED_STAGGER || $BENCH_SCHED_STAGGER =~ ^[1-9][0-9]*$ ]] ||
  die "BENCH_SCHED_STAGGER must be a positive integer (seconds)"

CLIENT=$SCRIPT_DIR/render_client.py
FIXTURE=$REPO_ROOT/tests/fixtures/frameworks/notebook
cd "$REPO_ROOT"

# ---------------------------------------------------------------- tools ----
need_pkgs=()
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if ((${#need_pkgs[@]})); then
  log "installing missing packages: ${need_pkgs[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install ${need_pkgs[*]}"
    SUDO=(sudo)
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >&2 ||
    die "apt-get install ${need_pkgs[*]} failed"
fi
command -v curl >/dev/null 2>&1 || die "curl not found"
command -v python3 >/dev/null 2>&1 || die "python3 not found"
# Porch builds the notebook's environment with uv (on PATH or `python3 -m uv`).
command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 ||
  die "uv not found (Porch needs it to build the notebook's environment): pip install uv"
[[ -f $FIXTURE/requirements.txt ]] || die "notebook fixture not found at $FIXTURE"

# ---------------------------------------------------------------- porch ----
bench_porch_bin

# ------------------------------------------------------ temp + cleanup ----
bench_tmp render

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# A value from the JSON document in $1, by a Python expression over `d`.
jq_py() { python3 -c 'import json,sys; d = json.loads(sys.argv[1]); v = eval(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }
f3() { awk -v x="$1" 'BEGIN { if (x == "") print "n/a"; else printf "%.3f", x }'; }
verdict() { if "$@"; then echo met; else echo "NOT met"; fi; }

# ------------------------------------------------------------ porch serve ----
DATA=$TMP/data
P=$TMP/porch
mkdir -p "$DATA" "$P"
start_porch "$DATA" "$P"
log "porch listening on $BASE (pid $PORCH_PID)"

api() { # METHOD PATH [JSON]
  local args=(-fsS --max-time 30 -X "$1" -H "Authorization: Key $KEY")
  [[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$BASE/__api__$2"
}

# deploy DIR NAME: sets DEPLOY_GUID and DEPLOY_SECS (wall time of the whole `porch deploy`,
# which for a notebook includes its first render).
deploy() {
  local dir=$1 name=$2 t0 url out=$TMP/deploy-$2.out err=$TMP/deploy-$2.err
  t0=$(now)
  "$PORCH_BIN" deploy "$dir" --name "$name" --data-dir "$DATA" >"$out" 2>"$err" ||
    die "porch deploy $name failed: $(tail -q -n 8 "$err" "$out")"
  DEPLOY_SECS=$(since "$t0")
  url=$(tail -n 1 "$out" | tr -s '[:blank:]' '\n' | grep '^http' | tail -n 1 || true)
  [[ $url =~ /content/([^/]+)/?$ ]] || die "porch deploy $name printed no content URL (last line: '$(tail -n 1 "$out")')"
  DEPLOY_GUID=${BASH_REMATCH[1]}
}

# ------------------------------------------------------- the notebook ----
# One code cell, print(1); the fixture's requirements.txt (standard library only), so the
# environment holds just what Porch adds for jupyter-static content (nbconvert, ipykernel).
NB=$TMP/nb
mkdir -p "$NB"
cp "$FIXTURE/requirements.txt" "$NB/requirements.txt"
python3 - "$NB/report.ipynb" <<'EOF'
import json, sys
nb = {
    "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ["print(1)\n"]}],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
with open(sys.argv[1], "w") as f:
    json.dump(nb, f, indent=1)
EOF

log "deploying the trivial notebook (first deploy: uv builds the environment, then it renders)"
deploy "$NB" bench-nb
NB_GUID=$DEPLOY_GUID
FIRST_DEPLOY=$DEPLOY_SECS
log "first deploy: ${FIRST_DEPLOY}s ($NB_GUID)"
mapfile -t ENV_PYS < <(ls -d "$DATA"/envs/*/bin/python 2>/dev/null || true)
((${#ENV_PYS[@]} == 1)) || die "expected exactly one environment under $DATA/envs, found ${#ENV_PYS[@]}"
ENV_PY=${ENV_PYS[0]}
NBC_VER=$("$ENV_PY" -m nbconvert --version 2>/dev/null || echo '?')
PY_VER=$("$ENV_PY" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?')

# ------------------------------------------------------------ overhead ----
RENDER_MAX=
if want overhead; then
  log "overhead: $BENCH_RENDER_WARMUP warm-up + $BENCH_RENDER_REPS measured pairs (porch render, direct nbconvert)"
  mkdir -p "$TMP/direct"
  OV=$(python3 "$CLIENT" overhead --base "$BASE" --key "$KEY" --guid "$NB_GUID" --python "$ENV_PY" \
    --bundle "$NB" --work "$TMP/direct" --reps "$BENCH_RENDER_REPS" --warmup "$BENCH_RENDER_WARMUP") ||
    die "render overhead measurement failed: $(tail -n 20 "$P/stderr.log")"
  RENDER_MAX=$(jq_py "$OV" 'd["porch"]["max"]')
  ov_pct=$(jq_py "$OV" 'd["overhead_pct"]')
  echo
  echo "render overhead: trivial notebook (one cell, print(1)), nbconvert $NBC_VER, Python $PY_VER, $(nproc) CPUs"
  echo "    porch  = POST .../render -> task finished (client wall time; includes env lookup, bundle copy, log)"
  echo "    direct = $(basename "$(dirname "$(dirname "$ENV_PY")")" | cut -c1-12)…/bin/python -m nbconvert --to html --execute --KernelManager.transport=ipc --output-dir OUT --output index report.ipynb (same venv)"
  printf '%-8s %10s %10s %10s %10s   %s\n' path median_s min_s max_s n 'all (s)'
  for s in porch direct; do
    printf '%-8s %10s %10s %10s %10s   %s\n' "$s" "$(f3 "$(jq_py "$OV" "d['$s']['median']")")" \
      "$(f3 "$(jq_py "$OV" "d['$s']['min']")")" "$(f3 "$(jq_py "$OV" "d['$s']['max']")")" \
      "$(jq_py "$OV" "d['$s']['n']")" "$(jq_py "$OV" "' '.join('%.3f' % x for x in d['$s']['all'])")"
  done
  echo "overhead of the medians: $(f3 "$(jq_py "$OV" 'd["overhead_s"]')") s = ${ov_pct} %"
  echo "target (Porch's overhead on a render < 10%): $(verdict awk -v x="$ov_pct" 'BEGIN { exit !(x < 10) }')"
fi

# --------------------------------------------------------------- sched ----
if want sched; then
  if [[ -z $RENDER_MAX ]]; then
    log "timing one render to choose the stagger"
    t0=$(now)
    tid=$(jq_py "$(api POST "/v1/content/$NB_GUID/render")" 'd["task_id"]') || die "render request failed"
    while :; do
      t=$(api GET "/v1/tasks/$tid?wait=1") || die "task API failed"
      [[ $(jq_py "$t" 'd.get("finished")') == True ]] && break
    done
    [[ -z $(jq_py "$t" 'd.get("error")') ]] || die "render failed: $(jq_py "$t" 'd.get("error")')"
    RENDER_MAX=$(since "$t0")
  fi
  # Renders run one at a time: the next planned run must come after the previous render.
  # Twice the slowest render (at least 3 s): a busy machine can make one render much slower.
  STAGGER=${BENCH_SCHED_STAGGER:-$(awk -v m="$RENDER_MAX" 'BEGIN { s = int(2 * m + 0.999); print (s < 3) ? 3 : s }')}
  log "sched: slowest render ${RENDER_MAX}s, so planned runs ${STAGGER}s apart"
  SCHED_DIR=$TMP/sched-nb
  cp -r "$NB" "$SCHED_DIR"
  GUIDS=()
  for ((i = 1; i <= BENCH_SCHED_RUNS; i++)); do
    name=$(printf 'bench-sched-%02d' "$i")
    deploy "$SCHED_DIR" "$name"
    GUIDS+=("$DEPLOY_GUID")
    log "deployed $name ($DEPLOY_GUID) in ${DEPLOY_SECS}s"
  done
  envs=$(find "$DATA/envs" -mindepth 3 -maxdepth 3 -path "*/bin/python" | wc -l)
  ((envs == 1)) || die "expected the copies to share one environment, found $envs"
  # Every 60 minutes from the planned time: exactly one run falls inside the benchmark.
  t0=$(($(date +%s) + BENCH_SCHED_LEAD))
  : >"$TMP/plan.txt"
  SCHED_IDS=()
  for ((i = 0; i < BENCH_SCHED_RUNS; i++)); do
    planned=$((t0 + i * STAGGER))
    iso=$(date -u -d "@$planned" +%Y-%m-%dT%H:%M:%SZ)
    s=$(api POST "/v1/content/${GUIDS[$i]}/schedules" \
      "{\"type\":\"minute\",\"schedule\":{\"N\":60},\"start_time\":\"$iso\",\"timezone\":\"UTC\"}") ||
      die "could not create the schedule of ${GUIDS[$i]}"
    SCHED_IDS+=("$(jq_py "$s" 'd["id"]')")
    first_run=$(jq_py "$s" 'd["next_runs"][0]["utc"] if isinstance(d["next_runs"][0], dict) else d["next_runs"][0]')
    [[ $first_run == "$iso" ]] || log "warning: schedule of ${GUIDS[$i]} plans its first run at '$first_run', not $iso"
    printf '%s %s\n' "${GUIDS[$i]}" "$planned" >>"$TMP/plan.txt"
  done
  log "sched: $BENCH_SCHED_RUNS runs planned from $(date -u -d "@$t0" +%H:%M:%S) UTC, every ${STAGGER}s; polling every ${BENCH_SCHED_POLL}s"
  SC=$(python3 "$CLIENT" sched --base "$BASE" --key "$KEY" --plan "$TMP/plan.txt" --poll "$BENCH_SCHED_POLL" \
    --grace 60 --log "$P/stderr.log") || die "schedule measurement failed"
  for id in "${SCHED_IDS[@]}"; do api DELETE "/v1/schedules/$id" >/dev/null || log "warning: could not delete schedule $id"; done
  printf '%s\n' "$SC" >"$TMP/sched.json"

  echo
  echo "scheduler precision: $BENCH_SCHED_RUNS \`minute\` schedules, first runs planned ${STAGGER}s apart (whole seconds), $(nproc) CPUs"
  echo "    api   = the render's started_time (RFC 3339, whole seconds, so ±1 s) - planned"
  echo "    seen  = when the scheduled render first showed in GET .../renders (polled every ${BENCH_SCHED_POLL}s) - planned"
  echo "    fired = timestamp of Porch's own 'scheduled render' log line - planned (n/a if the log has none)"
  echo "    queued = another scheduled render still held the render slot at the planned time"
  printf '%4s %-20s %6s %9s %9s %9s %-8s %s\n' run planned_utc api_s seen_s fired_s render_s status queued
  python3 - "$SC" <<'EOF'
import datetime, json, sys
d = json.loads(sys.argv[1])
f = lambda x, fmt: "n/a" if x is None else fmt % x
for r in d["runs"]:
    t = datetime.datetime.fromtimestamp(r["planned"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print("%4d %-20s %6s %9s %9s %9s %-8s %s" % (r["i"], t, f(r["api_delay_s"], "%+.0f"), f(r["seen_delay_s"], "%+.3f"),
          f(r["fired_delay_s"], "%+.3f"), f(r["render_s"], "%.0f"), r["status"] or "missing", "yes" if r["queued"] else ""))
print()
print("%-6s %4s %9s %9s %9s %9s   (delay in s)" % ("view", "n", "min", "median", "p95", "max"))
for k, label in (("api_delay_s", "api"), ("seen_delay_s", "seen"), ("fired_delay_s", "fired")):
    s = d["summary"][k]
    if s:
        print("%-6s %4d %+9.3f %+9.3f %+9.3f %+9.3f" % (label, s["n"], s["min"], s["median"], s["p95"], s["max"]))
    else:
        print("%-6s %4d %9s %9s %9s %9s" % (label, 0, "n/a", "n/a", "n/a", "n/a"))
EOF
  # Target over the runs that had the render slot free, and over all runs.
  verdicts=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1]); runs = d["runs"]
good = lambda r: (r["seen_delay_s"] is not None and 0 <= r["seen_delay_s"] < 1 and r["api_delay_s"] is not None
                  and abs(r["api_delay_s"]) <= 1 and r["scheduled_renders"] == 1)
free = [r for r in runs if not r["queued"]]
print(1 if free and all(map(good, free)) else 0, 1 if all(map(good, runs)) else 0, len(runs) - len(free))' "$SC")
  read -r ok_free ok_all queued <<<"$verdicts"
  missing=$(jq_py "$SC" 'sum(1 for r in d["runs"] if r["seen_delay_s"] is None or r["api_delay_s"] is None)')
  extra=$(jq_py "$SC" 'sum(1 for r in d["runs"] if r["scheduled_renders"] > 1)')
  ((missing == 0)) || echo "$missing of $BENCH_SCHED_RUNS scheduled runs never showed up"
  ((extra == 0)) || echo "$extra items had more than one scheduled render"
  echo "$queued of $BENCH_SCHED_RUNS runs were queued behind another render (stagger ${STAGGER}s)"
  label="every run starts within 1 s of its planned time: seen delay in [0, 1) s, api delay within ±1 s"
  echo "target ($label; runs not queued): $( ((ok_free)) && echo met || echo 'NOT met')"
  ((queued == 0)) || echo "target ($label; all runs, queued included): $( ((ok_all)) && echo met || echo 'NOT met')"
fi
