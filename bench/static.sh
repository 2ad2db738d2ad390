#!/usr/bin/env bash
# Static-hosting benchmark: serve the same small site from Porch and from nginx,
# side by side on loopback, and compare throughput and latency with wrk.
#
# Usage: bench/static.sh
#
# Environment:
#   PORCH_BIN=path        use this porch binary instead of building it
#   BENCH_ONLY=nginx|porch  run only one server (default: both)
#   BENCH_DURATION=10s    wrk duration of each measured run
#   BENCH_CONNECTIONS=64  wrk connections
#   BENCH_THREADS=2       wrk threads
#   BENCH_WARMUP=2s       wrk duration of the warm-up run per URL
#   BENCH_USAGE=on|off    Porch's usage recording, set with `porch settings set usage=…`
#                         before deploying; unset, Porch keeps its default (on), and a
#                         build from before usage recording is measured as it is. Every
#                         wrk request of index.html is a cookie-less page view, so `on`
#                         is recording's worst case. Compare the two with
#                         bench/usage.sh (three interleaved pinned runs, medians).
#   BENCH_KEEP=1          keep the temp dir (logs, configs) for inspection
#
# Exits non-zero only on setup errors (missing tools, build failure, a server
# that does not start or serves wrong bytes); a slow result is just printed.
# All traffic goes to 127.0.0.1.
set -euo pipefail

BENCH_ONLY=${BENCH_ONLY:-both}
BENCH_DURATION=${BENCH_DURATION:-10s}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_WARMUP=${BENCH_WARMUP:-2s}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_USAGE=${BENCH_USAGE:-default}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30} # seconds to wait for a server to come up

case $BENCH_ONLY in
  both | nginx | porch) ;;
  *) echo "static.sh: BENCH_ONLY must be nginx, porch or both (got '$BENCH_ONLY')" >&2; exit 2 ;;
esac
want() { [[ $BENCH_ONLY == both || $BENCH_ONLY == "$1" ]]; }
case $BENCH_USAGE in
  on | off | default) ;;
  *) echo "static.sh: BENCH_USAGE must be on or off (got '$BENCH_USAGE')" >&2; exit 2 ;;
esac

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"

# ---------------------------------------------------------------- tools ----
PATH=$PATH:/usr/sbin:/sbin
need_pkgs=()
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
if want nginx; then command -v nginx >/dev/null 2>&1 || need_pkgs+=(nginx-light); fi
if ((${#need_pkgs[@]})); then
  log "installing missing packages: ${need_pkgs[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install ${need_pkgs[*]}"
    SUDO=(sudo)
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
    die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >&2 ||
    die "apt-get install ${need_pkgs[*]} failed"
  # The Debian package starts a system nginx on :80; we do not use it.
  # Leave it alone (it is the machine owner's service), only our own instance is benchmarked.
fi
command -v wrk >/dev/null 2>&1 || die "wrk not found"
command -v curl >/dev/null 2>&1 || die "curl not found"
if want nginx; then NGINX_BIN=$(command -v nginx) || die "nginx not found"; fi

# ---------------------------------------------------------------- porch ----
if want porch; then bench_porch_bin; fi

# ------------------------------------------------------ temp + cleanup ----
bench_tmp static
# nginx workers may run as an unprivileged user: let them traverse to the site.
chmod 0711 "$TMP"

# --------------------------------------------------------------- site ----
SITE=$TMP/site
DATA=$TMP/data
mkdir -p "$SITE" "$DATA"
chmod 0755 "$SITE"
{
  printf '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Porch bench</title></head>\n<body>\n<h1>Porch static benchmark</h1>\n'
  for i in $(seq 1 12); do
    printf '<p>Paragraph %02d: the quick brown fox jumps over the lazy dog, again and again.</p>\n' "$i"
  done
  printf '</body>\n</html>\n'
} >"$SITE/index.html"
head -c 1048576 /dev/urandom >"$SITE/big.bin"
chmod 0644 "$SITE/index.html" "$SITE/big.bin"
[[ $(wc -c <"$SITE/big.bin") -eq 1048576 ]] || die "could not create big.bin"
log "site: index.html $(wc -c <"$SITE/index.html") B, big.bin 1048576 B"

# Check that URL serves exactly FILE with status 200.
verify() {
  local url=$1 file=$2 what=$3
  curl -fsS --max-time 10 -o "$TMP/verify.out" "$url" ||
    die "$what: GET $url failed"
  cmp -s "$TMP/verify.out" "$file" ||
    die "$what: $url does not serve the same bytes as $(basename "$file")"
}

declare -A URL # URL[server.file]

# -------------------------------------------------------------- nginx ----
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if want nginx; then
  NG=$TMP/nginx
  mkdir -p "$NG/logs"
  vflags=$("$NGINX_BIN" -V 2>&1)
  temp_paths="client_body_temp_path $NG/client_body;"
  for m in proxy fastcgi uwsgi scgi; do
    [[ $vflags == *"--without-http_${m}_module"* ]] || temp_paths+=" ${m}_temp_path $NG/$m;"
  done
  NGINX_PORT=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_in_use "$port" && continue
    cat >"$NG/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 4096; }
http {
  types { text/html html; application/octet-stream bin; }
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  $temp_paths
  server {
    listen 127.0.0.1:$port;
    server_name localhost;
    root $SITE;
    index index.html;
  }
}
EOF
    "$NGINX_BIN" -t -q -c "$NG/nginx.conf" -p "$NG" >"$NG/logs/test.log" 2>&1 ||
      die "nginx config test failed: $(cat "$NG/logs/test.log")"
    start_group "$NG/logs/stdout.log" "$NG/logs/stderr.log" "$NGINX_BIN" -c "$NG/nginx.conf" -p "$NG"
    if wait_http "http://127.0.0.1:$port/index.html" "$STARTED_PID"; then
      NGINX_PORT=$port
      break
    fi
    if grep -q 'Address already in use' "$NG/logs/stderr.log" "$NG/logs/error.log" 2>/dev/null; then
      log "nginx: port $port busy, retrying"
      kill -KILL -- "-$STARTED_PID" 2>/dev/null || true
      continue
    fi
    die "nginx did not start: $(cat "$NG/logs/stderr.log" "$NG/logs/error.log" 2>/dev/null | tail -q -n 5)"
  done
  [[ -n $NGINX_PORT ]] || die "nginx: no free loopback port found"
  log "nginx listening on 127.0.0.1:$NGINX_PORT (pid $STARTED_PID)"
  URL[nginx.small]=http://127.0.0.1:$NGINX_PORT/index.html
  URL[nginx.big]=http://127.0.0.1:$NGINX_PORT/big.bin
fi

# -------------------------------------------------------------- porch ----
if want porch; then
  P=$TMP/porch
  mkdir -p "$P"
  start_porch "$DATA" "$P"
  log "porch listening on 127.0.0.1:$PORCH_PORT (pid $PORCH_PID)"
  if [[ $BENCH_USAGE != default ]]; then
    "$PORCH_BIN" settings set "usage=$BENCH_USAGE" --data-dir "$DATA" >"$P/settings.out" 2>&1 ||
      die "porch settings set usage=$BENCH_USAGE failed: $(tail -n 5 "$P/settings.out")"
  fi
  # on, off, or absent (a build from before usage recording).
  USAGE_STATE=$(curl -fsS -H "Authorization: Key $KEY" "http://127.0.0.1:$PORCH_PORT/__api__/porch/server" |
    python3 -c 'import json, sys
e = [e["value"] for e in json.load(sys.stdin).get("settings", {}).get("entries", []) if e["name"] == "usage"]
print(("on" if e[0] else "off") if e else "absent")') ||
    die "could not read the usage setting back"
  [[ $BENCH_USAGE == default || $USAGE_STATE == "$BENCH_USAGE" ]] ||
    die "usage setting is $USAGE_STATE after asking for $BENCH_USAGE"
  log "porch usage recording: $USAGE_STATE"

  "$PORCH_BIN" deploy "$SITE" --name bench-site --data-dir "$DATA" >"$P/deploy.out" 2>"$P/deploy.err" ||
    die "porch deploy failed: $(tail -q -n 5 "$P/deploy.err" "$P/deploy.out")"
  content_url=$(tail -n 1 "$P/deploy.out" | tr -s '[:blank:]' '\n' | grep '^http' | tail -n 1 || true)
  [[ -n $content_url ]] || die "porch deploy printed no content URL (last line: '$(tail -n 1 "$P/deploy.out")')"
  # Only keep the path: traffic must go to our loopback instance, whatever host the URL names.
  path=/${content_url#*://*/}
  path=${path%/}
  log "porch content URL: $content_url"
  URL[porch.small]=http://127.0.0.1:$PORCH_PORT$path/index.html
  URL[porch.big]=http://127.0.0.1:$PORCH_PORT$path/big.bin
  wait_http "${URL[porch.small]}" "$PORCH_PID" ||
    die "porch does not serve ${URL[porch.small]} (status $(curl -s -o /dev/null -w '%{http_code}' "${URL[porch.small]}" || true))"
fi

SERVERS=()
want nginx && SERVERS+=(nginx)
want porch && SERVERS+=(porch)
for s in "${SERVERS[@]}"; do
  verify "${URL[$s.small]}" "$SITE/index.html" "$s"
  verify "${URL[$s.big]}" "$SITE/big.bin" "$s"
done
log "both files verified byte-for-byte on: ${SERVERS[*]}"

# ---------------------------------------------------------------- wrk ----
# wrk prints times as e.g. 812.00us, 1.23ms, 2.01s, 1.00m; convert to ms.
to_ms() {
  awk -v t="$1" 'BEGIN {
    if (t == "") { print "nan"; exit }
    n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) print "nan"; else printf "%.3f", n * f
  }'
}

run_wrk() { # duration url outfile
  pin_load wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"$1" --latency "$2" >"$3" 2>&1 ||
    die "wrk failed against $2: $(tail -q -n 3 "$3")"
}

declare -A RPS P50 P99 ERR
for s in "${SERVERS[@]}"; do
  for f in small big; do
    log "warm-up $s $f ($BENCH_WARMUP)"
    run_wrk "$BENCH_WARMUP" "${URL[$s.$f]}" "$TMP/warm-$s-$f.txt"
  done
done
for f in small big; do
  for s in "${SERVERS[@]}"; do
    log "measuring $s $f: wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION"
    out=$TMP/wrk-$s-$f.txt
    run_wrk "$BENCH_DURATION" "${URL[$s.$f]}" "$out"
    RPS[$s.$f]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    P50[$s.$f]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    P99[$s.$f]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
    sockerr=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' "$out")
    ERR[$s.$f]=$((${non2xx:-0} + ${sockerr:-0}))
    [[ -n ${RPS[$s.$f]} ]] || die "could not parse wrk output for $s $f: $(cat "$out")"
    if ((ERR[$s.$f] > 0)); then
      log "warning: $s $f had ${ERR[$s.$f]} errors (non-2xx: ${non2xx:-0}, socket: ${sockerr:-0})"
    fi
  done
done

# How many page views Porch recorded of the index.html requests (warm-up and measured runs
# and the byte check): recording is batched, so read until the count stops moving. Fewer
# than sent means the recorder's queue was full and notes were dropped (by design: serving
# never waits for recording).
RECORDED=
if want porch && [[ $USAGE_STATE == on ]]; then
  guid=${path##*/}
  SENT=$(cat "$TMP/warm-porch-small.txt" "$TMP/wrk-porch-small.txt" | awk '/requests in/ {n += $1} END {print n + 1}')
  prev=-1
  for _ in $(seq 1 60); do
    RECORDED=$(curl -fsS -H "Authorization: Key $KEY" "http://127.0.0.1:$PORCH_PORT/__api__/porch/content/$guid/usage?days=1" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["views"])' 2>/dev/null || echo "?")
    [[ $RECORDED == "$prev" ]] && break
    prev=$RECORDED
    sleep 1
  done
fi

# -------------------------------------------------------------- report ----
ratio() { # porch nginx
  awk -v p="$1" -v n="$2" 'BEGIN { if (p == "" || n == "" || n + 0 == 0) print "n/a"; else printf "%.2fx", p / n }'
}
echo
echo "wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION, loopback, $(nproc) CPUs"
if want porch; then
  # Words only (compare.sh matches lines by their words and compares their numbers).
  echo "porch usage recording $USAGE_STATE"
  if [[ -n $RECORDED ]]; then echo "porch page views recorded $RECORDED of $SENT index.html requests"; fi
fi
printf '%-11s %-8s %12s %9s %9s %7s\n' file server 'req/s' p50_ms p99_ms errors
for f in small big; do
  label=small
  [[ $f == big ]] && label=1MiB
  for s in "${SERVERS[@]}"; do
    printf '%-11s %-8s %12.1f %9s %9s %7s\n' "$label" "$s" "${RPS[$s.$f]}" "${P50[$s.$f]}" "${P99[$s.$f]}" "${ERR[$s.$f]}"
  done
done
if want nginx && want porch; then
  r_small=$(ratio "${RPS[porch.small]}" "${RPS[nginx.small]}")
  r_big=$(ratio "${RPS[porch.big]}" "${RPS[nginx.big]}")
  echo "ratio porch/nginx  small: $r_small  1MiB: $r_big"
  if awk -v p="${RPS[porch.small]}" -v n="${RPS[nginx.small]}" 'BEGIN { exit !(p >= n) }'; then
    echo "target (porch >= nginx on small file): met"
  else
    echo "target (porch >= nginx on small file): NOT met"
  fi
else
  echo "ratio porch/nginx  n/a (BENCH_ONLY=$BENCH_ONLY)"
fi
