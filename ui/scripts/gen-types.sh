#!/usr/bin/env bash
# Regenerates ui/src/api/generated/*.ts from the engine's Rust types (ts-rs, engine feature
# `ts`). With --check, fails when the committed files differ from what the Rust says.
#
#   bash ui/scripts/gen-types.sh [--check]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/ui/src/api/generated"
TMP="$(mktemp -d /tmp/porch-ts.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
# ts-rs writes one file per type from the `export_bindings_*` tests it derives.
(cd "$ROOT" && TS_RS_EXPORT_DIR="$TMP" cargo test -q -p porch-engine --features ts --lib export_bindings >/dev/null)
if [[ ${1:-} == --check ]]; then
  if ! diff -r "$TMP" "$OUT"; then
    echo "ui/src/api/generated is stale: run bash ui/scripts/gen-types.sh and commit the result" >&2
    exit 1
  fi
  echo "ui/src/api/generated matches the Rust types ($(find "$TMP" -name '*.ts' | wc -l) files)"
else
  rm -rf "$OUT"
  mkdir -p "$OUT"
  cp -r "$TMP"/. "$OUT"/
  echo "wrote $(find "$OUT" -name '*.ts' | wc -l) files to ui/src/api/generated"
fi
