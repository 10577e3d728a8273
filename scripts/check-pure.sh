#!/usr/bin/env bash
# Runs the pure tests (vitest project 'pure') in a copy of the package whose addon cannot load:
# no build/, no prebuilds/, so node-gyp-build finds no binary (scripts/ and the workflow come along:
# pure tests read them). A test under test/pure/ that loads the addon, itself or through an
# import, fails here. Extra arguments go to vitest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r "$root/lib" "$root/test" "$root/scripts" "$root/.github" "$root/package.json" "$root/tsconfig.json" "$root/tsconfig.test.json" "$root/vitest.config.ts" "$copy/"
ln -s "$root/node_modules" "$copy/node_modules"
cd "$copy"
# The copy must really be without its addon, or this proves nothing.
if node -e "require('node-gyp-build')(process.cwd())" 2>/dev/null; then
  echo "check-pure: the addon still loads in $copy" >&2
  exit 1
fi
npx vitest run --project pure "$@"
