#!/usr/bin/env bash
# Publishing-client benchmark: how long the real clients' everyday operations take against
# Porch on this machine (pins write/read/versions, a posit-sdk deploy cycle, an rsconnect
# `deploy html`), as median and slowest of BENCH_REPS runs each.
#
# Usage: bench/clients.sh
#
# Environment:
#   PORCH_BIN=path          use this porch binary instead of building it (release, headless)
#   PORCH_TEST_VENV=dir     virtualenv with tests/requirements.txt (default: .venv-tests)
#   BENCH_REPS=10           runs of each operation
#   BENCH_START_TIMEOUT=30  seconds to wait for porch serve to come up
#   BENCH_KEEP=1            keep the temp dir (logs) for inspection
#
# Exits non-zero only on setup errors or a failed client call; slow results are just printed.
set -euo pipefail

BENCH_REPS=${BENCH_REPS:-10}
BENCH_KEEP=${BENCH_KEEP:-0}
START_TIMEOUT=${BENCH_START_TIMEOUT:-30}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VENV=${PORCH_TEST_VENV:-$REPO_ROOT/.venv-tests}
[[ $BENCH_REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer (got '$BENCH_REPS')"
[[ -x $VENV/bin/python && -x $VENV/bin/rsconnect ]] ||
  die "no test venv at $VENV (run bash .ci/test, or set PORCH_TEST_VENV to a venv with tests/requirements.txt)"
"$VENV/bin/python" -c 'import pins, posit.connect' 2>/dev/null || die "$VENV lacks pins or posit-sdk (tests/requirements.txt)"

bench_porch_bin
bench_tmp clients

mkdir -p "$TMP/data" "$TMP/home"
start_porch "$TMP/data" "$TMP"
log "porch on $BASE; $BENCH_REPS runs per operation"

export HOME=$TMP/home NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
for v in $(env | grep -o '^\(CONNECT\|RSCONNECT\|PINS\)_[A-Z_]*' || true); do unset "$v"; done

PORCH_URL=$BASE PORCH_KEY=$KEY BENCH_REPS=$BENCH_REPS "$VENV/bin/python" "$REPO_ROOT/bench/clients_client.py" >"$TMP/py.json" ||
  die "the Python clients failed"

# rsconnect deploy html of a small site, redeployed BENCH_REPS times (one process each).
site=$TMP/site
mkdir -p "$site"
cp -r "$REPO_ROOT/tests/fixtures/rsconnect-site/." "$site/"
"$VENV/bin/rsconnect" add -n bench -s "$BASE" -k "$KEY" >"$TMP/add.log" 2>&1 || die "rsconnect add failed: $(tail -n 5 "$TMP/add.log")"
rs_times=()
for ((i = 0; i < BENCH_REPS; i++)); do
  echo "<!-- $i -->" >>"$site/index.html"
  t0=$EPOCHREALTIME
  (cd "$TMP" && "$VENV/bin/rsconnect" deploy html -n bench "$site" >"$TMP/deploy.log" 2>&1) ||
    die "rsconnect deploy html failed: $(tail -n 5 "$TMP/deploy.log")"
  rs_times+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f", b - a }')")
done

python3 - "$TMP/py.json" "${rs_times[@]}" <<'PY'
import json, statistics, sys
rows = json.load(open(sys.argv[1]))
rows["rsconnect deploy html (process start to exit)"] = [float(x) for x in sys.argv[2:]]
print(f"{'operation':<48} {'runs':>4} {'median s':>9} {'max s':>7}")
for name, times in rows.items():
    print(f"{name:<48} {len(times):>4} {statistics.median(times):>9.3f} {max(times):>7.3f}")
PY
