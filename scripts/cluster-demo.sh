#!/usr/bin/env bash
# The operator at work on the cluster of `make cluster-up` (scripts/cluster.sh):
#   scripts/cluster-demo.sh [DOCS]        (make cluster-demo DOCS=200)
# 1. a throwaway PostgreSQL listening on the node's bridge address (10.244.0.1:55433), which the pods reach;
# 2. the PMC corpus and a small SYNTHETIC model (random weights; `datastate gen-model --preset small`) in
#    .datastate/cluster-demo/, given to the controller as hostPath volumes and to the workers as a
#    hostPath-backed PersistentVolume (the chart's workers.modelClaim);
# 3. `make k8s-install` with the image of `make image` (localhost/datastate:<appVersion>, never pulled);
# 4. `make k8s-ensure-ragas DOCS=N`, printing the DatasetState as `kubectl get dss -w` does meanwhile.
#   scripts/cluster-demo.sh clean   uninstall, delete the DatasetStates, stop the PostgreSQL, remove the data
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$root/scripts/cluster.sh" env)"
data="${DATASTATE_DEMO_DIR:-$root/.datastate/cluster-demo}"
node_ip=10.244.0.1
pg_port=55433
export DATASTATE_PG_DIR="$data/pg" DATASTATE_PG_PORT=$pg_port DATASTATE_PG_LISTEN="$node_ip" \
  DATASTATE_PG_HOST="$node_ip" DATASTATE_PG_ALLOW_CIDR=10.244.0.0/24
corpus="${DATASTATE_PMC_CORPUS:-$root/../shared/corpus/pmc-oa-1536.tar.gz}"
app_version="$(awk -F'"' '/^appVersion:/ { print $2 }' "$root/charts/datastate/Chart.yaml")"
image="localhost/datastate:$app_version"
log() { echo "cluster-demo: $*" >&2; }

if [ "${1:-}" = clean ]; then
  if kubectl get --raw /readyz >/dev/null 2>&1; then
    kubectl delete dss --all --wait=true --timeout=60s >/dev/null 2>&1 || true
    helm -n datastate-system uninstall datastate --wait >/dev/null 2>&1 || true
    kubectl delete pvc datastate-models --ignore-not-found --wait=false >/dev/null 2>&1 || true
    kubectl delete pv datastate-demo-models --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  if [ -d "$data/pg" ]; then "$root/scripts/ci-databases.sh" stop >/dev/null 2>&1 || true; fi
  rm -rf "$data"
  log "cleaned"
  exit 0
fi
docs="${1:-200}"
kubectl get --raw /readyz >/dev/null 2>&1 || { log "no cluster is running: make cluster-up first"; exit 1; }
[ -f "$corpus" ] || { log "no PMC corpus at $corpus (set DATASTATE_PMC_CORPUS)"; exit 1; }

# Data the pods read: world-readable, since they run as non-root users.
mkdir -p "$data/pmc-oa" "$data/models"
[ -f "$data/pmc-oa/pmc-oa.tar.gz" ] || cp "$corpus" "$data/pmc-oa/pmc-oa.tar.gz"
if [ ! -f "$data/models/encoder/model.onnx" ]; then
  log "generating the small SYNTHETIC model (random weights) into $data/models/encoder"
  (cd "$root" && PATH="$("$root/scripts/ensure-node.sh"):$PATH" node src/cli/main.ts gen-model --preset small "$data/models/encoder" >/dev/null)
fi
dim="$(jq -r '.hidden_size // .hiddenSize // empty' "$data/models/encoder/config.json" 2>/dev/null || true)"
dim="${dim:-32}"
chmod -R a+rX "$data/pmc-oa" "$data/models"
chmod a+rx "$data" "$(dirname "$data")"

# Always the demo's own server on the node address: a test PostgreSQL named by DATASTATE_TEST_PG_URL (make test
# exports one on loopback) would be reused by ci-databases.sh, and the pods cannot reach loopback.
unset DATASTATE_TEST_PG_URL
eval "$("$root/scripts/ci-databases.sh" start)"
db_url="postgres://datastate:datastate@$node_ip:$pg_port/postgres"

kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: { name: datastate-demo-models }
spec:
  capacity: { storage: 1Gi }
  accessModes: [ReadOnlyMany]
  storageClassName: datastate-demo
  persistentVolumeReclaimPolicy: Retain
  claimRef: { namespace: default, name: datastate-models }
  hostPath: { path: "$data/models", type: Directory }
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: datastate-models, namespace: default }
spec:
  accessModes: [ReadOnlyMany]
  storageClassName: datastate-demo
  volumeName: datastate-demo-models
  resources: { requests: { storage: 1Gi } }
---
apiVersion: v1
kind: Secret
metadata: { name: ragas-db, namespace: default }
stringData: { url: "$db_url" }
EOF

# No kube-proxy here: the kubernetes Service's ClusterIP is not routable, so the controller is pointed at
# the API server on the node's address (the pods' KUBERNETES_SERVICE_HOST, which kubelet would set to the
# ClusterIP; an env entry of the container takes precedence).
api_port="$(sed -n 's|.*server: "https://[^:]*:\([0-9]*\)".*|\1|p' "$KUBECONFIG")"
values="$data/values.yaml"
cat > "$values" <<EOF
image: { repository: localhost/datastate, tag: "$app_version", pullPolicy: Never }
controller:
  extraEnv:
    - { name: KUBERNETES_SERVICE_HOST, value: "$node_ip" }
    - { name: KUBERNETES_SERVICE_PORT, value: "$api_port" }
extraVolumes:
  - { name: corpus, hostPath: { path: "$data/pmc-oa", type: Directory } }
  - { name: models, hostPath: { path: "$data/models", type: Directory } }
extraVolumeMounts:
  - { name: corpus, mountPath: /data/pmc-oa, readOnly: true }
  - { name: models, mountPath: /models, readOnly: true }
workers:
  modelClaim: datastate-models
EOF
log "installing the chart with $image"
make -s -C "$root" k8s-install K8S_HELM_FLAGS="-f $values" K8S_INSTALL_WAIT=3m

name="ragas-$docs"
[ "$docs" = 1000 ] && name=ragas-1k
kubectl get dss -w &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true' EXIT
# A short wait (5 min + 1 s per document; K8S_TIMEOUT overrides), and sooner when the DatasetState stays
# Failed or Degraded (K8S_FAIL_AFTER): a demo that cannot work says why at once, not after make's 2 h.
if ! make -s -C "$root" k8s-ensure-ragas DOCS="$docs" K8S_DIALECT=postgres \
  K8S_SOURCE=/data/pmc-oa/pmc-oa.tar.gz K8S_MODEL=/models/encoder K8S_DIM="$dim" \
  K8S_TIMEOUT="${K8S_TIMEOUT:-$((300 + docs))s}" K8S_FAIL_AFTER="${K8S_FAIL_AFTER:-60}"; then
  kill $watch_pid 2>/dev/null || true
  log "dss/$name did not become Ready (its status is above); the pods and the controller's last words:"
  kubectl get pods -A -o wide >&2 || true
  kubectl -n datastate-system logs -l app.kubernetes.io/name=datastate --tail=15 --prefix >&2 || true
  exit 1
fi
kill $watch_pid 2>/dev/null || true
log "done: kubectl get dss $name; make k8s-status; clean up with scripts/cluster-demo.sh clean, then make cluster-down"
