#!/usr/bin/env bash
# CI step: build (or reuse) the real kube-apiserver + etcd, helm, kubeconform and kube-score, then run the
# Kubernetes tests against them. Meant to be called from .ci/run:
#
#   scripts/ci-envtest.sh                # build or reuse, then node --test test/kubernetes/crd-and-rbac.test.ts
#   scripts/ci-envtest.sh --build-only   # only build or reuse the binaries
#
# Needs Go >= 1.26 (on PATH or at /usr/local/go/bin) and the Go module proxy for the first build; later
# runs reuse ${DATASTATE_ENVTEST_CACHE:-~/.cache/datastate-envtest} and Go's build cache and start in seconds.
# With DATASTATE_TEST_KUBECONFIG set, nothing is built and the tests use that cluster.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ -z "${DATASTATE_TEST_KUBECONFIG:-}" ]; then
  t0=$SECONDS
  scripts/envtest.sh build
  echo "ci-envtest: binaries ready in $((SECONDS - t0)) s ($(scripts/envtest.sh bin-dir))"
fi
[ "${1:-}" = "--build-only" ] && exit 0

PATH="$(scripts/ensure-node.sh):$PATH"
export PATH
# One suite at a time: each starts its own etcd + kube-apiserver (~300 MB, 2 cores).
node --test --test-concurrency=1 test/kubernetes/crd-and-rbac.test.ts
