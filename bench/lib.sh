# Shared by the bench scripts (sourced, not run): logging, the porch binary, a scratch
# folder whose process groups are stopped on exit, and `porch serve` on an ephemeral
# loopback port with a fresh API key.
#
# The caller may set BENCH_KEEP (1 keeps the scratch folder) and START_TIMEOUT (seconds a
# server gets to come up; 30), and may define `bench_on_exit`, run first on exit.

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
START_TIMEOUT=${START_TIMEOUT:-30}
# The Python packages of bench/apps and what Porch adds to them are held at the suite's pins
# (uv reads UV_CONSTRAINT), so a new upstream release cannot change a benchmark's result.
export UV_CONSTRAINT=${UV_CONSTRAINT:-$REPO_ROOT/tests/constraints.txt}

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# Sets PORCH_BIN to an absolute path: the caller's PORCH_BIN, else a release headless build.
bench_porch_bin() {
  if [[ -n ${PORCH_BIN:-} ]]; then
    [[ -x $PORCH_BIN ]] || die "PORCH_BIN=$PORCH_BIN is not an executable file"
  else
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or set PORCH_BIN)"
    log "building porch (release, headless)"
    (cd "$REPO_ROOT" && cargo build --release --no-default-features --bin porch >&2) || die "cargo build failed"
    PORCH_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/porch
    [[ -x $PORCH_BIN ]] || die "built binary not found at $PORCH_BIN"
  fi
  PORCH_BIN=$(cd "$(dirname "$PORCH_BIN")" && pwd)/$(basename "$PORCH_BIN")
}

# Makes the scratch folder $TMP (porch-bench-NAME.XXXXXX). On any exit, every process group
# in PIDS is stopped (TERM, then KILL after 5 s) and $TMP removed unless BENCH_KEEP=1.
bench_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/porch-bench-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  if declare -F bench_on_exit >/dev/null; then bench_on_exit || true; fi
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}

# CPU pinning for comparisons (bench/compare.sh sets BENCH_PIN=1): servers (and the app
# workers they start, which inherit the mask) on CPU 0, the load generator on CPU 1, so the
# two never compete for one core. Off by default.
if [[ ${BENCH_PIN:-0} == 1 ]] && (($(nproc) >= 2)) && command -v taskset >/dev/null 2>&1; then
  SERVER_PIN=(taskset -c 0)
  LOAD_PIN=(taskset -c 1)
else
  SERVER_PIN=()
  LOAD_PIN=()
fi

# nginx's workers: one when pinned (the protocol: one server CPU, one worker), else auto.
if ((${#SERVER_PIN[@]})); then NGINX_WORKERS=1; else NGINX_WORKERS=auto; fi
export NGINX_WORKERS

# Runs a load generator ("$@"), pinned when BENCH_PIN=1.
pin_load() { "${LOAD_PIN[@]}" "$@"; }

# Starts "$@" in its own process group (setsid), stdout/stderr to files; sets $STARTED_PID.
# Pinned to the server CPU when BENCH_PIN=1.
start_group() {
  local out=$1 err=$2
  shift 2
  setsid "${SERVER_PIN[@]}" "$@" >"$out" 2>"$err" </dev/null &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
}

# Waits until URL answers 200, or PID dies, or SECS (START_TIMEOUT) pass. Returns 1 on failure.
wait_http() {
  local url=$1 pid=$2 deadline=$((SECONDS + ${3:-$START_TIMEOUT}))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Accept: */*' "$url" || true) == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# Starts `porch serve --data-dir DATA --bind 127.0.0.1 --port 0 [ARGS...]`, its output in
# DIR/stdout.log and DIR/stderr.log. Sets PORCH_PID, PORCH_PORT, BASE and KEY (a new key).
start_porch() {
  local data=$1 dir=$2 line= deadline
  shift 2
  mkdir -p "$data" "$dir"
  start_group "$dir/stdout.log" "$dir/stderr.log" "$PORCH_BIN" serve --data-dir "$data" --bind 127.0.0.1 --port 0 "$@"
  PORCH_PID=$STARTED_PID
  PORCH_PORT=
  deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    line=$(head -n 1 "$dir/stdout.log" 2>/dev/null || true)
    if [[ $line =~ http://127\.0\.0\.1:([0-9]+) ]]; then
      PORCH_PORT=${BASH_REMATCH[1]}
      break
    fi
    kill -0 "$PORCH_PID" 2>/dev/null ||
      die "porch serve exited early: $(tail -q -n 5 "$dir/stderr.log" "$dir/stdout.log" 2>/dev/null)"
    sleep 0.1
  done
  [[ -n $PORCH_PORT ]] ||
    die "porch serve printed no 'Listening on http://127.0.0.1:PORT/' line within ${START_TIMEOUT}s (first line: '${line:-}')"
  BASE=http://127.0.0.1:$PORCH_PORT
  KEY=$("$PORCH_BIN" key new --data-dir "$data" --name bench 2>"$dir/key.err" | tail -n 1) ||
    die "porch key new failed: $(cat "$dir/key.err")"
  [[ $KEY =~ ^[A-Za-z0-9_-]{16,}$ ]] || die "porch key new printed no key (got '$KEY')"
}
