#!/usr/bin/env bash
# Builds Porch's .deb with Tauri's own bundler and prints its path.
#
#   bash .ci/deb/build.sh            # release build (`bash .ci/start package`)
#   bash .ci/deb/build.sh --debug    # the dev profile (CI's `package` stage: it reuses what the
#                                    # `gui` stage compiled; the package is the same otherwise)
#
# What goes in:
# - /usr/bin/porch: the release binary (the desktop app with no arguments, the CLI and the
#   headless server otherwise), built by `tauri build --bundles deb`; the package's metadata,
#   Depends and the .desktop entry come from tauri.conf.json (bundle, bundle.linux.deb).
# - /usr/lib/porch/porch-shell: the window's program, which `porch` starts (not a command:
#   moved out of /usr/bin, where the bundler puts every program of the package).
# - /usr/lib/porch/uv: uv from the PyPI wheel of UV_VERSION (the wheel carries the binary),
#   checked against its pinned sha256 (cached in $CARGO_TARGET_DIR/package/). Porch tries it before any other uv
#   (src-tauri/engine/src/environment/mod.rs, `uv_candidates`).
# - /usr/share/lintian/overrides/porch: the lintian warnings accepted, each with its reason.
# - Suggests (Tauri's deb config has no field for it): added to the control file after the
#   bundler ran, both programs stripped of their symbols (as dh_strip would), and the package
#   rebuilt with dpkg-deb as root-owned.
#
# Needs: the Rust toolchain, npm (ui/node_modules is installed when missing), python3 with
# pip (or uv) to download the wheel, dpkg-deb. Output: the last line is the .deb's path,
# $CARGO_TARGET_DIR/<release|debug>/bundle/deb/porch_<version>_<arch>.deb.
set -euo pipefail
profile=release
tauri_flags=()
case ${1:-} in
  "") ;;
  --debug) profile=debug tauri_flags=(--debug) ;;
  *) echo "usage: bash .ci/deb/build.sh [--debug]" >&2; exit 2 ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

# uv shipped inside the package: one version, one hash per architecture.
UV_VERSION=0.13.9
declare -A UV_WHEEL_PLATFORM=([amd64]=manylinux_2_17_x86_64)
declare -A UV_WHEEL_SHA256=([amd64]=d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19)
SUGGESTS="r-base-core, pandoc, chromium"
MAINTAINER="Porch <porch@porch.app>"

arch=$(dpkg --print-architecture)
if [[ -z ${UV_WHEEL_SHA256[$arch]:-} ]]; then
  echo "ERROR: no pinned uv wheel for the $arch architecture: add its platform tag and sha256 to UV_WHEEL_PLATFORM and UV_WHEEL_SHA256 in .ci/deb/build.sh" >&2
  exit 1
fi

work="$TARGET/package"
uv_dir="$work/uv-$UV_VERSION-$arch"
if [[ ! -x $uv_dir/uv ]]; then
  echo "== downloading uv $UV_VERSION ($arch) from PyPI"
  rm -rf "$uv_dir" "$work/wheel"
  mkdir -p "$uv_dir" "$work/wheel"
  printf 'uv==%s --hash=sha256:%s\n' "$UV_VERSION" "${UV_WHEEL_SHA256[$arch]}" >"$work/uv-requirements.txt"
  pip_args=(download --no-deps --only-binary=:all: --platform "${UV_WHEEL_PLATFORM[$arch]}"
    --require-hashes -r "$work/uv-requirements.txt" -d "$work/wheel")
  if python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip -q "${pip_args[@]}"
  elif command -v uvx >/dev/null 2>&1; then
    uvx pip -q "${pip_args[@]}"
  else
    echo "ERROR: downloading the uv wheel needs pip (apt-get install python3-pip) or uv" >&2
    exit 1
  fi
  # The wheel is a zip; the binary is its data script `uv-<version>.data/scripts/uv`.
  python3 - "$work"/wheel/uv-"$UV_VERSION"-*.whl "$uv_dir/uv" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(".data/scripts/uv")]
    if len(names) != 1:
        sys.exit(f"ERROR: {wheel} has no single .data/scripts/uv (found {names})")
    with z.open(names[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  chmod 0755 "$uv_dir/uv"
  rm -rf "$work/wheel"
fi
got=$("$uv_dir/uv" --version)
if [[ $got != "uv $UV_VERSION"* ]]; then
  echo "ERROR: $uv_dir/uv says '$got', expected uv $UV_VERSION" >&2
  exit 1
fi
echo "packaged uv: $got"

if [[ ! -x ui/node_modules/.bin/tauri ]]; then
  npm ci --prefix ui --no-audit --no-fund
fi

# The parts of the deb config that name files outside the tree (merged over tauri.conf.json).
version=$(python3 -c 'import json; print(json.load(open("tauri.conf.json"))["version"])')
# A native package's changelog (Debian's format), for this version.
cat >"$work/changelog" <<CHANGES
porch ($version) unstable; urgency=medium

  * Porch $version, built with Tauri's bundler from $(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree').

 -- Porch <porch@porch.app>  $(date -R)
CHANGES
gzip -9n -f "$work/changelog"
config=$(python3 - "$uv_dir/uv" "$ROOT/.ci/deb" "$work/changelog.gz" <<'PY'
import json, sys
uv, deb, changelog = sys.argv[1], sys.argv[2], sys.argv[3]
# Tauri's own `changelog` option puts it under /usr/share/doc/<productName> (Porch), so it goes in
# as a file of the package's doc folder instead.
print(json.dumps({"bundle": {"active": True, "linux": {"deb": {"files": {
    "/usr/lib/porch/uv": uv,
    "/usr/share/doc/porch/changelog.gz": changelog,
    "/usr/share/lintian/overrides/porch": deb + "/lintian-overrides",
    "/usr/share/doc/porch/copyright": deb + "/copyright",
}}}}}))
PY
)
out_dir="$TARGET/$profile/bundle/deb"
rm -f "$out_dir"/*.deb
echo "== tauri build ${tauri_flags[*]} --bundles deb"
ui/node_modules/.bin/tauri build "${tauri_flags[@]}" --bundles deb --config "$config"
shopt -s nullglob
debs=("$out_dir"/*_"$version"_"$arch".deb)
if [[ ${#debs[@]} -ne 1 ]]; then
  echo "ERROR: expected one .deb for $version/$arch in $out_dir, found: ${debs[*]:-none}" >&2
  exit 1
fi
deb=${debs[0]}

# Suggests, which Tauri's deb config cannot express, then the package rebuilt as root-owned.
tree="$work/deb-tree"
rm -rf "$tree"
dpkg-deb -R "$deb" "$tree"
# The control file: Suggests, the maintainer with an address (Tauri writes the publisher's
# name alone), and the long description wrapped (Tauri writes it on one line).
python3 - "$tree/DEBIAN/control" "$SUGGESTS" "$MAINTAINER" <<'PY'
import sys, textwrap
path, suggests, maintainer = sys.argv[1:4]
out = []
for line in open(path).read().splitlines():
    if line.startswith(("Suggests:", "Maintainer:")):
        continue
    if line.startswith(" ") and len(line) > 80:
        out += [" " + l for l in textwrap.wrap(line.strip(), 78)]
        continue
    out.append(line)
    if line.startswith("Depends:"):
        out.append("Suggests: " + suggests)
    if line.startswith("Version:"):
        out.append("Maintainer: " + maintainer)
open(path, "w").write("\n".join(out) + "\n")
PY
mkdir -p "$tree/usr/lib/porch"
if [[ -e $tree/usr/bin/porch-shell ]]; then
  mv "$tree/usr/bin/porch-shell" "$tree/usr/lib/porch/porch-shell"
else
  install -m 0755 "$TARGET/$profile/porch-shell" "$tree/usr/lib/porch/porch-shell"
fi
for program in "$tree/usr/bin/porch" "$tree/usr/lib/porch/porch-shell"; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$program"
done
# md5sums and Installed-Size (KiB) of what the package now holds.
(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum |
  sed 's#  \./#  #') >"$tree/DEBIAN/md5sums"
size=$(du -k -s --exclude=DEBIAN "$tree" | cut -f1)
sed -i "s/^Installed-Size: .*/Installed-Size: $size/" "$tree/DEBIAN/control"
# Tauri names the package after productName (Porch); the .deb's own file name stays lower case.
final="$out_dir/porch_${version}_${arch}.deb"
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz -b "$tree" "$final" >/dev/null
rm -rf "$tree"
echo "== built"
dpkg-deb -f "$final" Package Version Architecture Depends Suggests
echo "$final"
