#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine (docs/testing-kubernetes.md): etcd, kube-apiserver,
# kube-controller-manager (all controllers, service-account signing key), kube-scheduler, and a kubelet running
# pods with containerd + runc on a CNI bridge network. Built from the same Go modules as scripts/envtest.sh.
#
#   scripts/cluster.sh build            build (once, cached) the binaries; apt-get install containerd, runc,
#                                       containernetworking-plugins, jq, iptables if missing
#   scripts/cluster.sh up [--image F]   start everything (root), import the pause image and the datastate image
#                                       (default .datastate/image/datastate-image.tar, if built), wait for the
#                                       node to be Ready; writes .datastate/cluster/kubeconfig
#   scripts/cluster.sh down             stop everything and undo every change on the host: processes, mounts,
#                                       the cni0 interface, kubepods cgroups, kubelet's iptables chains
#   scripts/cluster.sh env              print export lines: KUBECONFIG, PATH (kubectl, helm)
#   scripts/cluster.sh status | snapshot (what `down` must restore: processes, mounts, links, cgroups, rules,
#                                         sysctls; for the leave-nothing test)
#
# The host's kernel settings are never changed: containerd, its shims and the kubelet run in a private mount
# namespace where read-only files with the values kubelet wants are bind-mounted over /proc/sys entries it
# would otherwise rewrite, and where kubelet's, containerd's and CNI's fixed paths (/var/lib/kubelet,
# /var/log/pods, /run/containerd, /var/lib/cni, ...) are tmpfs mounts, gone with the namespace.
# The node has no kube-proxy and no DNS: Service ClusterIPs are not routable; pods reach each other and the
# host (10.244.0.1, the bridge) by IP. The controller dispatches to EndpointSlice addresses, so it needs neither.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/test/envtest"
dir="${DATASTATE_CLUSTER_DIR:-$root/.datastate/cluster}"
image="$root/.datastate/image/datastate-image.tar"
api_port="${DATASTATE_CLUSTER_API_PORT:-26443}"
etcd_port="${DATASTATE_CLUSTER_ETCD_PORT:-22379}"
bridge=cni0
node_ip=10.244.0.1
pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/24
node_name=datastate-node
pause_image=localhost/datastate-pause:1

die() { echo "cluster: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }

K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod")"
cache="${DATASTATE_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/datastate-envtest}"
cbin="$cache/cluster-$K8S_VERSION/bin"
ebin="$("$root/scripts/envtest.sh" bin-dir)"
helm_bin="$(dirname "$(ls -d "$cache"/helm-*/bin/helm 2>/dev/null | head -1)" 2>/dev/null || true)"

find_go() {
  command -v go 2>/dev/null || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || die "Go is needed (see test/envtest/go.mod)"
}

cmd_build() {
  local go t0 stamp minor ldflags need=()
  "$root/scripts/envtest.sh" build --quiet
  for p in containerd:containerd runc:runc jq:jq iptables:iptables; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
  done
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  go="$(find_go)"
  mkdir -p "$cache"
  exec 9>"$cache/.build.lock"
  flock 9
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  stamp="$({ "$go" version; cat "$mod/go.mod" "$mod/go.sum"; find "$mod/cmd" -name '*.go' | LC_ALL=C sort | xargs cat; echo "$ldflags"; } | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$cbin/../stamp" 2>/dev/null || true)" != "$stamp" ]; then
    log "building kube-controller-manager, kube-scheduler, kubelet, kubectl $K8S_VERSION and the pause process into $cbin"
    log "(cold, after the envtest build: ~8 min on 2 cores; with Go's build cache warm: ~30 s)"
    t0=$SECONDS
    rm -rf "$cbin.tmp" && mkdir -p "$cbin.tmp"
    (cd "$mod" && GOFLAGS=-mod=readonly "$go" build -trimpath -ldflags "$ldflags" -o "$cbin.tmp/" \
      ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubelet ./cmd/kubectl)
    (cd "$mod" && CGO_ENABLED=0 GOFLAGS=-mod=readonly "$go" build -trimpath -ldflags "-s -w" -o "$cbin.tmp/" ./cmd/cluster-pause)
    rm -rf "$cbin" && mv "$cbin.tmp" "$cbin"
    echo "$stamp" > "$cbin/../stamp"
    log "built in $((SECONDS - t0)) s"
  fi
  exec 9>&-
}

# --- helpers ---------------------------------------------------------------------------------------
pid_of() { # the pid in DIR/NAME.pid if alive
  local p
  p="$(cat "$dir/$1.pid" 2>/dev/null || true)"
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}
stop_pid() { # pid grace
  local p="$1" i
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
}
# Processes started from our state directory (containerd shims name its socket), whatever their parent.
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "$dir/" && echo "${p#/proc/}"
  done | grep -vx "$$" || true
}
kubepods_cgroups() { find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name 'kubepods*' 2>/dev/null || true; }

# The sysctls kubelet sets (pkg/kubelet/cm setupKernelTunables) with the values it wants.
KUBELET_SYSCTLS="vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000"
# Fixed paths kubelet, containerd, runc and CNI write to: private tmpfs mounts in the node's mount namespace.
PRIVATE_DIRS="/var/lib/kubelet /var/log/pods /var/log/containers /run/containerd /var/lib/cni /run/netns /var/run/netns /etc/cni/net.d /opt/cni"

# --- inside the private mount namespace: containerd + kubelet ---------------------------------------
cmd_node() { # runs under unshare --mount --propagation private
  local kv key val d
  for kv in $KUBELET_SYSCTLS; do
    key="${kv%%=*}"; val="${kv#*=}"
    if [ "$(cat "/proc/sys/$key")" != "$val" ]; then
      echo "$val" > "$dir/sysctl/${key//\//.}"
      mount --bind -o ro "$dir/sysctl/${key//\//.}" "/proc/sys/$key"
      mount -o remount,bind,ro "/proc/sys/$key"
    fi
  done
  for d in $PRIVATE_DIRS; do
    [ -L "$d" ] && continue
    mount -t tmpfs -o mode=0755,size=2g tmpfs "$d"
  done
  containerd --config "$dir/containerd.toml" >"$dir/logs/containerd.log" 2>&1 </dev/null &
  echo $! > "$dir/containerd.pid"
  local i
  for ((i = 0; i < 300; i++)); do
    ctr --address "$dir/containerd/containerd.sock" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo containerd-ready > "$dir/node.state"
  # The kubelet starts when `up` has imported the images (it says so in node.go).
  while [ ! -f "$dir/node.go" ]; do sleep 0.1; kill -0 "$(cat "$dir/containerd.pid")" || exit 1; done
  "$cbin/kubelet" --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubeconfig" --node-ip "$node_ip" \
    --hostname-override "$node_name" --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" \
    >"$dir/logs/kubelet.log" 2>&1 </dev/null &
  echo $! > "$dir/kubelet.pid"
  wait
}

write_configs() {
  local token="$1"
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/cni/ipam" "$dir/kubelet/pki" "$dir/runc"
  cat > "$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$dir/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # Root here lacks CAP_SYS_RESOURCE: never ask runc to lower an OOM score.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
  # isGateway/ipMasq false: the host's forwarding and NAT stay untouched (pods have no default route).
  cat > "$dir/cni/net.d/10-datastate.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "datastate",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$pod_cidr", "rangeStart": "10.244.0.10" }]], "dataDir": "$dir/cni/ipam" }
    },
    { "type": "loopback" }
  ]
}
EOF
  cat > "$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
podCIDR: $pod_cidr
resolvConf: ""
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $dir/pki/ca.crt }
authorization:
  mode: Webhook
evictionHard:
  memory.available: "200Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
protectKernelDefaults: false
maxPods: 60
EOF
}

make_certs() { # apiserver serving cert for the node IP, and the apiserver's client cert for the kubelet
  local p="$dir/pki"
  "$ebin/envtest-pki" "$p"
  [ -f "$p/cluster-serving.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$p/cluster-serving.key" 2>/dev/null
  openssl req -new -key "$p/cluster-serving.key" -subj /CN=kube-apiserver -out "$p/s.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' "$node_ip" > "$p/s.ext"
  openssl x509 -req -in "$p/s.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 3650 -extfile "$p/s.ext" -out "$p/cluster-serving.crt" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$p/kubelet-client.key" 2>/dev/null
  openssl req -new -key "$p/kubelet-client.key" -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" -out "$p/c.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$p/c.ext"
  openssl x509 -req -in "$p/c.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 3650 -extfile "$p/c.ext" -out "$p/kubelet-client.crt" 2>/dev/null
  rm -f "$p"/*.csr "$p"/*.ext
}

pause_archive() { # OCI archive of the pause image: one static binary
  local w="$dir/pause-build" l sha size csha csize msha msize
  rm -rf "$w" && mkdir -p "$w/root" "$w/oci/blobs/sha256"
  cp "$cbin/cluster-pause" "$w/root/pause"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$w/root" -cf "$w/layer" pause
  sha="$(sha256sum "$w/layer" | cut -d' ' -f1)"; size="$(stat -c %s "$w/layer")"; mv "$w/layer" "$w/oci/blobs/sha256/$sha"
  jq -cn --arg d "sha256:$sha" '{architecture:"amd64",os:"linux",config:{Entrypoint:["/pause"],User:"65535:65535"},rootfs:{type:"layers",diff_ids:[$d]}}' > "$w/c"
  csha="$(sha256sum "$w/c" | cut -d' ' -f1)"; csize="$(stat -c %s "$w/c")"; mv "$w/c" "$w/oci/blobs/sha256/$csha"
  jq -cn --arg c "sha256:$csha" --argjson cs "$csize" --arg l "sha256:$sha" --argjson ls "$size" \
    '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs},layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar",digest:$l,size:$ls}]}' > "$w/m"
  msha="$(sha256sum "$w/m" | cut -d' ' -f1)"; msize="$(stat -c %s "$w/m")"; mv "$w/m" "$w/oci/blobs/sha256/$msha"
  jq -cn --arg m "sha256:$msha" --argjson ms "$msize" --arg n "$pause_image" \
    '{schemaVersion:2,manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$m,size:$ms,annotations:{"io.containerd.image.name":$n,"org.opencontainers.image.ref.name":"1"}}]}' > "$w/oci/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$w/oci/oci-layout"
  tar -C "$w/oci" -cf "$dir/pause.tar" oci-layout index.json blobs
  rm -rf "$w"
}

ctr_() { ctr --address "$dir/containerd/containerd.sock" -n k8s.io "$@"; }
kubectl_() { "$cbin/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }

fail_up() {
  log "$1"
  for f in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet; do
    [ -f "$dir/logs/$f.log" ] && { echo "--- last lines of $dir/logs/$f.log" >&2; tail -n 15 "$dir/logs/$f.log" >&2; }
  done
  cmd_down
  exit 1
}

start_bg() { # name cmd...
  local name="$1"; shift
  nohup "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! > "$dir/$name.pid"
}

cmd_up() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --image) image="$2"; shift 2 ;;
      --no-image) image=; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  [ "$(id -u)" = 0 ] || die "needs root (it runs containerd, runc and a kubelet)"
  [ -z "$(pid_of holder || true)" ] || die "already running ($dir); scripts/cluster.sh down first"
  cmd_build
  local t0=$SECONDS token i d
  ip link show "$bridge" >/dev/null 2>&1 && die "interface $bridge exists already (another cluster?)"
  rm -rf "$dir" && mkdir -p "$dir/logs" "$dir/sysctl"
  make_certs
  token="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
  (umask 077 && printf '%s,cluster-admin,cluster-admin,"system:masters"\n' "$token" > "$dir/tokens.csv")
  write_configs "$token"
  if command -v nft >/dev/null; then nft list tables > "$dir/nft-tables-before" 2>/dev/null || true; fi
  # Mount points the private namespace needs on the host: created if missing, removed by `down`.
  : > "$dir/created-dirs"
  for d in $PRIVATE_DIRS; do
    [ -L "$d" ] && continue
    if [ ! -d "$d" ]; then
      local top="$d"
      while [ ! -d "$(dirname "$top")" ]; do top="$(dirname "$top")"; done
      echo "$top" >> "$dir/created-dirs"
      mkdir -p "$d"
    fi
  done
  # The node's address: the CNI bridge, made before the kubelet (which rejects a loopback node IP).
  ip link add "$bridge" type bridge
  ip addr add "$node_ip/24" dev "$bridge"
  ip link set "$bridge" up

  start_bg etcd "$ebin/etcd" --name=cluster --data-dir="$dir/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:0" --initial-advertise-peer-urls="http://127.0.0.1:2380" \
    --initial-cluster="cluster=http://127.0.0.1:2380" --unsafe-no-fsync=true --log-level=warn
  for ((i = 0; ; i++)); do
    curl -sf "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && break
    [ -n "$(pid_of etcd || true)" ] || fail_up "etcd exited"
    [ $i -lt 300 ] || fail_up "etcd not healthy after 30 s"
    sleep 0.1
  done
  start_bg kube-apiserver "$ebin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=0.0.0.0 --advertise-address="$node_ip" --secure-port="$api_port" \
    --tls-cert-file="$dir/pki/cluster-serving.crt" --tls-private-key-file="$dir/pki/cluster-serving.key" \
    --client-ca-file="$dir/pki/ca.crt" --token-auth-file="$dir/tokens.csv" --authorization-mode=Node,RBAC \
    --kubelet-client-certificate="$dir/pki/kubelet-client.crt" --kubelet-client-key="$dir/pki/kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$dir/pki/sa.pub" --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-cluster-ip-range="$service_cidr" --allow-privileged=true --profiling=false
  local ca_data server="https://$node_ip:$api_port"
  ca_data="$(base64 < "$dir/pki/ca.crt" | tr -d '\n')"
  (umask 077 && cat > "$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: datastate-cluster
    cluster: { server: "$server", certificate-authority-data: "$ca_data" }
users:
  - name: cluster-admin
    user: { token: "$token" }
contexts:
  - name: datastate-cluster
    context: { cluster: datastate-cluster, user: cluster-admin, namespace: default }
current-context: datastate-cluster
EOF
  )
  for ((i = 0; ; i++)); do
    [ "$(curl -s --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $token" "$server/readyz" 2>/dev/null || true)" = ok ] && break
    [ -n "$(pid_of kube-apiserver || true)" ] || fail_up "kube-apiserver exited"
    [ $i -lt 1200 ] || fail_up "kube-apiserver not ready after 120 s"
    sleep 0.1
  done
  start_bg kube-controller-manager "$cbin/kube-controller-manager" --kubeconfig="$dir/kubeconfig" \
    --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
    --service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$dir/pki/ca.crt" \
    --use-service-account-credentials=true --controllers='*' --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=0 --cluster-name=datastate --allocate-node-cidrs=false
  start_bg kube-scheduler "$cbin/kube-scheduler" --kubeconfig="$dir/kubeconfig" \
    --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0
  # containerd and kubelet: in their own mount namespace (private propagation), so nothing they mount and
  # none of the /proc/sys overlays reach the host.
  pause_archive
  nohup unshare --mount --propagation private bash "${BASH_SOURCE[0]}" _node >"$dir/logs/node.log" 2>&1 </dev/null &
  echo $! > "$dir/holder.pid"
  for ((i = 0; i < 300; i++)); do [ -f "$dir/node.state" ] && break; [ -n "$(pid_of holder || true)" ] || break; sleep 0.1; done
  [ -f "$dir/node.state" ] || fail_up "containerd did not start"
  ctr_ images import --no-unpack=false "$dir/pause.tar" >/dev/null 2>&1 || ctr_ images import "$dir/pause.tar" >/dev/null || fail_up "importing the pause image failed"
  if [ -n "$image" ]; then
    [ -f "$image" ] || fail_up "no image archive $image (make image)"
    ctr_ images import "$image" >/dev/null || fail_up "importing $image failed"
    log "imported $(cat "$image.name" 2>/dev/null || echo "$image")"
  fi
  touch "$dir/node.go"
  for ((i = 0; ; i++)); do
    [ "$(kubectl_ get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)" = True ] && break
    [ -n "$(pid_of holder || true)" ] || fail_up "the node exited"
    [ $i -lt 900 ] || fail_up "node not Ready after 90 s"
    sleep 0.1
  done
  log "cluster $K8S_VERSION up in $((SECONDS - t0)) s: node $node_name Ready; KUBECONFIG=$dir/kubeconfig"
  log "stop with: make cluster-down (scripts/cluster.sh down)"
}

cmd_down() {
  local p c i
  [ -d "$dir" ] || return 0
  # 1. kubelet first (it would restart containers), then every container: kill what is in the kubepods cgroups.
  stop_pid "$(pid_of kubelet || true)" 5
  for ((i = 0; i < 3; i++)); do
    for c in $(kubepods_cgroups); do
      find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    done
    sleep 0.2
  done
  # 2. containerd, its shims, the namespace holder: all processes whose command line names our state dir.
  stop_pid "$(pid_of containerd || true)" 5
  for p in $(our_pids); do kill -KILL "$p" 2>/dev/null || true; done
  stop_pid "$(pid_of holder || true)" 2
  # 3. the control plane: scheduler, controller-manager, apiserver (before etcd: its shutdown waits on it), etcd.
  for p in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$(pid_of "$p" || true)" 5; done
  for ((i = 0; i < 50; i++)); do [ -z "$(our_pids)" ] && break; sleep 0.1; done
  # 4. cgroups (deepest first), the bridge and leftover veths, kubelet's iptables chains, our mount points.
  for ((i = 0; i < 20; i++)); do
    [ -z "$(kubepods_cgroups)" ] && break
    for c in $(kubepods_cgroups); do find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
    sleep 0.2
  done
  ip link del "$bridge" 2>/dev/null || true
  remove_kube_chains
  if [ -f "$dir/created-dirs" ]; then
    while read -r d; do [ -n "$d" ] && rm -rf --one-file-system "$d" 2>/dev/null || true; done < "$dir/created-dirs"
  fi
  [ -z "$(kubepods_cgroups)" ] || log "warning: cgroups left: $(kubepods_cgroups | tr '\n' ' ')"
  rm -rf --one-file-system "$dir"
  log "stopped; nothing left"
}

# Kubelet adds KUBE-* chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, ...) in iptables and ip6tables: delete the
# rules jumping to them, then the chains.
remove_kube_chains() {
  local ipt t chain rule fam name
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for t in filter nat mangle; do
      while read -r rule; do
        [ -n "$rule" ] && eval "$ipt -t $t ${rule/#-A/-D}" 2>/dev/null || true
      done < <("$ipt" -t "$t" -S 2>/dev/null | grep -E '^-A .* -j KUBE-' || true)
      for chain in $("$ipt" -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }' || true); do
        "$ipt" -t "$t" -F "$chain" 2>/dev/null || true
        "$ipt" -t "$t" -X "$chain" 2>/dev/null || true
      done
    done
  done
  # iptables-nft made the nf_tables tables these chains lived in: drop those that did not exist before `up`
  # and now hold no rule.
  command -v nft >/dev/null && [ -f "$dir/nft-tables-before" ] || return 0
  while read -r _ fam name; do
    [ -n "$name" ] || continue
    grep -qxF "table $fam $name" "$dir/nft-tables-before" && continue
    if [ -z "$(nft list table "$fam" "$name" 2>/dev/null | grep -vE '^[[:space:]]*(table .*|chain .*|type .*|\}|)$' || true)" ]; then
      nft delete table "$fam" "$name" 2>/dev/null || true
    fi
  done < <(nft list tables 2>/dev/null || true)
}

cmd_snapshot() { # everything `down` must leave as it was before `up`
  # Processes of this cluster: its binaries, or anything naming its state directory (shims, containers' pause).
  # envtest's etcd and kube-apiserver count only when they name the state directory: other test suites on a
  # shared machine start and stop their own meanwhile.
  echo "== processes"
  local p exe
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null || true)"
    case "$exe" in
      "$cbin"/* | */containerd | */containerd-shim* | */runc) echo "${exe##*/}" ;;
      "$ebin"/*) { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "$dir/" && echo "${exe##*/}" ;;
    esac
  done | sort
  our_pids | sed 's/^/pid naming the state dir: /' 
  echo "== mounts"; awk '{ print $5, $9 }' /proc/self/mountinfo | sort
  echo "== links"; ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort
  echo "== addresses"; ip -o addr show | awk '{ print $2, $4 }' | sort
  echo "== cgroups"; find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d 2>/dev/null | sort
  echo "== iptables"; for t in iptables ip6tables; do command -v $t >/dev/null && for tb in filter nat mangle; do $t -t $tb -S 2>/dev/null | sed "s/^/$t $tb /"; done; done
  echo "== nft"; command -v nft >/dev/null && nft list ruleset 2>/dev/null || true
  echo "== sysctls"; for kv in $KUBELET_SYSCTLS net/ipv4/ip_forward net/ipv4/conf/all/forwarding; do echo "${kv%%=*} $(cat "/proc/sys/${kv%%=*}")"; done
  echo "== paths"; for d in $PRIVATE_DIRS; do [ -e "$d" ] && echo "$d"; done; true
}

cmd_env() {
  echo "export KUBECONFIG='$dir/kubeconfig'"
  echo "export PATH='$cbin:${helm_bin:-$cbin}':\"\$PATH\""
}

cmd_status() {
  local n p
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet; do
    if p="$(pid_of "$n")"; then echo "$n: running (pid $p)"; else echo "$n: stopped"; fi
  done
  [ -f "$dir/kubeconfig" ] && { echo "kubeconfig: $dir/kubeconfig"; kubectl_ get nodes 2>/dev/null || true; }
}

sub="${1:-}"
[ $# -gt 0 ] && shift
case "$sub" in
  build) cmd_build ;;
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  snapshot) cmd_snapshot ;;
  bin-dir) echo "$cbin" ;;
  _node) cmd_node ;;
  *) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
