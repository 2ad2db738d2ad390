#!/usr/bin/env bash
# Desktop footprint: the memory of the real Porch window and its WebKit processes.
#
# Starts the GUI `porch` under Xvfb, with a private session bus and a stand-in tray on it
# (tests/e2e/tray_host.py, a StatusNotifierWatcher, so Porch's tray icon is shown),
# on a scratch data folder, deploys the scenario "2 static items + 1 notebook, no app
# running" through the CLI, waits until every process is idle, and measures PSS
# (/proc/PID/smaps_rollup) of Porch and of every process it started:
#
#   1. window open, idle
#   2. window closed to the tray (WM_DELETE_WINDOW, as a window manager's close button)
#   3. window reopened by a second launch (`porch --data-dir D`, as the desktop menu does;
#      the tray's "Open Porch" runs the same code)
#   4. closed to the tray again (a leak across open/close would show here)
#
# Goals (issue 16): window open, Porch + WebKit <= 150 MB PSS; closed to the tray, Porch
# alone <= 60 MB PSS. App workers and Python helpers are listed apart and not counted.
#
# Env: PORCH_BIN=path          a GUI porch binary (default: build the release GUI binary)
#      BENCH_KEEP=1            keep the scratch folder (logs, data, screenshots)
#      BENCH_FOOTPRINT_SETTLE  seconds of extra quiet after idle before each measure (5)
#      PYTHON                  a python3 with python-xlib and jeepney (default:
#                              $PORCH_TEST_VENV's, then .venv-tests, installing them there)
# Needs: Xvfb, dbus-daemon, curl, uv (the notebook's environment), python-xlib.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) die "footprint.sh takes no arguments (see --help)" ;;
esac
SETTLE=${BENCH_FOOTPRINT_SETTLE:-5}
[[ $SETTLE =~ ^[0-9]+$ ]] || die "BENCH_FOOTPRINT_SETTLE must be an integer >= 0"
GOAL_OPEN=150
GOAL_CLOSED=60
FIX=$REPO_ROOT/tests/fixtures
CLIENT=$SCRIPT_DIR/footprint_client.py

for tool in Xvfb dbus-daemon curl; do command -v $tool >/dev/null 2>&1 || die "$tool not found"; done
command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 ||
  die "uv not found (Porch needs it for the notebook's environment): pip install uv"

# Python with python-xlib (to close the window as a window manager would).
PY=${PYTHON:-}
if [[ -z $PY ]]; then
  for cand in "${PORCH_TEST_VENV:-}/bin/python" "$REPO_ROOT/.venv-tests/bin/python" python3; do
    if [[ -x $cand || $cand == python3 ]] && "$cand" -c 'import Xlib, jeepney' 2>/dev/null; then PY=$cand; break; fi
  done
fi
if [[ -z $PY ]]; then
  [[ -x $REPO_ROOT/.venv-tests/bin/python ]] || python3 -m venv "$REPO_ROOT/.venv-tests"
  PY=$REPO_ROOT/.venv-tests/bin/python
  "$PY" -m pip install -q -r "$REPO_ROOT/tests/requirements.txt" || die "cannot install python-xlib and jeepney"
fi

# The GUI binary (the bench default in lib.sh is headless, so build here).
if [[ -z ${PORCH_BIN:-} ]]; then
  log "building ui/ and porch (release, with the window)"
  [[ -d $REPO_ROOT/ui/node_modules ]] || npm ci --prefix "$REPO_ROOT/ui" >&2
  npm --prefix "$REPO_ROOT/ui" run build >&2 || die "npm run build failed"
  (cd "$REPO_ROOT" && cargo build --release --bins >&2) || die "cargo build failed"
  PORCH_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/porch
fi
bench_porch_bin
# The window is the program beside it (`porch-shell`), or, in builds before the split, the
# same binary (then linked with WebKit).
[[ -x $(dirname "$PORCH_BIN")/porch-shell ]] || grep -q libwebkit2gtk <<<"$(ldd "$PORCH_BIN")" ||
  die "$PORCH_BIN has no window (no porch-shell beside it: build with the gui feature, cargo build --release --bins)"

bench_tmp footprint
DATA=$TMP/data
mkdir -p "$DATA" "$TMP/logs" "$TMP/src"
OUT=$TMP/measures.jsonl
: >"$OUT"

# Xvfb, and a session bus of our own: the tray icon (StatusNotifierItem) lives on it.
exec 3>"$TMP/display"
start_group "$TMP/logs/xvfb.out" "$TMP/logs/xvfb.err" Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp
exec 3>&-
for _ in $(seq 100); do [[ -s $TMP/display ]] && break; sleep 0.1; done
[[ -s $TMP/display ]] || die "Xvfb did not report a display"
export DISPLAY=":$(tr -d '[:space:]' <"$TMP/display")"
exec 3>"$TMP/bus"
start_group "$TMP/logs/dbus.out" "$TMP/logs/dbus.err" dbus-daemon --session --nofork --nopidfile --print-address=3
exec 3>&-
for _ in $(seq 100); do [[ -s $TMP/bus ]] && break; sleep 0.1; done
[[ -s $TMP/bus ]] || die "dbus-daemon did not report its address"
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$TMP/bus")
export DBUS_SESSION_BUS_ADDRESS
# A desktop's tray: without one, closing the window quits Porch.
start_group "$TMP/logs/tray.out" "$TMP/logs/tray.err" "$PY" "$REPO_ROOT/tests/e2e/tray_host.py" serve "$TMP/tray-items.jsonl"
for _ in $(seq 100); do grep -q ready "$TMP/logs/tray.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$TMP/logs/tray.out" || die "the stand-in tray did not start: $(cat "$TMP/logs/tray.err")"
# WebKit's caches, the window-state file and autostart go to the scratch folder.
export XDG_CONFIG_HOME=$TMP/xdg/config XDG_DATA_HOME=$TMP/xdg/data XDG_CACHE_HOME=$TMP/xdg/cache
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"

log "starting the window: $PORCH_BIN --data-dir $DATA (DISPLAY=$DISPLAY)"
start_group "$TMP/logs/porch.out" "$TMP/logs/porch.err" env RUST_LOG=${RUST_LOG:-info} \
  "$PORCH_BIN" --data-dir "$DATA" --bind 127.0.0.1 --port 0
PORCH_PID=$STARTED_PID
BASE=
deadline=$((SECONDS + START_TIMEOUT))
while ((SECONDS < deadline)); do
  BASE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("url") or "")' "$DATA/porch.lock" 2>/dev/null || true)
  [[ -n $BASE ]] && break
  kill -0 "$PORCH_PID" 2>/dev/null || die "porch exited early: $(tail -n 5 "$TMP/logs/porch.err")"
  sleep 0.2
done
[[ -n $BASE ]] || die "porch announced no URL in $DATA/porch.lock within ${START_TIMEOUT}s"
wait_http "$BASE" "$PORCH_PID" || die "porch does not answer at $BASE"
log "porch (pid $PORCH_PID) serves $BASE"

# deploy DIR NAME: through the CLI, which talks to the running window's server.
deploy() {
  log "porch deploy $2"
  "$PORCH_BIN" deploy "$1" --name "$2" --data-dir "$DATA" >"$TMP/logs/deploy-$2.out" 2>"$TMP/logs/deploy-$2.err" ||
    die "porch deploy $2 failed: $(tail -q -n 8 "$TMP/logs/deploy-$2.err" "$TMP/logs/deploy-$2.out")"
  tail -n 1 "$TMP/logs/deploy-$2.out" | tr -s '[:blank:]' '\n' | grep '^http' | tail -n 1
}
cp -r "$FIX/site" "$TMP/src/site-a"
mkdir -p "$TMP/src/site-b"
printf '<!doctype html><title>footprint b</title><h1>second site</h1>\n' >"$TMP/src/site-b/index.html"
cp -r "$FIX/frameworks/notebook" "$TMP/src/notebook"
SITE_URL=$(deploy "$TMP/src/site-a" footprint-site-a)
deploy "$TMP/src/site-b" footprint-site-b >/dev/null
deploy "$TMP/src/notebook" footprint-notebook >/dev/null # renders once, before `deploy` returns
[[ $SITE_URL == http* ]] || die "porch deploy printed no content URL"

shot() { command -v import >/dev/null 2>&1 && import -window root "$TMP/$1.png" 2>/dev/null || true; }

# measure LABEL: waits for idle (and SETTLE more seconds), then records every process.
measure() {
  "$PY" "$CLIENT" idle "$PORCH_PID" >&2 || die "porch did not become idle ($1)"
  sleep "$SETTLE"
  "$PY" "$CLIENT" measure "$PORCH_PID" "$1" "$OUT"
  shot "$(tr ' ,' '__' <<<"$1")"
  log "measured: $1"
}

state=$("$PY" "$CLIENT" window "$PORCH_PID")
[[ $state == viewable ]] || die "the Porch window is not on screen (state: $state)"
measure "window open"

"$PY" "$CLIENT" close "$PORCH_PID" >&2 || die "cannot close the window"
kill -0 "$PORCH_PID" 2>/dev/null || die "porch exited when its window was closed (no tray?)"
# A destroyed webview takes its web process with it; a hidden one keeps it (reported, not fatal).
"$PY" "$CLIENT" gone "$PORCH_PID" WebKitWebProcess --timeout 20 >&2 || log "the web process outlived the closed window"
curl -fsS -o /dev/null --max-time 10 "$SITE_URL" || die "porch stopped serving $SITE_URL with the window closed"
measure "closed to the tray"

log "second launch: $PORCH_BIN --data-dir $DATA (brings the window back)"
"$PORCH_BIN" --data-dir "$DATA" >"$TMP/logs/second.out" 2>"$TMP/logs/second.err" || true
deadline=$((SECONDS + 30))
until [[ $("$PY" "$CLIENT" window "$PORCH_PID") == viewable ]]; do
  ((SECONDS < deadline)) || die "the window did not come back after a second launch"
  sleep 0.2
done
measure "reopened"

# (Before closing destroyed the window, a hidden-then-shown window ignored a second
# WM_DELETE_WINDOW under Xvfb; that is reported, not fatal, so old builds can be measured.)
if "$PY" "$CLIENT" close "$PORCH_PID" >&2; then
  "$PY" "$CLIENT" gone "$PORCH_PID" WebKitWebProcess --timeout 20 >&2 || log "the web process outlived the closed window"
  measure "closed again"
else
  log "the reopened window did not close; no 'closed again' measure"
fi

echo
echo "desktop footprint: $PORCH_BIN (pid $PORCH_PID), 2 static items + 1 notebook, no app running, $(nproc) CPUs"
echo "PSS from /proc/PID/smaps_rollup; USS = private pages; 'apart' = app workers, Python helpers, other children"
echo
"$PY" "$CLIENT" report "$OUT" "$GOAL_OPEN" "$GOAL_CLOSED"
