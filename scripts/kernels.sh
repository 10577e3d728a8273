#!/usr/bin/env bash
# Fetches the kernel matrix's Debian kernels into a cache outside the repository and prints, one
# per line, "<name> <path>" for every kernel `overcommit-lab vm --kernel` takes:
#   5.1   ../shared/kernels/vmlinuz-5.1.15-kvmlab (beside the repository; built in, no modules)
#   5.10  Debian bullseye's linux-image-*-amd64-unsigned, unpacked
#   6.1   Debian bookworm's
#   6.12  Debian trixie's
# The packages come through a private apt configuration (its own sources, lists and archives in
# the cache), so the machine's own apt sources and lists stay untouched. A kernel already in the
# cache is not fetched again.
#
# Usage: scripts/kernels.sh [NAME...]      (default: all four)
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

# fetch SUITE NAME: unpacks the newest plain-flavour unsigned amd64 kernel of SUITE into
# $cache/NAME-<version> and prints that directory.
fetch() {
  local suite="$1" name="$2"
  local apt="$cache/apt-$suite"
  local existing
  existing="$(find "$cache" -maxdepth 1 -type d -name "$name-*" | sort | tail -n1)"
  if [ -n "$existing" ] && compgen -G "$existing/boot/vmlinuz-*" >/dev/null; then
    echo "$existing"
    return
  fi
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc"
  echo "deb $(mirror) $suite main" >"$apt/etc/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State=$apt" -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives"
    -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  echo "kernels: apt-get update for $suite" >&2
  apt-get "${opts[@]}" -qq update >&2
  # linux-image-amd64 depends on the signed image of the suite's current ABI; its unsigned twin
  # is the same kernel without the Secure Boot signature.
  local signed
  signed="$(apt-cache "${opts[@]}" depends linux-image-amd64 | grep -oE 'linux-image-[0-9][^ ]*-amd64' | head -n1)"
  [ -n "$signed" ] || { echo "kernels: no linux-image-amd64 in $suite" >&2; return 1; }
  local pkg="$signed-unsigned"
  echo "kernels: downloading $pkg" >&2
  (cd "$apt/archives" && apt-get "${opts[@]}" -qq download "$pkg" >&2)
  local deb version dir
  deb="$(ls -t "$apt/archives/$pkg"_*.deb | head -n1)"
  version="${signed#linux-image-}"
  dir="$cache/$name-$version"
  rm -rf "$dir.tmp"
  dpkg -x "$deb" "$dir.tmp"
  mv "$dir.tmp" "$dir"
  rm -f "$deb"
  echo "$dir"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(5.1 5.10 6.1 6.12)
for n in "${names[@]}"; do
  case "$n" in
    5.1) dir="$(shared_kernels)" && echo "5.1 $dir/vmlinuz-5.1.15-kvmlab" ;;
    5.10) dir="$(fetch bullseye 5.10)" && echo "5.10 $dir" ;;
    6.1) dir="$(fetch bookworm 6.1)" && echo "6.1 $dir" ;;
    6.12) dir="$(fetch trixie 6.12)" && echo "6.12 $dir" ;;
    *) echo "kernels: unknown kernel '$n' (known: 5.1 5.10 6.1 6.12)" >&2; exit 2 ;;
  esac
done
