#!/usr/bin/env bash
# Checks the installed package's Depends against what its programs really load.
#
#   bash .ci/deb/check-depends.sh [PACKAGE]      # default: porch (must be installed)
#
# Every shared library `ldd` shows for /usr/bin/porch, /usr/lib/porch/porch-shell (the
# window) and /usr/lib/porch/uv, and the
# libraries Porch opens at run time (the tray's appindicator, which ldd cannot see), is
# mapped to its Debian package with `dpkg -S`; each of those packages must be in Depends or
# be pulled in by it (apt-cache's dependency closure of Depends). A library nothing
# provides, or a package Depends does not bring, fails with its name. Porch's run-time
# programs that are not libraries (python3, python3-venv) must be in Depends by name.
set -euo pipefail
pkg=${1:-porch}
BINARIES=(/usr/bin/porch /usr/lib/porch/porch-shell /usr/lib/porch/uv)
# Loaded with dlopen, so invisible to ldd: libappindicator-sys opens the tray library.
DLOPENED=(libayatana-appindicator3.so.1)
# Programs Porch runs (environments are built with `python3 -m venv` semantics by uv and
# the pip fallback).
PROGRAMS=(python3 python3-venv)

status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
if [[ $status != "install ok installed" ]]; then
  echo "ERROR: package $pkg is not installed (status: ${status:-unknown})" >&2
  exit 1
fi
depends=$(dpkg-query -W -f='${Pre-Depends}, ${Depends}' "$pkg")
# Package names of Depends (alternatives: every one counts; versions dropped).
mapfile -t declared < <(tr ',|' '\n\n' <<<"$depends" | sed 's/([^)]*)//g; s/:[a-z0-9]*//; s/[[:space:]]//g' | sed '/^$/d' | sort -u)
echo "Depends: ${declared[*]}"
# Everything Depends brings, by name (virtual packages appear as <name>).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances "${declared[@]}" | sed -n 's/^<\{0,1\}\([^ >]*\)>\{0,1\}$/\1/p' | sed 's/:.*//' | sort -u)

# The package that owns a file, trying the merged-/usr twin of its path too.
owner() {
  local path=$1 real candidates c
  real=$(readlink -f "$path")
  candidates=("$path" "$real")
  for c in "$path" "$real"; do
    case $c in
      /usr/lib/*) candidates+=("${c#/usr}") ;;
      /lib/* | /lib64/*) candidates+=("/usr$c") ;;
    esac
  done
  for c in "${candidates[@]}"; do
    if out=$(dpkg -S "$c" 2>/dev/null); then
      sed -n '1s/^\([^:,]*\).*/\1/p' <<<"$out"
      return 0
    fi
  done
  return 1
}

failed=0
declare -A needed=()
for bin in "${BINARIES[@]}"; do
  if [[ ! -x $bin ]]; then
    echo "ERROR: $bin is not installed by $pkg" >&2
    failed=1
    continue
  fi
  while read -r line; do
    case $line in
      *"not found"*)
        echo "ERROR: $bin needs ${line%% *}, which no installed file provides (ldd: $line)" >&2
        failed=1
        ;;
      *"=> /"*) lib=${line#*=> }; lib=${lib%% (*}; needed[$lib]="$bin" ;;
      /*) lib=${line%% (*}; needed[$lib]="$bin" ;;
    esac
  done < <(ldd "$bin")
done
for soname in "${DLOPENED[@]}"; do
  # awk reads to the end: an early `exit` would kill ldconfig with SIGPIPE once its list
  # outgrows the pipe's buffer (64 KiB), and pipefail would stop this script with 141.
  lib=$(ldconfig -p | awk -v s="$soname" '$1 == s && !found { print $NF; found = 1 }')
  if [[ -z $lib ]]; then
    echo "ERROR: $soname (opened at run time) is not installed: its package must be in Depends" >&2
    failed=1
    continue
  fi
  needed[$lib]="dlopen"
done

checked=0
for lib in "${!needed[@]}"; do
  if ! p=$(owner "$lib"); then
    echo "ERROR: ${needed[$lib]} loads $lib, which belongs to no Debian package" >&2
    failed=1
    continue
  fi
  checked=$((checked + 1))
  if ! grep -qxF "$p" <<<"$closure"; then
    echo "ERROR: ${needed[$lib]} loads $lib from package $p, which Depends neither names nor pulls in: add $p to bundle.linux.deb.depends in tauri.conf.json" >&2
    failed=1
  fi
done
for p in "${PROGRAMS[@]}"; do
  # (A here-string, not a pipe: under pipefail, `grep -q` leaving early can kill the
  # writer with SIGPIPE.)
  if ! grep -qxF "$p" <<<"$(printf '%s\n' "${declared[@]}")"; then
    echo "ERROR: Porch runs $p, but Depends does not name it: add $p to bundle.linux.deb.depends in tauri.conf.json" >&2
    failed=1
  fi
done
if [[ $failed -ne 0 ]]; then
  exit 1
fi
echo "Depends covers all $checked libraries of ${BINARIES[*]} and ${DLOPENED[*]}, and names ${PROGRAMS[*]}"
