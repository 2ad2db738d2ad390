#!/usr/bin/env bash
# Load benchmark: many WebSocket sessions through Porch's proxy across several app
# processes plus steady static traffic, then a 1,000-item library.
#
# Usage: bench/load.sh [--quick] [soak] [library]      (default: soak library)
#
#   soak     holds BENCH_SESSIONS WebSockets (default 5000) to a bare ASGI echo app run as
#            BENCH_PROCS processes (default 4), each session echoing one message every
#            10 s, plus BENCH_RPS (default 1000) GET/s of a static site, for
#            BENCH_DURATION seconds (default 300; --quick: 30). Prints errors (target 0),
#            p50/p99 of both, Porch's peak RSS (target < 300 MB) and open files, and checks
#            both return to their baseline once the sessions close (within BENCH_SETTLE s:
#            open files to baseline + 4, RSS to baseline + max(10 MB, 10% of the rise)).
#   library  publishes BENCH_ITEMS static items (default 1000), then times the landing page
#            and the list API (GET /__api__/v1/content), 500 requests each over one
#            keep-alive connection (target p99 < 20 ms).
#
# Environment:
#   PORCH_BIN=path          use this porch binary instead of building it (release)
#   BENCH_DURATION=300      seconds of the measured soak (--quick sets 30)
#   BENCH_SESSIONS=5000     WebSocket sessions
#   BENCH_PROCS=4           app processes sharing them
#   BENCH_RPS=1000          static requests per second
#   BENCH_ITEMS=1000        library size
#   BENCH_SETTLE=60         seconds to wait for RSS and open files to return to baseline
#   BENCH_KEEP=1            keep the temp dir (logs, raw output)
#   BENCH_USAGE=on|off      Porch's usage recording (`porch settings set usage=…` once it
#                           runs); unset, Porch keeps its default (on)
#
# Needs python3 and uv (Porch builds the echo app's environment; uv downloads uvicorn
# unless its cache has it). The file-descriptor limit is raised to the hard limit; the
# soak needs about 2 per session in Porch. Loopback only. Exits non-zero on setup errors
# and when RSS or open files do not return to baseline; the other targets (errors,
# latency, peak) are printed, not fatal, since a shared machine moves them.
set -euo pipefail

DURATION=${BENCH_DURATION:-300}
SESSIONS=${BENCH_SESSIONS:-5000}
PROCS=${BENCH_PROCS:-4}
RPS=${BENCH_RPS:-1000}
ITEMS=${BENCH_ITEMS:-1000}
BENCH_KEEP=${BENCH_KEEP:-0}
SETTLE=${BENCH_SETTLE:-60}
FD_SLACK=4
START_TIMEOUT=30
FAILED=()

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A PART=()
for a in "$@"; do
  case $a in
    --quick) DURATION=${BENCH_DURATION:-30} ;;
    soak | library) PART[$a]=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "load.sh: unknown argument '$a' (--quick, soak, library)" >&2; exit 2 ;;
  esac
done
((${#PART[@]})) || PART=([soak]=1 [library]=1)
want() { [[ -n ${PART[$1]:-} ]]; }

CLIENT=$SCRIPT_DIR/load_client.py
cd "$REPO_ROOT"
command -v python3 >/dev/null 2>&1 || die "python3 not found"
command -v curl >/dev/null 2>&1 || die "curl not found"
if want soak; then
  command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || die "uv not found (Porch needs it for the echo app)"
fi

# Each session is two sockets in Porch (viewer and app) and one in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if want soak && ((NOFILE < 2 * SESSIONS + 1000)); then
  log "warning: open-file limit $NOFILE is below 2 x $SESSIONS sessions + 1000; expect failures"
fi

# ---------------------------------------------------------------- porch ----
bench_porch_bin

bench_tmp load
# The RSS and open-file sampler of the soak, when running.
bench_on_exit() { [[ -z ${SAMPLER:-} ]] || kill "$SAMPLER" 2>/dev/null; }

jget() {
  python3 -c 'import json,sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))' "$1" "$2"
}
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 < b + 0) }'; then echo met; else echo "NOT met"; fi; }

DATA=$TMP/data
mkdir -p "$DATA" "$TMP/apps"
start_porch "$DATA" "$TMP/porch" --max-connections $((SESSIONS + 2000))
log "porch on $BASE (pid $PORCH_PID, open-file limit $NOFILE)"
case ${BENCH_USAGE:-} in
  "") ;;
  on | off)
    "$PORCH_BIN" settings set "usage=$BENCH_USAGE" --data-dir "$DATA" >"$TMP/settings.out" 2>&1 ||
      die "porch settings set usage=$BENCH_USAGE failed: $(tail -n 5 "$TMP/settings.out")"
    log "porch usage recording: $BENCH_USAGE"
    ;;
  *) die "BENCH_USAGE must be on or off (got '$BENCH_USAGE')" ;;
esac
api() { # METHOD PATH [JSON]
  local args=(-fsS --max-time 60 -X "$1" -H "Authorization: Key $KEY")
  [[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$BASE/__api__$2"
}
deploy() { # DIR NAME -> prints guid
  local out
  out=$("$PORCH_BIN" deploy "$1" --name "$2" --data-dir "$DATA" 2>"$TMP/deploy-$2.err") ||
    die "deploy $2 failed: $(tail -n 8 "$TMP/deploy-$2.err")"
  [[ $out =~ /content/([0-9a-f-]+)/ ]] || die "deploy $2 printed no URL: $out"
  printf '%s' "${BASH_REMATCH[1]}"
}

# ------------------------------------------------------------------ soak ----
if want soak; then
  cp -r "$SCRIPT_DIR/apps/echo" "$TMP/apps/echo"
  log "deploying the echo app (uv builds its environment)"
  ECHO=$(deploy "$TMP/apps/echo" load-echo)
  per=$(((SESSIONS + PROCS - 1) / PROCS + 100))
  api PATCH "/v1/content/$ECHO" "{\"min_processes\": $PROCS, \"max_processes\": $PROCS, \"max_conns_per_process\": $per, \"load_factor\": 1, \"idle_timeout\": 3600}" >/dev/null
  for ((i = 0; i < 600; i++)); do
    n=$(api GET "/v1/content/$ECHO/jobs" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    ((n >= PROCS)) && break
    sleep 0.2
  done
  ((n >= PROCS)) || die "only $n of $PROCS app processes started"
  mkdir -p "$TMP/apps/site"
  printf '<!doctype html><title>load</title><link rel=stylesheet href=style.css><h1>Static under load</h1>%s\n' "$(head -c 2000 /dev/zero | tr '\0' 'x')" >"$TMP/apps/site/index.html"
  printf 'body { font: 16px sans-serif; } %s\n' "$(head -c 4000 /dev/zero | tr '\0' ' ')" >"$TMP/apps/site/style.css"
  python3 -c 'import json; print(json.dumps([{"i": i, "v": i * 0.5} for i in range(200)]))' >"$TMP/apps/site/data.json"
  SITE=$(deploy "$TMP/apps/site" load-site)
  for p in / style.css data.json; do curl -fsS -o /dev/null "$BASE/content/$SITE/${p#/}" || die "static $p does not answer"; done
  sleep 2
  BASE_RSS=$(rss_mb "$PORCH_PID")
  BASE_FDS=$(fds "$PORCH_PID")
  log "baseline: Porch RSS ${BASE_RSS} MB, ${BASE_FDS} open files; soak: $SESSIONS sessions on $PROCS processes + $RPS req/s for ${DURATION}s"

  (while kill -0 "$PORCH_PID" 2>/dev/null; do
    echo "$(rss_mb "$PORCH_PID") $(fds "$PORCH_PID")"
    sleep 1
  done) >"$TMP/samples" 2>/dev/null &
  SAMPLER=$!
  SOAK=$(pin_load python3 "$CLIENT" soak --base "$BASE" --ws-path "/content/$ECHO/ws" --sessions "$SESSIONS" \
    --static-path "/content/$SITE/" --static-path "/content/$SITE/style.css" --static-path "/content/$SITE/data.json" \
    --rps "$RPS" --duration "$DURATION") || die "the load client failed"
  echo "$SOAK" >"$TMP/soak.json"
  kill "$SAMPLER" 2>/dev/null || true
  wait "$SAMPLER" 2>/dev/null || true
  SAMPLER=
  PEAK_RSS=$(awk 'BEGIN { m = 0 } $1 + 0 > m { m = $1 + 0 } END { printf "%.1f", m }' "$TMP/samples")
  PEAK_FDS=$(awk 'BEGIN { m = 0 } $2 + 0 > m { m = $2 + 0 } END { print m }' "$TMP/samples")
  # Back to baseline (see bench/README.md): poll once a second for up to BENCH_SETTLE
  # seconds until open files are within FD_SLACK of the baseline and RSS within
  # max(10 MB, 10% of the peak's rise) of it.
  RSS_SLACK=$(awk -v b="$BASE_RSS" -v p="$PEAK_RSS" 'BEGIN { s = (p - b) / 10; if (s < 10) s = 10; printf "%.1f", s }')
  RSS_LIMIT=$(awk -v b="$BASE_RSS" -v s="$RSS_SLACK" 'BEGIN { printf "%.1f", b + s }')
  FDS_BACK="NOT met" RSS_BACK="NOT met" FDS_AT="" RSS_AT=""
  for ((t = 0; t <= SETTLE; t++)); do
    AFTER_FDS=$(fds "$PORCH_PID")
    AFTER_RSS=$(rss_mb "$PORCH_PID")
    echo "$t $AFTER_RSS $AFTER_FDS" >>"$TMP/settle"
    [[ -z $FDS_AT ]] && ((AFTER_FDS <= BASE_FDS + FD_SLACK)) && { FDS_BACK=met; FDS_AT=$t; }
    [[ -z $RSS_AT ]] && awk -v a="$AFTER_RSS" -v l="$RSS_LIMIT" 'BEGIN { exit !(a + 0 <= l + 0) }' && { RSS_BACK=met; RSS_AT=$t; }
    if [[ -n $FDS_AT && -n $RSS_AT ]] || ((t == SETTLE)); then break; fi
    sleep 1
  done
  # A return counts only if it holds at the last reading.
  ((AFTER_FDS <= BASE_FDS + FD_SLACK)) || FDS_BACK="NOT met"
  awk -v a="$AFTER_RSS" -v l="$RSS_LIMIT" 'BEGIN { exit !(a + 0 <= l + 0) }' || RSS_BACK="NOT met"
  [[ $FDS_BACK == met && $RSS_BACK == met ]] || FAILED+=("Porch's RSS or open files did not return to baseline within ${SETTLE}s")
  JOBS=$(api GET "/v1/content/$ECHO/jobs" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(len(j), sum(x["connections"] for x in j))')

  printf '\n## Soak: %s WebSockets on %s app processes + %s static req/s, %ss (after a %ss ramp)\n\n' \
    "$(jget "$SOAK" ws_opened)" "$PROCS" "$RPS" "$(jget "$SOAK" duration_s)" "$(jget "$SOAK" ramp_s)"
  printf '| measure | value | target |\n|---|---|---|\n'
  printf '| errors (failed opens, dropped sessions, failed or non-200 requests) | %s | 0: %s |\n' "$(jget "$SOAK" errors)" "$( [[ $(jget "$SOAK" errors) == 0 ]] && echo met || echo 'NOT met')"
  printf '| sessions opened / failed to open / dropped | %s / %s / %s |  |\n' "$(jget "$SOAK" ws_opened)" "$(jget "$SOAK" ws_open_failed)" "$(jget "$SOAK" ws_failed)"
  printf '| WebSocket echoes | %s (p50 %s ms, p99 %s ms, max %s ms) |  |\n' "$(jget "$SOAK" ws.n)" "$(jget "$SOAK" ws.p50_ms)" "$(jget "$SOAK" ws.p99_ms)" "$(jget "$SOAK" ws.max_ms)"
  printf '| static requests | %s at %s/s (p50 %s ms, p99 %s ms, max %s ms) | %s/s |\n' "$(jget "$SOAK" http.n)" "$(jget "$SOAK" http_rps)" "$(jget "$SOAK" http.p50_ms)" "$(jget "$SOAK" http.p99_ms)" "$(jget "$SOAK" http.max_ms)" "$RPS"
  printf '| Porch RSS: baseline / peak / after | %s / %s / %s MB | peak < 300 MB: %s; back to baseline (<= %s MB) within %ss: %s%s |\n' \
    "$BASE_RSS" "$PEAK_RSS" "$AFTER_RSS" "$(verdict "$PEAK_RSS" 300)" "$RSS_LIMIT" "$SETTLE" "$RSS_BACK" "${RSS_AT:+ (after ${RSS_AT}s)}"
  printf '| Porch open files: baseline / peak / after | %s / %s / %s | back to baseline (+%s) within %ss: %s%s |\n' \
    "$BASE_FDS" "$PEAK_FDS" "$AFTER_FDS" "$FD_SLACK" "$SETTLE" "$FDS_BACK" "${FDS_AT:+ (after ${FDS_AT}s)}"
  printf '| app processes / connections counted after | %s |  |\n' "$JOBS"
  for k in ws_open_errors ws_fail_reasons http_error_reasons http_by_status; do
    v=$(jget "$SOAK" "$k")
    [[ -n $v && $v != "{}" ]] && printf '\n%s: %s\n' "$k" "$v"
  done
fi

# --------------------------------------------------------------- library ----
if want library; then
  log "publishing $ITEMS library items"
  LIB=$(pin_load python3 "$CLIENT" library --base "$BASE" --key "$KEY" --items "$ITEMS")
  [[ $(jget "$LIB" failed) == 0 ]] || die "publishing the library failed: $LIB"
  LANDING=$(pin_load python3 "$CLIENT" latency --url "$BASE/")
  LIST=$(pin_load python3 "$CLIENT" latency --url "$BASE/__api__/v1/content" --key "$KEY")
  printf '\n## Library: %s items (published in %ss)\n\n' "$ITEMS" "$(jget "$LIB" seconds)"
  printf '| request | bytes | p50 | p99 | target p99 < 20 ms |\n|---|---|---|---|---|\n'
  printf '| GET / (landing page) | %s | %s ms | %s ms | %s |\n' "$(jget "$LANDING" bytes)" "$(jget "$LANDING" p50_ms)" "$(jget "$LANDING" p99_ms)" "$(verdict "$(jget "$LANDING" p99_ms)" 20)"
  printf '| GET /__api__/v1/content | %s | %s ms | %s ms | %s |\n' "$(jget "$LIST" bytes)" "$(jget "$LIST" p50_ms)" "$(jget "$LIST" p99_ms)" "$(verdict "$(jget "$LIST" p99_ms)" 20)"
  [[ $(jget "$LANDING" non_200) == 0 && $(jget "$LIST" non_200) == 0 ]] || log "warning: non-200 answers: landing $LANDING list $LIST"
fi

if ((${#FAILED[@]})); then
  for f in "${FAILED[@]}"; do log "FAILED: $f"; done
  exit 1
fi
