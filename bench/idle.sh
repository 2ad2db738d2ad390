#!/usr/bin/env bash
# Idle benchmark: how often an idle Porch wakes up, with five items deployed and nobody
# looking at them.
#
# Usage: bench/idle.sh
#
# One `porch serve` on a loopback port with a fresh data dir gets five items: two
# interactive apps (the FastAPI and Flask fixtures) that nobody opens, so they have no
# worker; one notebook with a daily schedule whose next run is hours away; two static
# sites. After BENCH_IDLE_SETTLE quiet seconds, bench/idle_client.py reads the context
# switch counters of every Porch thread (/proc/PID/task/*/status) for BENCH_IDLE_SECONDS
# and prints them per thread name. Wake-ups are voluntary context switches: a thread
# that sleeps (a timer, epoll, a futex) and is woken again counts one. The target is at
# most 5 wake-ups per second for the whole process (issue 12).
#
# Environment:
#   PORCH_BIN=path            use this porch binary instead of building it (release, headless)
#   BENCH_IDLE_SECONDS=30     length of the measured window
#   BENCH_IDLE_SETTLE=10      quiet seconds between the last setup step and the window
#   BENCH_IDLE_INTERVAL=1     seconds between readings inside the window (threads that come
#                             and go are followed at this resolution)
#   BENCH_START_TIMEOUT=30    seconds to wait for porch serve to come up
#   BENCH_KEEP=1              keep the temp dir (server log, raw numbers in idle.json)
#   PORCH_UV_CACHE_DIR=dir    uv's cache (default: the data dir's own, so packages download)
#
# Exits non-zero only on setup errors (missing tools, build or deploy failure, a server
# that does not start, an app that has a worker when it should be idle); a result above
# the target is printed with `NOT met` and still exits 0. The deploys let uv fetch
# FastAPI, Flask, nbconvert and ipykernel from PyPI; everything else is on 127.0.0.1.
set -euo pipefail

BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-30}
BENCH_IDLE_SETTLE=${BENCH_IDLE_SETTLE:-10}
BENCH_IDLE_INTERVAL=${BENCH_IDLE_INTERVAL:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}
TARGET=5

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) die "idle.sh takes no arguments (see --help)" ;;
esac
[[ $BENCH_IDLE_SECONDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_IDLE_SECONDS must be a positive integer"
[[ $BENCH_IDLE_SETTLE =~ ^[0-9]+$ ]] || die "BENCH_IDLE_SETTLE must be an integer >= 0"
[[ $BENCH_IDLE_INTERVAL =~ ^[0-9]+([.][0-9]+)?$ && $BENCH_IDLE_INTERVAL != 0 ]] ||
  die "BENCH_IDLE_INTERVAL must be a positive number of seconds"

CLIENT=$SCRIPT_DIR/idle_client.py
FIX=$REPO_ROOT/tests/fixtures
cd "$REPO_ROOT"

command -v curl >/dev/null 2>&1 || die "curl not found"
command -v python3 >/dev/null 2>&1 || die "python3 not found"
command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 ||
  die "uv not found (Porch needs it to build the apps' and the notebook's environments): pip install uv"
[[ -r /proc/self/task/$$/status || -r /proc/$$/status ]] || die "/proc is not readable (Linux only)"
for d in site apps/fastapi-app frameworks/api frameworks/notebook; do
  [[ -d $FIX/$d ]] || die "fixture not found: $FIX/$d"
done

bench_porch_bin

bench_tmp idle

jq_py() { python3 -c 'import json,sys; d = json.loads(sys.argv[1]); v = eval(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

DATA=$TMP/data
P=$TMP/porch
start_porch "$DATA" "$P"
log "porch listening on $BASE (pid $PORCH_PID)"

api() { # METHOD PATH [JSON]
  local args=(-fsS --max-time 30 -X "$1" -H "Authorization: Key $KEY")
  [[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$BASE/__api__$2"
}

# deploy DIR NAME: sets DEPLOY_GUID.
deploy() {
  local dir=$1 name=$2 url out=$TMP/deploy-$2.out err=$TMP/deploy-$2.err
  log "porch deploy $name"
  "$PORCH_BIN" deploy "$dir" --name "$name" --data-dir "$DATA" >"$out" 2>"$err" ||
    die "porch deploy $name failed: $(tail -q -n 8 "$err" "$out")"
  url=$(tail -n 1 "$out" | tr -s '[:blank:]' '\n' | grep '^http' | tail -n 1 || true)
  [[ $url =~ /content/([^/]+)/?$ ]] || die "porch deploy $name printed no content URL (last line: '$(tail -n 1 "$out")')"
  DEPLOY_GUID=${BASH_REMATCH[1]}
}

# ------------------------------------------------------------ the five items ----
mkdir -p "$TMP/src"
cp -r "$FIX/site" "$TMP/src/site-a"
mkdir -p "$TMP/src/site-b"
printf '<!doctype html><title>idle b</title><h1>second site</h1>\n' >"$TMP/src/site-b/index.html"
cp -r "$FIX/apps/fastapi-app" "$TMP/src/fastapi"
cp -r "$FIX/frameworks/api" "$TMP/src/flask"
cp -r "$FIX/frameworks/notebook" "$TMP/src/notebook"

deploy "$TMP/src/site-a" idle-site-a
deploy "$TMP/src/site-b" idle-site-b
deploy "$TMP/src/fastapi" idle-fastapi
APP_GUIDS=("$DEPLOY_GUID")
deploy "$TMP/src/flask" idle-flask
APP_GUIDS+=("$DEPLOY_GUID")
deploy "$TMP/src/notebook" idle-notebook # renders once, before `deploy` returns
NB_GUID=$DEPLOY_GUID

# Daily, anchored 12 hours from now: the next run is far outside the window.
start=$(date -u -d "@$(($(date +%s) + 12 * 3600))" +%Y-%m-%dT%H:%M:%SZ)
s=$(api POST "/v1/content/$NB_GUID/schedules" \
  "{\"type\":\"day\",\"schedule\":{\"N\":1},\"start_time\":\"$start\",\"timezone\":\"UTC\"}") ||
  die "could not create the notebook's daily schedule"
log "notebook $NB_GUID: daily schedule, next run $(jq_py "$s" 'd["next_run"]')"

# The apps were never opened, so no worker should run. A worker that does (a deploy that
# probes the app) must stop through its idle timeout first: wait for it, with a deadline.
for g in "${APP_GUIDS[@]}"; do
  deadline=$((SECONDS + 120))
  while :; do
    n=$(jq_py "$(api GET "/v1/content/$g/jobs")" 'len(d)') || die "jobs API failed for $g"
    ((n == 0)) && break
    ((SECONDS < deadline)) || die "app $g still has $n worker(s) after 120 s; it cannot be measured idle"
    sleep 0.5
  done
done
tasks=$(ls "/proc/$PORCH_PID/task" | wc -l)
log "setup done: 5 items, no app worker, $tasks threads; quiet for ${BENCH_IDLE_SETTLE}s, then measuring ${BENCH_IDLE_SECONDS}s"
sleep "$BENCH_IDLE_SETTLE"

# ------------------------------------------------------------ measure ----
echo
echo "idle wake-ups: porch serve (pid $PORCH_PID), 5 items (2 apps with no worker, 1 notebook with a daily schedule, 2 static sites), ${BENCH_IDLE_SECONDS}s, $(nproc) CPUs"
echo "    $("$PORCH_BIN" --version 2>/dev/null || echo porch)  $(basename "$PORCH_BIN")  ($(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
python3 "$CLIENT" measure --pid "$PORCH_PID" --seconds "$BENCH_IDLE_SECONDS" --interval "$BENCH_IDLE_INTERVAL" \
  --json "$TMP/idle.json" || die "measurement failed"
rate=$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); print("%.2f" % (sum(t["voluntary"] for t in d["threads"]) / d["seconds"]))' "$TMP/idle.json")
if awk -v r="$rate" -v t="$TARGET" 'BEGIN { exit !(r <= t) }'; then v=met; else v="NOT met"; fi
echo "target (<= $TARGET wake-ups/s for the whole process): $v ($rate/s)"
