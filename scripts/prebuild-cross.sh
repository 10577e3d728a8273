#!/usr/bin/env bash
# Cross-compiles the addon and the C programs (004's three and the tool's own) for linux-ARCH (glibc) into
# prebuilds/linux-ARCH/ with Debian's cross toolchain for it:
#   arm64  g++-aarch64-linux-gnu        (npm run prebuild:arm64; npm pack ships it)
#   ppc64  g++-powerpc64le-linux-gnu    (npm run prebuild:ppc64; little-endian, Node's ppc64)
# The build runs in a scratch copy of the sources, so build/ keeps this machine's own build
# (node-gyp-build and runProgram prefer build/).
#
# Usage: scripts/prebuild-cross.sh arm64|ppc64
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
arch="${1:-}"
# Per architecture: the toolchain's prefix, its Debian package, uname -m, and ELF e_machine.
case "$arch" in
  arm64) prefix=aarch64-linux-gnu package=g++-aarch64-linux-gnu machine=aarch64 elf=183 ;;
  ppc64) prefix=powerpc64le-linux-gnu package=g++-powerpc64le-linux-gnu machine=ppc64le elf=21 ;;
  *) echo "prebuild-cross: usage: scripts/prebuild-cross.sh arm64|ppc64" >&2; exit 2 ;;
esac

if [ "$(uname -m)" = "$machine" ]; then
  echo "prebuild-cross: this machine is $arch: the host prebuild (npm run prebuild:host) is the linux-$arch one"
  exit 0
fi

missing=()
for tool in gcc g++ strip; do
  command -v "$prefix-$tool" >/dev/null 2>&1 || missing+=("$prefix-$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prebuild-cross: the $arch cross toolchain is missing (${missing[*]}): apt-get install $package ${package/g++/gcc}" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/overcommit-lab-$arch-XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$root/binding.gyp" "$root/package.json" "$root/native" "$work/"
ln -s "$root/node_modules" "$work/node_modules"

# N-API headers are the same for every architecture: the host's Node headers serve.
npm_config_nodedir="$(node "$root/scripts/node-headers.mjs")"
export npm_config_nodedir
export CC="$prefix-gcc" CXX="$prefix-g++" LINK="$prefix-g++" AR="$prefix-ar"
cd "$work"
"$root/node_modules/.bin/prebuildify" --napi --strip --strip-bin "$prefix-strip" --arch "$arch" \
  --target="$(node -p process.versions.node)" --artifacts "$work/build/Release/programs" --out "$root"

# What was built must be that architecture's code (a host compiler picked up by mistake would not be).
for f in "$root/prebuilds/linux-$arch/overcommit-lab.node" "$root/prebuilds/linux-$arch"/ocl-{settings,sparse,rlimit,malloc,exec,ptrace}; do
  got="$(od -An -tu2 -j18 -N2 "$f" | tr -d ' ')"
  if [ "$got" != "$elf" ]; then
    echo "prebuild-cross: $f is not $arch code (ELF e_machine $got, expected $elf)" >&2
    exit 1
  fi
done
echo "prebuild-cross: prebuilds/linux-$arch: $(cd "$root/prebuilds/linux-$arch" && ls | tr '\n' ' ')"
