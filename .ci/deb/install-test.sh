#!/usr/bin/env bash
# Installs the built .deb and uses it as a publisher would (as root; CI's `package` stage).
#
#   bash .ci/deb/install-test.sh target/release/bundle/deb/porch_<version>_<arch>.deb
#
# 1. lintian: no errors and no warnings that .ci/deb/lintian-overrides (shipped in the
#    package) does not explain.
# 2. `apt-get install ./…deb`; Depends checked against what the installed programs load
#    (.ci/deb/check-depends.sh).
# 3. As an unprivileged user (porch-ci, created when missing) with PATH=/usr/bin:/bin: the
#    installed `porch serve` on a free port with a fresh data folder; a static site and a
#    FastAPI app deployed (the FastAPI deploy's log must show /usr/lib/porch/uv building its
#    environment, with its packages from the package index); both fetched.
# 4. Upgrade: the same package with a lower version (repacked with dpkg-deb) is installed,
#    then the built one over it; the same data folder is served again and both items fetched.
# 5. Removal: `apt-get remove porch`; the programs are gone and the data folder is untouched
#    (the same files with the same contents).
# A trap removes the package (and stops the server) if anything fails half-way. Exit status
# 0 only when every check passed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
deb=$(readlink -f "${1:?usage: install-test.sh PATH.deb}")
PKG=porch
RUN_AS=porch-ci
export DEBIAN_FRONTEND=noninteractive

step() { echo "-- $(date -u +%H:%M:%S) $*"; }
fail() {
  echo "ERROR: $*" >&2
  exit 1
}

[[ -f $deb ]] || fail "no such package file: $deb"
[[ $(id -u) -eq 0 ]] || fail "run as root (it installs and removes the package)"
if [[ $(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null) == *"ok installed"* ]]; then
  fail "package $PKG is already installed on this machine; this check installs and removes it, so remove it first (apt-get remove $PKG)"
fi

WORK=$(mktemp -d /tmp/porch-deb-test.XXXXXX)
chmod 0755 "$WORK"
SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  local rc=$?
  stop_server
  if [[ $rc -ne 0 ]]; then
    for f in "$WORK"/serve-*.log; do
      [[ -f $f ]] && { echo "---- $f (last 40 lines)"; tail -n 40 "$f"; }
    done
    if [[ $(dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null) == *"ok installed"* ]]; then
      echo "(failed half-way: removing the package)" >&2
      apt-get -o DPkg::Lock::Timeout=300 remove -y -q "$PKG" >/dev/null 2>&1 || dpkg --remove "$PKG" || true
    fi
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

version=$(dpkg-deb -f "$deb" Version)
[[ $(dpkg-deb -f "$deb" Package) == "$PKG" ]] || fail "$deb is package $(dpkg-deb -f "$deb" Package), not $PKG"

# ---- 1. lintian -----------------------------------------------------------------------------
step "lintian $(basename "$deb")"
# Overrides are read from the package itself (/usr/share/lintian/overrides/porch).
# (--show-overrides would make lintian exit 2 even when nothing fails, so the accepted ones are
# listed from the file instead.)
lintian --fail-on error,warning --info --display-level '>=warning' "$deb"
echo "lintian: no errors; accepted warnings: $(grep -c '^porch:' "$ROOT/.ci/deb/lintian-overrides") (.ci/deb/lintian-overrides)"

# ---- 2. install, Depends -----------------------------------------------------------------------
step "apt-get install ./$(basename "$deb")"
cp "$deb" "$WORK/"
(cd "$WORK" && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "./$(basename "$deb")")
[[ $(dpkg-query -W -f='${Version}' "$PKG") == "$version" ]] || fail "installed version is not $version"
[[ -x /usr/bin/porch && -x /usr/lib/porch/porch-shell && -x /usr/lib/porch/uv ]] ||
  fail "/usr/bin/porch, /usr/lib/porch/porch-shell or /usr/lib/porch/uv is missing"
[[ ! -e /usr/bin/porch-shell ]] || fail "the window's program is in /usr/bin (it belongs in /usr/lib/porch)"
# The desktop app's own process links no GTK or WebKit (its memory with the window closed).
# (A here-string: under pipefail, a pipe into `grep -q` can fail with SIGPIPE when it matches.)
if grep -qE 'libwebkit2gtk|libgtk-3' <<<"$(ldd /usr/bin/porch)"; then fail "/usr/bin/porch links GTK or WebKit"; fi
desktop=$(dpkg -L "$PKG" | grep '^/usr/share/applications/.*\.desktop$' || true)
[[ -n $desktop ]] || fail "the package installs no .desktop entry under /usr/share/applications"
grep -q '^Exec=porch' "$desktop" || fail "$desktop does not run porch: $(grep '^Exec' "$desktop")"
grep -q '^Categories=.' "$desktop" || fail "$desktop has no Categories"
bash "$ROOT/.ci/deb/check-depends.sh" "$PKG"

# ---- 3. an unprivileged publisher --------------------------------------------------------------
if ! id "$RUN_AS" >/dev/null 2>&1; then
  step "creating the user $RUN_AS"
  useradd --create-home --shell /bin/bash "$RUN_AS"
fi
home=$(getent passwd "$RUN_AS" | cut -d: -f6)
DATA="$WORK/data"
install -d -o "$RUN_AS" -m 0755 "$WORK/src" "$WORK/client"
install -d -o "$RUN_AS" -m 0700 "$DATA"
cp -r "$ROOT/tests/fixtures/site" "$WORK/src/site"
cp -r "$ROOT/tests/fixtures/apps/fastapi-app" "$WORK/src/api"
chown -R "$RUN_AS" "$WORK/src"
# What the user's environment keeps: a plain PATH, and only the network settings of this
# machine (a proxy or a package index mirror) that uv needs to reach the index. CI's pinned
# constraints for what Porch adds (tests/constraints.txt) are passed on, copied where the
# user can read them.
user_env=(PATH=/usr/bin:/bin HOME="$home" USER="$RUN_AS" LANG=C.UTF-8)
for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy SSL_CERT_FILE \
  UV_INDEX_URL UV_DEFAULT_INDEX UV_EXTRA_INDEX_URL UV_INDEX UV_NATIVE_TLS; do
  if [[ -n ${!v:-} ]]; then user_env+=("$v=${!v}"); fi
done
if [[ -n ${UV_CONSTRAINT:-} && -f $UV_CONSTRAINT ]]; then
  install -m 0644 "$UV_CONSTRAINT" "$WORK/client/constraints.txt"
  user_env+=(UV_CONSTRAINT="$WORK/client/constraints.txt")
fi
as_user() { setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups env -i "${user_env[@]}" "$@"; }

# Starts the installed porch serve as the user on a free port; sets SERVER_PID and URL.
start_server() {
  local log="$WORK/serve-$1.log" deadline=$((SECONDS + 60))
  : >"$log"
  chown "$RUN_AS" "$log"
  # A simple command (not the as_user function, which would run in a subshell): setpriv and
  # env exec, so the pid is porch's own.
  setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups env -i "${user_env[@]}" \
    /usr/bin/porch serve --data-dir "$DATA" --bind 127.0.0.1 --port 0 >"$log" 2>&1 &
  SERVER_PID=$!
  URL=""
  while [[ -z $URL ]]; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "porch serve exited before listening: $(cat "$log")"
    ((SECONDS < deadline)) || fail "porch serve did not print its address within 60 s"
    URL=$(sed -n 's#^Listening on \(http://[^ ]*\)/$#\1#p;T;q' "$log")
    [[ -n $URL ]] || sleep 0.2
  done
  step "porch serve ($1) as $RUN_AS: $URL (pid $SERVER_PID)"
}

# Fetches $URL$1 until it answers 200 with a body containing $2 (an app starts on the first
# view), for at most 120 s.
fetch() {
  local path=$1 want=$2 deadline=$((SECONDS + 120)) code body
  while :; do
    body=$(curl -sS -m 30 -o "$WORK/body" -w '%{http_code}' "$URL$path" || true)
    code=$body
    if [[ $code == 200 ]] && grep -qF "$want" "$WORK/body"; then
      echo "   GET $path: 200, has \"$want\""
      return 0
    fi
    ((SECONDS < deadline)) || fail "GET $URL$path: status $code, body: $(head -c 400 "$WORK/body")"
    sleep 0.5
  done
}

start_server first
# `--data-dir` is global, given after the command (`porch --data-dir D deploy` is the window's
# form and refuses a command).
porch_cli() { as_user /usr/bin/porch "$1" --data-dir "$DATA" "${@:2}"; }
step "porch deploy site (static)"
site_url=$(porch_cli deploy "$WORK/src/site" --name site | tail -1)
site_path=${site_url#*://*/}
site_path="/$site_path"
fetch "$site_path" "<h1>Fixture site</h1>"
key=$(porch_cli key new --name package-check | tail -1)
[[ -n $key ]] || fail "porch key new printed no key"
step "deploy api (FastAPI) through the API"
tar -C "$WORK/src/api" -czf "$WORK/client/api.tar.gz" .
curl -sS -f -m 900 -H "Authorization: Key $key" -H "Content-Type: application/octet-stream" --data-binary @"$WORK/client/api.tar.gz" \
  -o "$WORK/client/deployed.json" "$URL/__api__/porch/deploy?filename=api.tar.gz&name=api" ||
  fail "the FastAPI deploy failed: $(cat "$WORK/client/deployed.json" 2>/dev/null)"
json() { python3 -c 'import json, sys; d = json.load(sys.stdin); exec(sys.argv[1])' "$1"; }
task=$(json 'print(d["task_id"])' <"$WORK/client/deployed.json")
api_url=$(json 'print(d["content"]["content_url"])' <"$WORK/client/deployed.json")
curl -sS -f -m 30 -H "Authorization: Key $key" "$URL/__api__/v1/tasks/$task" |
  json 'print("\n".join(d["output"]))' >"$WORK/client/deploy.log"
grep -E "Building the environment with uv .*\(/usr/lib/porch/uv\)" "$WORK/client/deploy.log" ||
  fail "the deploy log does not show /usr/lib/porch/uv building the environment: $(cat "$WORK/client/deploy.log")"
grep -qE "fastapi==" "$WORK/client/deploy.log" || fail "the deploy log shows no fastapi install: $(cat "$WORK/client/deploy.log")"
api_path="/${api_url#*://*/}"
fetch "$api_path" '"hello":"porch"'
stop_server

# ---- 4. upgrade over a lower version -------------------------------------------------------
prev="${version}~previous"
step "repacking as version $prev, installing it, then $version over it"
dpkg-deb -R "$deb" "$WORK/prev"
sed -i "s/^Version: .*/Version: $prev/" "$WORK/prev/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -z1 -b "$WORK/prev" "$WORK/porch_prev.deb" >/dev/null
rm -rf "$WORK/prev"
(cd "$WORK" && apt-get -o DPkg::Lock::Timeout=300 install -y -q --allow-downgrades --no-install-recommends ./porch_prev.deb)
[[ $(dpkg-query -W -f='${Version}' "$PKG") == "$prev" ]] || fail "version $prev did not install"
(cd "$WORK" && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "./$(basename "$deb")")
[[ $(dpkg-query -W -f='${Version}' "$PKG") == "$version" ]] || fail "the upgrade to $version did not install"
start_server upgraded
fetch "$site_path" "<h1>Fixture site</h1>"
fetch "$api_path" '"hello":"porch"'
stop_server

# ---- 5. removal ----------------------------------------------------------------------------
snapshot() { (cd "$DATA" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
snapshot >"$WORK/before"
[[ -s $WORK/before ]] || fail "the data folder $DATA is empty"
step "apt-get remove $PKG"
apt-get -o DPkg::Lock::Timeout=300 remove -y -q "$PKG"
[[ ! -e /usr/bin/porch && ! -e /usr/lib/porch/porch-shell && ! -e /usr/lib/porch/uv ]] ||
  fail "/usr/bin/porch, /usr/lib/porch/porch-shell or /usr/lib/porch/uv is still there after removal"
snapshot >"$WORK/after"
diff -u "$WORK/before" "$WORK/after" || fail "removing the package changed the data folder"
echo "data folder untouched: $(wc -l <"$WORK/after") files"
step "PASS: lintian, install, Depends, serve as $RUN_AS with the packaged uv, upgrade from $prev, remove"
