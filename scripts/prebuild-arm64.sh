#!/usr/bin/env bash
# Cross-compiles the addon and 004's three programs for linux-arm64 (glibc) into
# prebuilds/linux-arm64/ with Debian's aarch64-linux-gnu toolchain
# (apt-get install g++-aarch64-linux-gnu). The build runs in a scratch copy of the sources, so
# build/ keeps this machine's own build (node-gyp-build and runProgram prefer build/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix=aarch64-linux-gnu

if [ "$(uname -m)" = aarch64 ]; then
  echo "prebuild-arm64: this machine is arm64: the host prebuild (npm run prebuild:host) is the linux-arm64 one"
  exit 0
fi

missing=()
for tool in gcc g++ strip; do
  command -v "$prefix-$tool" >/dev/null 2>&1 || missing+=("$prefix-$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prebuild-arm64: the cross toolchain is missing (${missing[*]}): apt-get install g++-aarch64-linux-gnu gcc-aarch64-linux-gnu" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/overcommit-lab-arm64-XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$root/binding.gyp" "$root/package.json" "$root/native" "$work/"
ln -s "$root/node_modules" "$work/node_modules"

# N-API headers are the same for every architecture: the host's Node headers serve.
npm_config_nodedir="$(node "$root/scripts/node-headers.mjs")"
export npm_config_nodedir
export CC="$prefix-gcc" CXX="$prefix-g++" LINK="$prefix-g++" AR="$prefix-ar"
cd "$work"
"$root/node_modules/.bin/prebuildify" --napi --strip --strip-bin "$prefix-strip" --arch arm64 \
  --target="$(node -p process.versions.node)" --artifacts "$work/build/Release/programs" --out "$root"

# What was built must be arm64 code (a host compiler picked up by mistake would not be).
for f in "$root"/prebuilds/linux-arm64/overcommit-lab.node "$root"/prebuilds/linux-arm64/ocl-{settings,sparse,rlimit,malloc,exec}; do
  machine="$(od -An -tu2 -j18 -N2 "$f" | tr -d ' ')"
  if [ "$machine" != 183 ]; then
    echo "prebuild-arm64: $f is not an AArch64 ELF file (e_machine $machine)" >&2
    exit 1
  fi
done
echo "prebuild-arm64: prebuilds/linux-arm64: $(cd "$root/prebuilds/linux-arm64" && ls | tr '\n' ' ')"
