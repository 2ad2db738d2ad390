#!/usr/bin/env bash
# Interactive-content benchmark: Porch's reverse proxy, WebSockets, cold starts and
# environment restore, each printed as a table with its target.
#
# Usage: bench/interactive.sh [all | env | proxy | ws | cold]...   (default: all)
#
#   env    first deploy of a Streamlit app (fresh data dir, so uv's cache is empty),
#          redeploys with unchanged requirements, and plain `pip install` for comparison
#   proxy  GET /ping of one tiny ASGI worker: directly, through Porch, through nginx
#          (upstream keep-alive, and nginx's default new connection per request)
#   ws     WebSocket echo round trips: directly vs through Porch
#   cold   time to first byte from no process (FastAPI, Streamlit, Dash, Shiny): forked from the
#          pre-imported Python helper, spawned plainly (nothing warm), and the app's own start
#
# Parts always run in the order above, on one Porch instance and one data dir.
#
# Environment:
#   PORCH_BIN=path          use this porch binary instead of building it
#   BENCH_DURATION=10s      wrk duration of each measured throughput / latency run
#   BENCH_CONNECTIONS=32    wrk connections of the throughput runs (latency runs use 1)
#   BENCH_THREADS=2         wrk threads of the throughput runs
#   BENCH_WARMUP=2s         wrk warm-up per path, not reported
#   BENCH_WS_N=2000         WebSocket round trips per path (after 200 unreported ones)
#   BENCH_COLD_REPS=7       cold starts per app, each paired with a direct start
#   BENCH_WARM=1            0 leaves out the starts forked from the pre-imported helper (the
#                           warm column shows n/a): for a build from before the helper
#                           existed, which refuses the `zygote` switch (bench/compare.sh)
#   BENCH_REDEPLOYS=3       redeploys with unchanged requirements
#   BENCH_PIP=1             0 skips the pip comparison (it downloads Streamlit twice)
#   BENCH_START_TIMEOUT=30  seconds to wait for a server to come up
#   BENCH_KEEP=1            keep the temp dir (logs, configs, raw output) for inspection
#
# Exits non-zero only on setup errors (missing tools, build or deploy failure, a server
# that does not start or answers wrongly); a slow result is just printed. All benchmark
# traffic goes to 127.0.0.1; deploys and pip download packages from PyPI.
set -euo pipefail

BENCH_DURATION=${BENCH_DURATION:-10s}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_WARMUP=${BENCH_WARMUP:-2s}
BENCH_WS_N=${BENCH_WS_N:-2000}
BENCH_COLD_REPS=${BENCH_COLD_REPS:-7}
BENCH_WARM=${BENCH_WARM:-1}
BENCH_REDEPLOYS=${BENCH_REDEPLOYS:-3}
BENCH_PIP=${BENCH_PIP:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A PART=()
(($#)) || set -- all
for a in "$@"; do
  case $a in
    all) PART[env]=1 PART[proxy]=1 PART[ws]=1 PART[cold]=1 ;;
    env | proxy | ws | cold) PART[$a]=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "interactive.sh: unknown part '$a' (all, env, proxy, ws, cold)" >&2; exit 2 ;;
  esac
done
want() { [[ -n ${PART[$1]:-} ]]; }

CLIENT=$SCRIPT_DIR/interactive_client.py
cd "$REPO_ROOT"

# ---------------------------------------------------------------- tools ----
PATH=$PATH:/usr/sbin:/sbin
need_pkgs=()
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if want proxy; then
  command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
  command -v nginx >/dev/null 2>&1 || need_pkgs+=(nginx-light)
fi
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
  # The Debian package may start a system nginx on :80; it is not ours, we leave it alone.
fi
command -v curl >/dev/null 2>&1 || die "curl not found"
command -v python3 >/dev/null 2>&1 || die "python3 not found"
if want proxy; then
  command -v wrk >/dev/null 2>&1 || die "wrk not found"
  NGINX_BIN=$(command -v nginx) || die "nginx not found"
fi
# Porch builds Python environments with uv (on PATH or `python3 -m uv`).
command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 ||
  die "uv not found (Porch needs it to build app environments): pip install uv"

# ---------------------------------------------------------------- porch ----
bench_porch_bin

# ------------------------------------------------------ temp + cleanup ----
bench_tmp int
chmod 0711 "$TMP"

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# JSON field of a one-line JSON object (or of element 0 of an array).
jget() {
  python3 -c 'import json,sys
v = json.loads(sys.argv[1])
if isinstance(v, list): v = v[0] if v else {}
x = v.get(sys.argv[2]) if isinstance(v, dict) else None
print("" if x is None else x)' "$1" "$2"
}
fmt() { awk -v x="$1" 'BEGIN { if (x == "" || x == "nan") print "n/a"; else printf "%.3f", x }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "nan" || b == "nan") print "n/a"; else printf "%+.3f", a - b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2fx", a / b }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a != "n/a" && a + 0 < b + 0) }'; }
verdict() { if "$@"; then echo met; else echo "NOT met"; fi; }

# ------------------------------------------------------------ porch serve ----
# uv's cache must be this data dir's own (<data_dir>/cache/uv), empty at first: part (d)
# measures a first deploy from nothing. A shared cache from the caller would hide that.
unset PORCH_UV_CACHE_DIR
DATA=$TMP/data
P=$TMP/porch
mkdir -p "$DATA" "$P" "$TMP/apps"
start_porch "$DATA" "$P"
log "porch listening on $BASE (pid $PORCH_PID)"

api() { # METHOD PATH [JSON]
  local args=(-fsS --max-time 30 -X "$1" -H "Authorization: Key $KEY")
  [[ -n ${3:-} ]] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$BASE/__api__$2"
}

# deploy DIR NAME: sets DEPLOY_GUID and DEPLOY_SECS (wall time of the whole `porch deploy`).
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

# ------------------------------------------------------------- (d) env ----
ST_GUID=
if want env; then
  log "(d) environment restore: Streamlit, fresh data dir"
  cp -r "$SCRIPT_DIR/apps/streamlit" "$TMP/apps/streamlit"
  uv_cache=$DATA/cache/uv
  if [[ -d $uv_cache ]] && [[ -n $(ls -A "$uv_cache" 2>/dev/null) ]]; then cache_state=warm; else cache_state=empty; fi
  deploy "$TMP/apps/streamlit" bench-streamlit
  ST_GUID=$DEPLOY_GUID
  FIRST_SECS=$DEPLOY_SECS
  envs_after_first=$(ls "$DATA/envs" | grep -vc '^\.' || true)
  log "first deploy: ${FIRST_SECS}s (uv cache $cache_state)"
  REDEPLOY=()
  for ((i = 1; i <= BENCH_REDEPLOYS; i++)); do
    printf '# redeploy %d\n' "$i" >>"$TMP/apps/streamlit/app.py" # new code, same requirements
    deploy "$TMP/apps/streamlit" bench-streamlit
    [[ $DEPLOY_GUID == "$ST_GUID" ]] || die "redeploy created a new item ($DEPLOY_GUID, was $ST_GUID)"
    REDEPLOY+=("$DEPLOY_SECS")
    log "redeploy $i: ${DEPLOY_SECS}s"
  done
  envs_after=$(ls "$DATA/envs" | grep -vc '^\.' || true)
  st_env=$(ls -d "$DATA"/envs/*/bin/streamlit 2>/dev/null | head -n 1)
  st_version=$( [[ -n $st_env ]] && "$(dirname "$st_env")/python" -c 'import streamlit; print(streamlit.__version__)' 2>/dev/null || echo '?')
  st_pkgs=$( [[ -n $st_env ]] && (cd "$(dirname "$st_env")/.." && find lib -maxdepth 3 -name '*.dist-info' | wc -l) || echo '?')

  PIP_COLD= PIP_WARM=
  if [[ $BENCH_PIP == 1 ]]; then
    PY=$(command -v python3)
    log "pip: python3 -m venv + pip install -r requirements.txt (empty pip cache)"
    t0=$(now)
    "$PY" -m venv "$TMP/pip-venv1" >"$TMP/pip1.log" 2>&1 &&
      "$TMP/pip-venv1/bin/pip" install -q --cache-dir "$TMP/pip-cache" -r "$TMP/apps/streamlit/requirements.txt" >>"$TMP/pip1.log" 2>&1 ||
      die "pip install failed: $(tail -n 5 "$TMP/pip1.log")"
    PIP_COLD=$(since "$t0")
    log "pip (empty cache): ${PIP_COLD}s; again with its cache warm"
    t0=$(now)
    "$PY" -m venv "$TMP/pip-venv2" >"$TMP/pip2.log" 2>&1 &&
      "$TMP/pip-venv2/bin/pip" install -q --cache-dir "$TMP/pip-cache" -r "$TMP/apps/streamlit/requirements.txt" >>"$TMP/pip2.log" 2>&1 ||
      die "pip install failed: $(tail -n 5 "$TMP/pip2.log")"
    PIP_WARM=$(since "$t0")
    rm -rf "$TMP/pip-venv1" "$TMP/pip-venv2" "$TMP/pip-cache"
  fi

  red_sorted=$(printf '%s\n' "${REDEPLOY[@]}" | sort -g)
  red_med=$(printf '%s\n' "$red_sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  red_max=$(printf '%s\n' "$red_sorted" | tail -n 1)
  echo
  echo "(d) environment restore: Streamlit app (requirements.txt: streamlit -> $st_version, $st_pkgs packages), $(nproc) CPUs"
  printf '%-52s %9s\n' step seconds
  printf '%-52s %9s\n' "porch deploy, first (env built by uv, uv cache $cache_state)" "$FIRST_SECS"
  for ((i = 0; i < ${#REDEPLOY[@]}; i++)); do
    printf '%-52s %9s\n' "porch deploy, redeploy $((i + 1)) (same requirements)" "${REDEPLOY[$i]}"
  done
  if [[ $BENCH_PIP == 1 ]]; then
    printf '%-52s %9s\n' "python3 -m venv + pip install (empty pip cache)" "$PIP_COLD"
    printf '%-52s %9s\n' "python3 -m venv + pip install (warm pip cache)" "$PIP_WARM"
  fi
  echo "environments on disk: $envs_after_first after the first deploy, $envs_after after the redeploys"
  echo "redeploy median ${red_med}s, slowest ${red_max}s"
  echo "target (every redeploy with unchanged requirements < 2 s): $(verdict lt "$red_max" 2)"
fi

# ----------------------------------------------------------- echo worker ----
# The tiny ASGI app (bench/apps/echo) as a Porch item with exactly one worker.
ECHO_GUID= WPORT=
ensure_echo() {
  [[ -n $ECHO_GUID ]] && return 0
  cp -r "$SCRIPT_DIR/apps/echo" "$TMP/apps/echo"
  log "deploying the echo app"
  deploy "$TMP/apps/echo" bench-echo
  ECHO_GUID=$DEPLOY_GUID
  api PATCH "/v1/content/$ECHO_GUID" \
    '{"min_processes":1,"max_processes":1,"max_conns_per_process":1000,"idle_timeout":3600}' >/dev/null ||
    die "could not set the echo app's runtime settings"
  wait_http "$BASE/content/$ECHO_GUID/ping" "$PORCH_PID" 60 ||
    die "echo app does not answer through porch: $(curl -s "$BASE/content/$ECHO_GUID/ping" | head -c 300)"
  local jobs
  jobs=$(api GET "/v1/content/$ECHO_GUID/jobs") || die "jobs API failed"
  [[ $(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$jobs") == 1 ]] ||
    die "expected exactly one echo worker, got: $jobs"
  WPORT=$(jget "$jobs" port)
  [[ $WPORT =~ ^[0-9]+$ ]] || die "no worker port in $jobs"
  [[ $(curl -fsS --max-time 5 "http://127.0.0.1:$WPORT/ping") == pong ]] || die "worker port $WPORT does not answer /ping"
  [[ $(curl -fsS --max-time 5 "$BASE/content/$ECHO_GUID/ping") == pong ]] || die "porch does not proxy /ping"
  log "echo app $ECHO_GUID: one worker on 127.0.0.1:$WPORT (pid $(jget "$jobs" pid))"
}

# ----------------------------------------------------------- (a) proxy ----
to_ms() {
  awk -v t="$1" 'BEGIN {
    if (t == "") { print "nan"; exit }
    n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) print "nan"; else printf "%.3f", n * f
  }'
}
declare -A RPS P50 P99 ERR
run_wrk() { # tag threads conns duration url
  local tag=$1 out=$TMP/wrk-$1.txt non2xx sockerr
  pin_load wrk -t"$2" -c"$3" -d"$4" --latency "$5" >"$out" 2>&1 || die "wrk failed against $5: $(tail -q -n 3 "$out")"
  RPS[$tag]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  P50[$tag]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  P99[$tag]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  sockerr=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' "$out")
  ERR[$tag]=$((${non2xx:-0} + ${sockerr:-0}))
  [[ -n ${RPS[$tag]} ]] || die "could not parse wrk output for $tag: $(cat "$out")"
  ((ERR[$tag] == 0)) || log "warning: $tag had ${ERR[$tag]} errors (non-2xx: ${non2xx:-0}, socket: ${sockerr:-0})"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if want proxy; then
  ensure_echo
  NG=$TMP/nginx
  mkdir -p "$NG/logs"
  vflags=$("$NGINX_BIN" -V 2>&1)
  temp_paths="client_body_temp_path $NG/client_body;"
  for m in proxy fastcgi uwsgi scgi; do
    [[ $vflags == *"--without-http_${m}_module"* ]] || temp_paths+=" ${m}_temp_path $NG/$m;"
  done
  NG_KA= NG_NEW=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    p1=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    p2=$((p1 + 1))
    { port_in_use "$p1" || port_in_use "$p2"; } && continue
    # Both servers proxy to the very worker Porch uses. "ka" is the usual tuned setup
    # (HTTP/1.1 to the upstream, idle connections kept); "new" is nginx's default
    # (HTTP/1.0, a new upstream connection per request), which is what Porch does today.
    cat >"$NG/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  $temp_paths
  upstream bench_worker {
    server 127.0.0.1:$WPORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$p1;
    location / {
      proxy_pass http://bench_worker;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
  server {
    listen 127.0.0.1:$p2;
    location / {
      proxy_pass http://127.0.0.1:$WPORT;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
EOF
    "$NGINX_BIN" -t -q -c "$NG/nginx.conf" -p "$NG" >"$NG/logs/test.log" 2>&1 ||
      die "nginx config test failed: $(cat "$NG/logs/test.log")"
    start_group "$NG/logs/stdout.log" "$NG/logs/stderr.log" "$NGINX_BIN" -c "$NG/nginx.conf" -p "$NG"
    if wait_http "http://127.0.0.1:$p1/ping" "$STARTED_PID" && wait_http "http://127.0.0.1:$p2/ping" "$STARTED_PID"; then
      NG_KA=$p1 NG_NEW=$p2
      break
    fi
    if grep -q 'Address already in use' "$NG/logs/stderr.log" "$NG/logs/error.log" 2>/dev/null; then
      log "nginx: port $p1 or $p2 busy, retrying"
      kill -KILL -- "-$STARTED_PID" 2>/dev/null || true
      continue
    fi
    die "nginx did not start: $(cat "$NG/logs/stderr.log" "$NG/logs/error.log" 2>/dev/null | tail -q -n 5)"
  done
  [[ -n $NG_KA ]] || die "nginx: no free loopback ports found"
  log "nginx listening on 127.0.0.1:$NG_KA (keep-alive upstream) and :$NG_NEW (new connection per request)"

  declare -A URL=(
    [direct]=http://127.0.0.1:$WPORT/ping
    [porch]=$BASE/content/$ECHO_GUID/ping
    [nginx]=http://127.0.0.1:$NG_KA/ping
    [nginx_new]=http://127.0.0.1:$NG_NEW/ping
  )
  PATHS=(direct porch nginx nginx_new)
  declare -A LABEL=([direct]="direct (worker port)" [porch]="porch" [nginx]="nginx, upstream keep-alive" [nginx_new]="nginx, new conn/request")
  for s in "${PATHS[@]}"; do
    [[ $(curl -fsS --max-time 5 "${URL[$s]}") == pong ]] || die "$s: ${URL[$s]} does not answer pong"
  done
  for s in "${PATHS[@]}"; do
    log "warm-up $s ($BENCH_WARMUP)"
    run_wrk "warm-$s" "$BENCH_THREADS" "$BENCH_CONNECTIONS" "$BENCH_WARMUP" "${URL[$s]}"
  done
  for s in "${PATHS[@]}"; do
    log "throughput $s: wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION"
    run_wrk "tp-$s" "$BENCH_THREADS" "$BENCH_CONNECTIONS" "$BENCH_DURATION" "${URL[$s]}"
  done
  for s in "${PATHS[@]}"; do
    log "latency $s: wrk -t1 -c1 -d$BENCH_DURATION"
    run_wrk "lat-$s" 1 1 "$BENCH_DURATION" "${URL[$s]}"
  done
  wpy=$(tr '\0' '\n' <"/proc/$(jget "$(api GET "/v1/content/$ECHO_GUID/jobs")" pid)/cmdline" 2>/dev/null | head -n 1 || true)
  uv_ver=$("${wpy:-false}" -c 'import uvicorn; print(uvicorn.__version__)' 2>/dev/null || echo '?')

  echo
  echo "(a) proxy: GET /ping (4-byte body) from one uvicorn $uv_ver worker (bare ASGI app), loopback, $(nproc) CPUs"
  echo "throughput: wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION"
  printf '%-28s %10s %9s %9s %7s %12s\n' path 'req/s' p50_ms p99_ms errors 'vs nginx'
  for s in "${PATHS[@]}"; do
    printf '%-28s %10.1f %9s %9s %7s %12s\n' "${LABEL[$s]}" "${RPS[tp-$s]}" "${P50[tp-$s]}" "${P99[tp-$s]}" "${ERR[tp-$s]}" \
      "$(div "${RPS[tp-$s]}" "${RPS[tp-nginx]}")"
  done
  echo "latency: wrk -t1 -c1 -d$BENCH_DURATION (one request at a time; added = path - direct)"
  printf '%-28s %10s %9s %9s %12s %12s\n' path 'req/s' p50_ms p99_ms added_p50 added_p99
  for s in "${PATHS[@]}"; do
    printf '%-28s %10.1f %9s %9s %12s %12s\n' "${LABEL[$s]}" "${RPS[lat-$s]}" "${P50[lat-$s]}" "${P99[lat-$s]}" \
      "$(sub "${P50[lat-$s]}" "${P50[lat-direct]}")" "$(sub "${P99[lat-$s]}" "${P99[lat-direct]}")"
  done
  echo "ratio porch/nginx req/s: $(div "${RPS[tp-porch]}" "${RPS[tp-nginx]}") (keep-alive nginx), $(div "${RPS[tp-porch]}" "${RPS[tp-nginx_new]}") (default nginx); porch/direct: $(div "${RPS[tp-porch]}" "${RPS[tp-direct]}")"
  added99=$(sub "${P99[lat-porch]}" "${P99[lat-direct]}")
  echo "target (porch req/s >= nginx with upstream keep-alive): $(verdict awk -v p="${RPS[tp-porch]}" -v n="${RPS[tp-nginx]}" 'BEGIN { exit !(p >= n) }')"
  echo "target (porch p99 added latency < 1 ms, one request at a time): $(verdict lt "$added99" 1) (${added99} ms)"
fi

# -------------------------------------------------------------- (b) ws ----
if want ws; then
  ensure_echo
  declare -A WS
  for round in 1 2; do
    for s in direct porch; do
      if [[ $s == direct ]]; then u=ws://127.0.0.1:$WPORT/ws; else u=ws://127.0.0.1:$PORCH_PORT/content/$ECHO_GUID/ws; fi
      log "(b) WebSocket echo $s, round $round: $BENCH_WS_N round trips"
      WS[$s.$round]=$(pin_load python3 "$CLIENT" ws-echo "$u" --n "$BENCH_WS_N" --warmup 200) || die "ws-echo $s failed"
    done
  done
  echo
  echo "(b) WebSocket echo, one connection, $BENCH_WS_N sequential round trips of a 32-byte text frame (two rounds each, interleaved)"
  printf '%-10s %6s %9s %9s %9s %9s %12s %12s\n' path round p50_ms p99_ms mean_ms max_ms added_p50 added_p99
  for round in 1 2; do
    for s in direct porch; do
      j=${WS[$s.$round]} d=${WS[direct.$round]}
      printf '%-10s %6s %9s %9s %9s %9s %12s %12s\n' "$s" "$round" "$(fmt "$(jget "$j" p50_ms)")" "$(fmt "$(jget "$j" p99_ms)")" \
        "$(fmt "$(jget "$j" mean_ms)")" "$(fmt "$(jget "$j" max_ms)")" \
        "$(sub "$(jget "$j" p50_ms)" "$(jget "$d" p50_ms)")" "$(sub "$(jget "$j" p99_ms)" "$(jget "$d" p99_ms)")"
    done
  done
  worst=$(awk -v a="$(sub "$(jget "${WS[porch.1]}" p99_ms)" "$(jget "${WS[direct.1]}" p99_ms)")" \
    -v b="$(sub "$(jget "${WS[porch.2]}" p99_ms)" "$(jget "${WS[direct.2]}" p99_ms)")" 'BEGIN { printf "%.3f", (a > b) ? a : b }')
  echo "target (p99 added round trip < 1 ms, same bar as HTTP): $(verdict lt "$worst" 1) (worst round ${worst} ms)"
fi

# ------------------------------------------------------------ (c) cold ----
if want cold; then
  if [[ -z $ST_GUID ]]; then
    cp -r "$SCRIPT_DIR/apps/streamlit" "$TMP/apps/streamlit"
    log "deploying the Streamlit app"
    deploy "$TMP/apps/streamlit" bench-streamlit
    ST_GUID=$DEPLOY_GUID
  fi
  mkdir -p "$TMP/apps/fastapi"
  cp "$REPO_ROOT/tests/fixtures/apps/fastapi-app/app.py" "$REPO_ROOT/tests/fixtures/apps/fastapi-app/requirements.txt" "$TMP/apps/fastapi/" ||
    die "FastAPI fixture not found under tests/fixtures/apps/fastapi-app"
  log "deploying the FastAPI app"
  deploy "$TMP/apps/fastapi" bench-fastapi
  FA_GUID=$DEPLOY_GUID
  for fw in dash shiny; do
    cp -r "$REPO_ROOT/tests/fixtures/frameworks/$fw" "$TMP/apps/$fw" || die "fixture tests/fixtures/frameworks/$fw not found"
    log "deploying the ${fw^} app"
    deploy "$TMP/apps/$fw" "bench-$fw"
    printf -v "${fw^^}_GUID" '%s' "$DEPLOY_GUID"
  done
  for g in "$ST_GUID" "$FA_GUID" "$DASH_GUID" "$SHINY_GUID"; do
    # Scale to zero between measurements; a long idle timeout so nothing stops mid-run.
    api PATCH "/v1/content/$g" '{"min_processes":0,"max_processes":1,"idle_timeout":3600}' >/dev/null ||
      die "could not set runtime settings of $g"
  done
  declare -A COLD
  WARM_FLAG=()
  [[ $BENCH_WARM == 0 ]] || WARM_FLAG=(--warm)
  # name guid porch-path ready-path [--any-status]
  cold_app() {
    local name=$1 guid=$2 path=$3 ready=$4
    shift 4
    log "(c) $name: $BENCH_COLD_REPS x (cold start through porch: GET $path; then the worker's own command alone)"
    COLD[$name]=$(pin_load python3 "$CLIENT" cold --base "$BASE" --key "$KEY" --guid "$guid" --path "$path" --accept '*/*' \
      --ready-path "$ready" "$@" ${WARM_FLAG[@]+"${WARM_FLAG[@]}"} --reps "$BENCH_COLD_REPS") || die "cold start of $name failed: $(tail -n 20 "$P/stderr.log")"
    log "$name command: $(jget "${COLD[$name]}" command)"
  }
  cold_app fastapi "$FA_GUID" "/content/$FA_GUID/" / --any-status
  cold_app streamlit "$ST_GUID" "/content/$ST_GUID/_stcore/health" "/content/$ST_GUID/_stcore/health"
  cold_app dash "$DASH_GUID" "/content/$DASH_GUID/_dash-layout" /_dash-layout
  cold_app shiny "$SHINY_GUID" "/content/$SHINY_GUID/" /

  # A summary's field; empty when the summary is absent (no warm starts with BENCH_WARM=0).
  field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], {}).get(sys.argv[3], ""))' "$1" "$2" "$3"; }
  echo
  echo "(c) cold start: time to first byte from no process through Porch vs the app's own start ($BENCH_COLD_REPS interleaved rounds, medians)"
  echo "    warm     = GET sent -> first response byte, the worker forked from the environment's pre-imported helper (zygote on, helper ready)"
  echo "    cold     = the same with nothing warm (zygote off: the worker's command spawned plainly)"
  echo "    own      = the same command/env/cwd as Porch's worker, spawn -> readiness URL answers (polled every 10 ms)"
  echo "    overhead = median of the per-round differences cold - own"
  printf '%-10s %-16s %9s %9s %9s %12s %18s %8s\n' app url warm_ms cold_ms own_ms overhead_ms 'warm min..max' goal
  ok=1 goals_ok=1
  for name in fastapi streamlit dash shiny; do
    c=${COLD[$name]}
    case $name in fastapi) u='/' goal=150 ;; streamlit) u='/_stcore/health' goal=300 ;; dash) u='/_dash-layout' goal= ;; shiny) u='/' goal= ;; esac
    ov=$(field "$c" overhead p50_ms)
    warm=$(field "$c" warm p50_ms)
    lt "$ov" 100 || ok=0
    if [[ -n $goal && $BENCH_WARM != 0 ]]; then lt "$warm" "$goal" || goals_ok=0; fi
    printf '%-10s %-16s %9s %9s %9s %12s %18s %8s\n' "$name" "$u" "$(fmt "$warm")" "$(fmt "$(field "$c" porch p50_ms)")" \
      "$(fmt "$(field "$c" own p50_ms)")" "$(fmt "$ov")" \
      "$(fmt "$(field "$c" warm min_ms)")..$(fmt "$(field "$c" warm max_ms)")" "${goal:+≤$goal}"
  done
  for name in fastapi streamlit dash shiny; do
    [[ $BENCH_WARM == 0 ]] || echo "  $name warm ms: $(field "${COLD[$name]}" warm all_ms | tr -d '[]')"
    echo "  $name cold ms: $(field "${COLD[$name]}" porch all_ms | tr -d '[]')"
    echo "  $name own  ms: $(field "${COLD[$name]}" own all_ms | tr -d '[]')"
  done
  if [[ $BENCH_WARM == 0 ]]; then
    echo "goal (first byte with the helper warm): not measured (BENCH_WARM=0)"
  else
    echo "goal (first byte with the helper warm: Streamlit ≤ 300 ms, FastAPI ≤ 150 ms): $( ((goals_ok)) && echo met || echo 'NOT met')"
  fi
  echo "target (median cold-start overhead beyond the app's own start < 100 ms, every app): $( ((ok)) && echo met || echo 'NOT met')"
fi
