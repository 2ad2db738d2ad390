#!/usr/bin/env bash
# Landing-page benchmark (issue 14): the gallery landing page with a large library, with
# usage recording on, quiet and while viewers load pages (so the usage writer is busy),
# and with recording off under the same viewer load for comparison.
#
# Usage: bench/landing.sh
#
# How the library is made: BENCH_ITEMS (default 10,000) one-page static items published
# through the public API by bench/load_client.py `library` (create, upload a small
# .tar.gz, deploy, wait for the task), BENCH_PUBLISH_CONCURRENCY (default 8) at a time.
# Nothing is written into Porch's database behind its back: every item is a real deploy
# with a real bundle on disk. Thumbnails are set to `manual` first (`porch settings set
# thumbnails=manual`) so Porch draws generated cards instead of starting headless Chromium
# 10,000 times.
#
# What is measured: GET / (the first page of cards), GET /?page=2 and GET /?q=9999 (a
# search), BENCH_N (500) sequential requests each over one keep-alive connection after
# 50 unreported ones (load_client.py `latency`), printing p50/p99 and the page size:
#   1. usage on, nothing else going on;
#   2. usage on while viewers load one item's page at a steady BENCH_VIEW_RPS (500) per
#      second over 8 keep-alive connections (load_client.py `soak` without sessions), no
#      cookies: every request is a recorded page view from a new device, recording's
#      worst case;
#   3. usage off under the same viewer load.
# Target: GET / p99 < 20 ms with recording on (rows 1 and 2). It is printed, not fatal.
#
# Environment:
#   PORCH_BIN=path                 use this porch binary instead of building it (release)
#   BENCH_ITEMS=10000              library size
#   BENCH_PUBLISH_CONCURRENCY=8    deploys in flight while publishing
#   BENCH_N=500                    measured requests per URL and state
#   BENCH_VIEW_RPS=500             page views per second while measuring rows 2 and 3
#   BENCH_VIEW_SECS=30             how long the viewer load runs (the three URLs' requests
#                                  must fit in it; the script warns when they did not)
#   BENCH_PIN=1                    Porch on CPU 0, clients (and wrk) on CPU 1 (lib.sh)
#   BENCH_KEEP=1                   keep the temp dir (logs, raw output)
#
# Needs python3 and curl. Loopback only. Publishing 10,000 items takes a few minutes;
# each measurement a few seconds. Exits non-zero only on setup errors.
set -euo pipefail

ITEMS=${BENCH_ITEMS:-10000}
CONC=${BENCH_PUBLISH_CONCURRENCY:-8}
N=${BENCH_N:-500}
VIEW_RPS=${BENCH_VIEW_RPS:-500}
VIEW_SECS=${BENCH_VIEW_SECS:-30}
BENCH_KEEP=${BENCH_KEEP:-0}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLIENT=$SCRIPT_DIR/load_client.py

for tool in python3 curl; do command -v "$tool" >/dev/null 2>&1 || die "$tool not found"; done
[[ $ITEMS =~ ^[0-9]+$ && $ITEMS -ge 1 ]] || die "BENCH_ITEMS must be a whole number >= 1 (got '$ITEMS')"
bench_porch_bin
bench_tmp landing

jget() {
  python3 -c 'import json,sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1" "$2"
}
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 < b + 0) }'; then echo met; else echo "NOT met"; fi; }
api() { curl -fsS -H "Authorization: Key $KEY" "$BASE$1"; }

DATA=$TMP/data
start_porch "$DATA" "$TMP/porch"
log "porch on $BASE (pid $PORCH_PID)"
"$PORCH_BIN" settings set thumbnails=manual --data-dir "$DATA" >"$TMP/settings.out" 2>&1 ||
  die "porch settings set thumbnails=manual failed: $(tail -n 5 "$TMP/settings.out")"

log "publishing $ITEMS items ($CONC at a time)"
LIB=$(pin_load python3 "$CLIENT" library --base "$BASE" --key "$KEY" --items "$ITEMS" --concurrency "$CONC")
[[ $(jget "$LIB" failed) == 0 ]] || die "publishing the library failed: $LIB"
log "published in $(jget "$LIB" seconds) s"
# The library really holds them: the landing page counts every item.
api /__api__/v1/content >"$TMP/content.json" || die "could not list the content"
read -r LISTED VIEWED < <(python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))
print(sum(1 for x in c if x.get("bundle_id")), c[0]["guid"])' "$TMP/content.json")
((LISTED >= ITEMS)) || die "only $LISTED deployed items listed after publishing $ITEMS"
VIEW_URL=$BASE/content/$VIEWED/
[[ $(curl -s -o /dev/null -w '%{http_code}' "$VIEW_URL") == 200 ]] || die "the viewed item does not answer at $VIEW_URL"

set_usage() {
  "$PORCH_BIN" settings set "usage=$1" --data-dir "$DATA" >"$TMP/settings.out" 2>&1 ||
    die "porch settings set usage=$1 failed: $(tail -n 5 "$TMP/settings.out")"
}

# Recorded page views of the viewed item today, once the batched writer has caught up.
recorded() {
  local prev=-1 now=
  for _ in $(seq 1 60); do
    now=$(api "/__api__/porch/content/$VIEWED/usage?days=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["views"])')
    [[ $now == "$prev" ]] && break
    prev=$now
    sleep 1
  done
  echo "$now"
}

ROWS=()
# measure LABEL VIEWERS(0|1): the three URLs, with or without the viewer load meanwhile.
measure() {
  local label=$1 viewers=$2 view_pid= out=$TMP/viewers-${1// /-}.json url r t0
  if ((viewers)); then
    pin_load python3 "$CLIENT" soak --base "$BASE" --ws-path /unused --sessions 0 --static-path "/content/$VIEWED/" \
      --rps "$VIEW_RPS" --duration "$VIEW_SECS" --http-conns 8 >"$out" 2>"$out.log" &
    view_pid=$!
    sleep 2
  fi
  t0=$SECONDS
  for url in / '/?page=2' '/?q=9999'; do
    r=$(pin_load python3 "$CLIENT" latency --url "$BASE$url" --n "$N")
    [[ $(jget "$r" non_200) == 0 ]] || log "warning: non-200 answers for $url ($label): $r"
    ROWS+=("$(printf '%-22s %-10s %9s %9s %9s' "$label" "$url" "$(jget "$r" p50_ms)" "$(jget "$r" p99_ms)" "$(jget "$r" bytes)")")
    [[ $url == / ]] && LAST_P99=$(jget "$r" p99_ms)
  done
  if ((viewers)); then
    ((SECONDS - t0 + 2 < VIEW_SECS)) || log "warning: the measurement outlasted the viewer load (${VIEW_SECS}s); raise BENCH_VIEW_SECS"
    wait "$view_pid" || die "the viewer load failed: $(tail -n 3 "$out.log")"
    r=$(cat "$out")
    ROWS+=("$(printf '%-22s %-10s %9s %9s   viewers: %s GET/s, %s errors' "$label" "item page" "$(jget "$r" http.p50_ms)" "$(jget "$r" http.p99_ms)" "$(jget "$r" http_rps)" "$(jget "$r" errors)")")
    VIEWS_SENT=$(jget "$r" http.n)
  fi
}

log "measuring: usage on, quiet"
measure "usage on, quiet" 0
P99_QUIET=$LAST_P99
before=$(recorded)
log "measuring: usage on, viewers loading a page"
measure "usage on, viewers" 1
P99_BUSY=$LAST_P99
after=$(recorded)
SENT_ON=$VIEWS_SENT
set_usage off
log "measuring: usage off, viewers loading a page"
measure "usage off, viewers" 1

echo
echo "landing page: $ITEMS items (published in $(jget "$LIB" seconds) s), $N sequential requests per row on one keep-alive connection, $(nproc) CPUs"
printf '%-22s %-10s %9s %9s %9s\n' state url p50_ms p99_ms bytes
printf '%s\n' "${ROWS[@]}"
echo "page views recorded during the 'usage on, viewers' run: $((after - before)) of $SENT_ON sent"
echo "target (GET / p99 < 20 ms with recording on): quiet $(verdict "$P99_QUIET" 20), with viewers $(verdict "$P99_BUSY" 20)"
