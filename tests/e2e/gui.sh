#!/usr/bin/env bash
# GUI end-to-end check of the real `porch` window (issue point 9).
#
# Starts Xvfb and tauri-driver, then tests/e2e/gui_e2e.py launches the real GUI binary
# through WebDriver (WebKitWebDriver), checks the empty Library, deploys a folder with the
# CLI (`porch deploy`, which talks to the running instance) and waits for the row to appear
# live, drives the drop path, switches start at login on and off (XDG_CONFIG_HOME is a
# scratch folder), checks that a failed deploy raises a desktop notification (a private
# session bus with tests/e2e/notifications.py as the daemon), uses Porch's tray icon through
# a stand-in tray on that bus (tests/e2e/tray_host.py: the menu, Pause sharing, Open Porch
# after closing the window), and finally sends SIGTERM to check the graceful quit. Then two
# windows that cannot start (a data folder a headless `porch serve` holds, a port another
# program holds) must exit and say why in a notification; a window whose process is killed
# (Porch keeps serving; the tray's Open Porch brings a new one; its Quit Porch stops Porch);
# and, with the stand-in tray gone, a window whose close quits Porch.
#
# Needs: Xvfb, webkit2gtk-driver (WebKitWebDriver), tauri-driver (`cargo install
# tauri-driver --locked`), dbus-daemon, python3 with selenium, python-xlib and jeepney
# (installed into .venv-tests if missing).
#
# Env:  PORCH_BIN=path   use this GUI binary instead of building one
#       SKIP_BUILD=1     do not rebuild ui/ and the binary
#       E2E_OUT=dir      where screenshots go (default: a fresh /tmp/porch-e2e.XXXX)
# Exit status is non-zero on any failure; the last line says PASS or FAIL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-gui}"
PORCH="${PORCH_BIN:-$CARGO_TARGET_DIR/debug/porch}"
OUT="${E2E_OUT:-$(mktemp -d /tmp/porch-e2e.XXXXXX)}"
WORK="$(mktemp -d /tmp/porch-e2e-work.XXXXXX)"
mkdir -p "$OUT"

PIDS=()
cleanup() {
  local status=$?
  # Only the processes this script started, newest first, by PID.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  if [[ $status -eq 0 ]]; then
    echo "PASS: GUI e2e (screenshots in $OUT)"
  else
    echo "FAIL: GUI e2e (exit $status; logs and screenshots in $OUT)"
  fi
  exit $status
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing prerequisite: $1 ($2)" >&2; exit 2; }; }
need Xvfb "apt-get install xvfb"
need WebKitWebDriver "apt-get install webkit2gtk-driver"
need tauri-driver "cargo install tauri-driver --locked"
need dbus-daemon "apt-get install dbus-daemon"

# Python with selenium: the caller's, or a private venv.
PY="${PYTHON:-python3}"
if ! "$PY" -c "import selenium, Xlib, jeepney" 2>/dev/null; then
  if [[ ! -x "$ROOT/.venv-tests/bin/python" ]]; then
    python3 -m venv "$ROOT/.venv-tests"
  fi
  PY="$ROOT/.venv-tests/bin/python"
  "$PY" -c "import selenium, Xlib, jeepney" 2>/dev/null || "$PY" -m pip install -q selenium python-xlib jeepney
fi

if [[ -z "${SKIP_BUILD:-}" && -z "${PORCH_BIN:-}" ]]; then
  echo "== building ui/ and the GUI binary (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  if [[ ! -d "$ROOT/ui/node_modules" ]]; then npm ci --prefix "$ROOT/ui"; fi
  npm --prefix "$ROOT/ui" run build >/dev/null
  (cd "$ROOT" && cargo build --bins)
fi
[[ -x "$PORCH" ]] || { echo "no GUI binary at $PORCH" >&2; exit 2; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== starting Xvfb"
exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$OUT/xvfb.log" 2>&1 &
PIDS+=($!)
exec 3>&-
for _ in $(seq 100); do [[ -s "$WORK/display" ]] && break; sleep 0.1; done
[[ -s "$WORK/display" ]] || { echo "Xvfb did not report a display" >&2; exit 1; }
export DISPLAY=":$(tr -d '[:space:]' <"$WORK/display")"
echo "   DISPLAY=$DISPLAY"

echo "== starting a private session bus and a stand-in notification daemon"
exec 3>"$WORK/bus"
dbus-daemon --session --nofork --nopidfile --print-address=3 >"$OUT/dbus.log" 2>&1 &
PIDS+=($!)
exec 3>&-
for _ in $(seq 100); do [[ -s "$WORK/bus" ]] && break; sleep 0.1; done
[[ -s "$WORK/bus" ]] || { echo "dbus-daemon did not report its address" >&2; exit 1; }
DBUS_SESSION_BUS_ADDRESS="$(head -n1 "$WORK/bus")"
export DBUS_SESSION_BUS_ADDRESS
export PORCH_E2E_NOTIFICATIONS="$WORK/notifications.jsonl"
"$PY" "$ROOT/tests/e2e/notifications.py" "$PORCH_E2E_NOTIFICATIONS" >"$OUT/notifications.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$OUT/notifications.log" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$OUT/notifications.log" || { echo "the notification daemon did not start:" >&2; cat "$OUT/notifications.log" >&2; exit 1; }
# A stand-in tray (StatusNotifierWatcher): Porch's tray icon registers with it, and the
# scenario uses its menu as a person would (tests/e2e/tray_host.py).
export PORCH_E2E_TRAY_ITEMS="$WORK/tray-items.jsonl"
"$PY" "$ROOT/tests/e2e/tray_host.py" serve "$PORCH_E2E_TRAY_ITEMS" >"$OUT/tray.log" 2>&1 &
TRAY_PID=$!
PIDS+=($TRAY_PID)
for _ in $(seq 100); do grep -q ready "$OUT/tray.log" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$OUT/tray.log" || { echo "the stand-in tray did not start:" >&2; cat "$OUT/tray.log" >&2; exit 1; }

# The app's start-at-login entry goes here, never into the real ~/.config.
export XDG_CONFIG_HOME="$WORK/xdg-config"
mkdir -p "$XDG_CONFIG_HOME"

DRIVER_PORT="$(free_port)"
NATIVE_PORT="$(free_port)"
echo "== starting tauri-driver on $DRIVER_PORT (native $NATIVE_PORT)"
tauri-driver --port "$DRIVER_PORT" --native-port "$NATIVE_PORT" >"$OUT/tauri-driver.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$DRIVER_PORT/status" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== running the WebDriver scenario"
RUST_LOG="${RUST_LOG:-info}" "$PY" "$ROOT/tests/e2e/gui_e2e.py" \
  --app "$PORCH" \
  --driver "http://127.0.0.1:$DRIVER_PORT" \
  --work "$WORK" \
  --out "$OUT"

# Started from the applications menu there is no terminal: a window that cannot start must
# say why in a desktop notification (the stand-in daemon above records each one).
echo "== start-up failures of the window reach the desktop as notifications"
notified() { # PATTERN...: a notification from Porch whose body holds every pattern, within 30 s
  for _ in $(seq 300); do
    if [[ -s $PORCH_E2E_NOTIFICATIONS ]] && "$PY" - "$PORCH_E2E_NOTIFICATIONS" "$@" <<'PY'
import json, sys
notes = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
ok = any(n["summary"] == "Porch" and all(p in n["body"] for p in sys.argv[2:]) for n in notes)
sys.exit(0 if ok else 1)
PY
    then
      echo "   ok: notified ($*)"
      return 0
    fi
    sleep 0.1
  done
  echo "FAIL: no notification holding: $*; notifications were:" >&2
  cat "$PORCH_E2E_NOTIFICATIONS" >&2 || true
  exit 1
}
must_fail() { # LOG ARGS...: the window must exit non-zero, without hanging
  local log=$1
  shift
  if timeout 60 "$PORCH" "$@" >"$log" 2>&1; then
    echo "FAIL: porch $* started although it should not have" >&2
    exit 1
  fi
  echo "   ok: porch $* exited: $(tail -n 1 "$log")"
}
# a) The data folder is held by a headless `porch serve`: the window does not open, and the
#    notification names the running server.
HELD_PORT="$(free_port)"
"$PORCH" serve --data-dir "$WORK/held-data" --port "$HELD_PORT" >"$OUT/held-serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$HELD_PORT/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$HELD_PORT/" >/dev/null || { echo "porch serve did not start" >&2; exit 1; }
must_fail "$OUT/held-window.log" --data-dir "$WORK/held-data"
notified "already serving this folder" ":$HELD_PORT"
#    From a terminal with no display (ssh) it is the same line, printed, not a GTK panic.
if ! env -u DISPLAY -u WAYLAND_DISPLAY timeout 60 "$PORCH" --data-dir "$WORK/held-data" >"$OUT/held-nodisplay.log" 2>&1 \
  && grep -q "already serving this folder at http://.*:$HELD_PORT/" "$OUT/held-nodisplay.log" \
  && ! grep -q "panicked" "$OUT/held-nodisplay.log"; then
  echo "   ok: without a display: $(tail -n 1 "$OUT/held-nodisplay.log")"
else
  echo "FAIL: porch without a display on a held folder did not say which Porch holds it:" >&2
  cat "$OUT/held-nodisplay.log" >&2
  exit 1
fi
# b) The port is taken by another program: the notification says which port.
BUSY_PORT="$(free_port)"
"$PY" -c 'import socket, sys, time
s = socket.socket(); s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); print("listening", flush=True); time.sleep(600)' \
  "$BUSY_PORT" >"$OUT/busy-port.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$OUT/busy-port.log" 2>/dev/null && break; sleep 0.1; done
must_fail "$OUT/busy-window.log" --data-dir "$WORK/busy-data" --port "$BUSY_PORT"
notified "cannot listen on" ":$BUSY_PORT"
echo "PASS: start-up failures notified"

# The window's process dies (SIGKILL): Porch keeps serving, its tray's "Open Porch" starts
# a new window, and its tray's "Quit Porch" stops Porch (status 0) and everything it started.
echo "== the window's process dies; the tray brings it back and quits"
tray() { "$PY" "$ROOT/tests/e2e/tray_host.py" "$1" "$PORCH_E2E_TRAY_ITEMS" "${@:2}"; }
window_state() { "$PY" "$ROOT/bench/footprint_client.py" window "$1"; }
RUST_LOG=info "$PORCH" --data-dir "$WORK/crash-data" --bind 127.0.0.1 --port 0 >"$OUT/crash.log" 2>&1 &
CRASH_PID=$!
PIDS+=($CRASH_PID)
for _ in $(seq 600); do
  [[ $(window_state "$CRASH_PID") == viewable ]] && break
  kill -0 "$CRASH_PID" 2>/dev/null || { echo "FAIL: porch exited early:" >&2; cat "$OUT/crash.log" >&2; exit 1; }
  sleep 0.1
done
CRASH_URL=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/crash-data/porch.lock")
SHELL_PID=$(pgrep -P "$CRASH_PID" -x porch-shell)
[[ -n $SHELL_PID ]] || { echo "FAIL: no porch-shell child of porch $CRASH_PID" >&2; exit 1; }
kill -KILL "$SHELL_PID"
for _ in $(seq 100); do [[ $(window_state "$CRASH_PID") == none ]] && break; sleep 0.1; done
sleep 1
kill -0 "$CRASH_PID" 2>/dev/null || { echo "FAIL: porch exited when its window's process died:" >&2; cat "$OUT/crash.log" >&2; exit 1; }
curl -fsS -o /dev/null "$CRASH_URL" || { echo "FAIL: porch stopped serving when its window's process died" >&2; exit 1; }
grep -q "the desktop window's process exited unexpectedly" "$OUT/crash.log" ||
  { echo "FAIL: porch did not log the window's end:" >&2; cat "$OUT/crash.log" >&2; exit 1; }
echo "   ok: the window's process killed: porch keeps serving and says so"
# The newest registered item is this Porch's.
tray click "Open Porch"
for _ in $(seq 300); do [[ $(window_state "$CRASH_PID") == viewable ]] && break; sleep 0.1; done
[[ $(window_state "$CRASH_PID") == viewable ]] || { echo "FAIL: the tray's Open Porch did not bring a window back" >&2; cat "$OUT/crash.log" >&2; exit 1; }
echo "   ok: the tray's Open Porch started a new window"
CHILDREN=$(pgrep -P "$CRASH_PID" | tr '\n' ' ')
tray click "Quit Porch"
for _ in $(seq 300); do kill -0 "$CRASH_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$CRASH_PID" 2>/dev/null; then echo "FAIL: the tray's Quit Porch did not stop porch" >&2; exit 1; fi
wait "$CRASH_PID" || { echo "FAIL: porch exited with status $? after Quit Porch" >&2; cat "$OUT/crash.log" >&2; exit 1; }
for c in $CHILDREN; do
  if kill -0 "$c" 2>/dev/null; then echo "FAIL: process $c outlived Quit Porch" >&2; exit 1; fi
done
if curl -fsS -o /dev/null --max-time 5 "$CRASH_URL" 2>/dev/null; then echo "FAIL: $CRASH_URL still answers after Quit Porch" >&2; exit 1; fi
echo "   ok: the tray's Quit Porch stopped porch (status 0), its children and its server"

# With no tray on the desktop (the stand-in tray stopped), there is no way back to a closed
# window: closing it quits Porch, which stops serving (bench/footprint_client.py closes the
# window as a window manager's close button does).
echo "== without a tray, closing the window quits"
kill "$TRAY_PID"
wait "$TRAY_PID" 2>/dev/null || true
RUST_LOG=info "$PORCH" --data-dir "$WORK/notray-data" --bind 127.0.0.1 --port 0 >"$OUT/notray.log" 2>&1 &
NOTRAY_PID=$!
PIDS+=($NOTRAY_PID)
for _ in $(seq 600); do
  [[ $("$PY" "$ROOT/bench/footprint_client.py" window "$NOTRAY_PID") == viewable ]] && break
  kill -0 "$NOTRAY_PID" 2>/dev/null || { echo "FAIL: porch without a tray exited early:" >&2; cat "$OUT/notray.log" >&2; exit 1; }
  sleep 0.1
done
NOTRAY_URL=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/notray-data/porch.lock")
curl -fsS -o /dev/null "$NOTRAY_URL" || { echo "FAIL: porch without a tray does not serve $NOTRAY_URL" >&2; exit 1; }
"$PY" "$ROOT/bench/footprint_client.py" close "$NOTRAY_PID"
for _ in $(seq 300); do kill -0 "$NOTRAY_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$NOTRAY_PID" 2>/dev/null; then
  echo "FAIL: with no tray, porch kept running after its window closed:" >&2
  cat "$OUT/notray.log" >&2
  exit 1
fi
wait "$NOTRAY_PID" || { echo "FAIL: porch without a tray exited with status $? on close:" >&2; cat "$OUT/notray.log" >&2; exit 1; }
if curl -fsS -o /dev/null --max-time 5 "$NOTRAY_URL" 2>/dev/null; then
  echo "FAIL: $NOTRAY_URL still answers after porch quit" >&2
  exit 1
fi
grep -q "no tray icon shows on this desktop: quitting" "$OUT/notray.log" || { echo "FAIL: porch did not say why it quit:" >&2; cat "$OUT/notray.log" >&2; exit 1; }
echo "   ok: closed with no tray: porch quit (status 0) and stopped serving"
