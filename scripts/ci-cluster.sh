#!/usr/bin/env bash
# CI step for the single-node cluster suite (test/cluster/): build (or reuse) its binaries and the image.
#   scripts/ci-cluster.sh --build-only   scripts/cluster.sh build (cached; the test builds the image itself)
#   scripts/ci-cluster.sh                the same, then node --test test/cluster/
#   scripts/ci-cluster.sh --cleanup      remove a cluster a killed test run left behind (demo data, cluster-down)
# Without root the cluster cannot run: it says so and does nothing (test/cluster/ then skips itself).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "${1:-}" = --cleanup ]; then
  # Only a cluster a test started (test/helpers/cluster.ts writes the marker), never one of make cluster-up.
  if [ -f .datastate/cluster/started-by-test ]; then
    scripts/cluster-demo.sh clean >/dev/null 2>&1 || true
    scripts/cluster.sh down || true
  fi
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ci-cluster: not root: the single-node cluster suite (test/cluster/) is skipped" >&2
  exit 0
fi
t0=$SECONDS
scripts/cluster.sh build # the image is built by test/helpers/cluster.ts, from the sources as they are then
echo "ci-cluster: cluster binaries ready in $((SECONDS - t0)) s" >&2
[ "${1:-}" = --build-only ] && exit 0
PATH="$(scripts/ensure-node.sh):$PATH"
export PATH
node --test --test-concurrency=1 test/cluster/*.test.ts
