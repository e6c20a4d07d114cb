#!/usr/bin/env bash
# A real Kubernetes control plane for tests: etcd + kube-apiserver, built from published Go modules
# (test/envtest), run on loopback without a kubelet, the way controller-runtime's envtest does.
#
#   scripts/envtest.sh build [--quiet]  build (once) kube-apiserver, etcd, envtest-pki, helm, kubeconform,
#                                       kube-score
#   scripts/envtest.sh up   [options]   build if needed, start etcd + kube-apiserver, wait for /readyz,
#                                       write DIR/kubeconfig (admin token, CA pinned)
#   scripts/envtest.sh down [--dir DIR] stop kube-apiserver, then etcd (SIGTERM, SIGKILL after 5 s); the
#                                       state directory (kubeconfig, pki, token, logs) is kept unless
#                                       --clean is given; etcd's data is always discarded
#   scripts/envtest.sh env  [--dir DIR] print `export` lines: KUBECONFIG, DATASTATE_TEST_KUBECONFIG, PATH
#   scripts/envtest.sh status [--dir DIR]
#   scripts/envtest.sh bin-dir          print the directory holding kube-apiserver and etcd (does not build)
#   scripts/envtest.sh versions         print the pinned versions
#
# up options: --dir DIR (default $DATASTATE_ENVTEST_DIR or <repo>/.datastate/envtest),
#             --api-port N (default 16443), --etcd-port N (default 12379), --quiet,
#             --owner-pid PID (stop the servers when process PID is gone; with --clean, remove DIR then)
#
# Binaries go to a cache outside the repository, keyed on the versions, so every clone on the machine
# shares them: ${DATASTATE_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/datastate-envtest}/
#   k8s-vX-etcd-vY/bin/{kube-apiserver,etcd,envtest-pki}, helm-vZ/bin/helm, kubeconform-vW/bin/kubeconform,
#   kube-score-vV/bin/kube-score
# Go's own module and build caches (go env GOMODCACHE / GOCACHE) are used as they are.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/test/envtest"

# Pinned versions. Kubernetes and etcd come from test/envtest/go.mod (with go.sum, the single source);
# helm, kubeconform and kube-score are installed with `go install pkg@version` from their own modules.
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
KUBE_SCORE_VERSION=v1.20.0

die() { echo "envtest: $*" >&2; exit 1; }
log() { [ -n "${quiet:-}" ] || echo "envtest: $*" >&2; }
say() { echo "envtest: $*" >&2; } # even with --quiet: building takes minutes, so say so

# go_tool DIR NAME PKG@VERSION LDFLAGS: `go install` a pinned tool into DIR once (needs $go set).
go_tool() {
  [ -x "$1/$2" ] && return 0
  say "installing $3"
  mkdir -p "$1"
  local t0=$SECONDS
  GOFLAGS= GOBIN="$1" "$go" install -trimpath -ldflags "$4" "$3"
  say "$2 installed in $((SECONDS - t0)) s"
}

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return; fi
  die "Go is needed to build kube-apiserver and etcd (Go >= 1.26, see test/envtest/go.mod); install it or put it on PATH"
}

modver() { # version of a module required in test/envtest/go.mod
  awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod"
}

K8S_VERSION="$(modver k8s.io/kubernetes)"
ETCD_VERSION="$(modver go.etcd.io/etcd/server/v3)"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] || die "cannot read versions from $mod/go.mod"

cache="${DATASTATE_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/datastate-envtest}"
k8s_dir="$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
bin="$k8s_dir/bin"
helm_bin="$cache/helm-$HELM_VERSION/bin"
kubeconform_bin="$cache/kubeconform-$KUBECONFORM_VERSION/bin"
kube_score_bin="$cache/kube-score-$KUBE_SCORE_VERSION/bin"

# What the binaries in $bin were built from: if any of it changes, they are rebuilt.
stamp_of() {
  local go="$1"
  {
    "$go" version
    cat "$mod/go.mod" "$mod/go.sum"
    find "$mod/cmd/kube-apiserver" "$mod/cmd/etcd" "$mod/cmd/envtest-pki" -name '*.go' -type f | LC_ALL=C sort | xargs cat
    echo "$ldflags"
  } | sha256sum | cut -d' ' -f1
}

k8s_ldflags() {
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  # kube-apiserver reports this version (/version, discovery); without it, v0.0.0-master.
  echo "-s -w" \
    "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION" \
    "-X k8s.io/component-base/version.gitMajor=1" \
    "-X k8s.io/component-base/version.gitMinor=$minor" \
    "-X k8s.io/component-base/version.gitTreeState=clean"
}

cmd_build() {
  local go t0 stamp
  go="$(find_go)"
  mkdir -p "$cache"
  # One build at a time per cache (test suites starting together); the others wait, then find it built.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.build.lock"
    flock 9
  fi
  ldflags="$(k8s_ldflags)"
  stamp="$(stamp_of "$go")"
  if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ -x "$bin/envtest-pki" ] \
    && [ "$(cat "$k8s_dir/stamp" 2>/dev/null || true)" = "$stamp" ]; then
    log "kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION are built ($bin)"
  else
    say "building kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION into $bin"
    say "(cold, with empty Go caches, this took ~8 minutes on 2 shared cores, ~3 GB of Go build cache and"
    say " ~0.7 GB of modules; with Go's build cache warm it takes ~10 s; later runs reuse the binaries)"
    t0=$SECONDS
    mkdir -p "$k8s_dir"
    rm -rf "$k8s_dir/bin.tmp"
    # -mod=readonly: go.mod and go.sum are complete; a build never resolves anything new.
    (cd "$mod" && GOFLAGS=-mod=readonly "$go" build -trimpath -ldflags "$ldflags" \
      -o "$k8s_dir/bin.tmp/" ./cmd/kube-apiserver ./cmd/etcd ./cmd/envtest-pki)
    rm -rf "$bin" && mv "$k8s_dir/bin.tmp" "$bin"
    echo "$stamp" > "$k8s_dir/stamp"
    say "built in $((SECONDS - t0)) s"
  fi
  go_tool "$helm_bin" helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  go_tool "$kubeconform_bin" kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" \
    "-s -w -X main.version=$KUBECONFORM_VERSION"
  go_tool "$kube_score_bin" kube-score "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION" \
    "-s -w -X main.version=$KUBE_SCORE_VERSION"
  exec 9>&- # release the lock; the servers started next must not inherit it
}

built() { [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ -x "$bin/envtest-pki" ]; }

# --- state directory -------------------------------------------------------------------------------
dir="${DATASTATE_ENVTEST_DIR:-$root/.datastate/envtest}"
api_port="${DATASTATE_ENVTEST_API_PORT:-16443}"
etcd_port="${DATASTATE_ENVTEST_ETCD_PORT:-12379}"
quiet=
clean=
owner_pid=

parse_opts() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir="$2"; shift 2 ;;
      --dir=*) dir="${1#*=}"; shift ;;
      --api-port) api_port="$2"; shift 2 ;;
      --api-port=*) api_port="${1#*=}"; shift ;;
      --etcd-port) etcd_port="$2"; shift 2 ;;
      --etcd-port=*) etcd_port="${1#*=}"; shift ;;
      --quiet) quiet=1; shift ;;
      --clean) clean=1; shift ;;
      --owner-pid) owner_pid="$2"; shift 2 ;;
      --owner-pid=*) owner_pid="${1#*=}"; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The pid in DIR/NAME.pid if that process is alive and is the binary we started (pids get reused).
live_pid() {
  local f="$dir/$1.pid" pid exe
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || ps -o comm= -p "$pid" 2>/dev/null || true)"
  exe="${exe% (deleted)}"
  [ "${exe##*/}" = "$1" ] || return 1
  echo "$pid"
}

# Stop a process: SIGTERM, up to $2 seconds, then SIGKILL, then wait for it to be gone.
stop_proc() {
  local name="$1" grace="$2" pid i
  pid="$(live_pid "$name")" || { rm -f "$dir/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) still running after ${grace}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/$name.pid"
}

stop_watchdog() {
  local wp
  wp="$(cat "$dir/watchdog.pid" 2>/dev/null || true)"
  rm -f "$dir/watchdog.pid"
  [ -n "$wp" ] && [ "$wp" != "$$" ] || return 0
  # Only our own watchdog: `envtest.sh _watch --dir DIR` (pids get reused).
  if tr '\0' ' ' < "/proc/$wp/cmdline" 2>/dev/null | grep -qF -- "_watch --dir $dir "; then
    kill -TERM "$wp" 2>/dev/null || true
  fi
}

cmd_down() {
  parse_opts "$@"
  stop_watchdog
  # kube-apiserver first: with etcd gone its graceful shutdown takes > 15 s.
  stop_proc kube-apiserver 5
  stop_proc etcd 5
  if [ -n "$clean" ]; then
    rm -rf "$dir"
  else
    rm -rf "$dir/etcd-data"
  fi
  log "stopped"
}

fail_up() {
  echo "envtest: $1" >&2
  for f in etcd kube-apiserver; do
    if [ -f "$dir/$f.log" ]; then echo "--- last lines of $dir/$f.log" >&2; tail -n 25 "$dir/$f.log" >&2; fi
  done
  cmd_down_quiet
  exit 1
}
cmd_down_quiet() { quiet=1; stop_watchdog; stop_proc kube-apiserver 5; stop_proc etcd 5; }

# Runs in the background while the servers run: when the owner process (the test runner that called
# `up --owner-pid`) is gone however it ended, stop the servers, so a killed test leaves nothing behind.
cmd_watch() {
  parse_opts "$@"
  while kill -0 "$owner_pid" 2>/dev/null && [ -f "$dir/kube-apiserver.pid" ]; do sleep 1; done
  if [ -f "$dir/kube-apiserver.pid" ] || [ -f "$dir/etcd.pid" ]; then
    quiet=1
    stop_proc kube-apiserver 5
    stop_proc etcd 5
    rm -f "$dir/watchdog.pid"
    if [ -n "$clean" ]; then rm -rf "$dir"; fi
  fi
}

cmd_up() {
  parse_opts "$@"
  local t0 token i ca_data server
  if live_pid kube-apiserver >/dev/null || live_pid etcd >/dev/null; then
    die "already running in $dir (scripts/envtest.sh down --dir $dir)"
  fi
  mkdir -p "$dir"
  cmd_build
  t0=$SECONDS
  for p in "$api_port" "$etcd_port"; do port_in_use "$p" && die "port $p on 127.0.0.1 is in use (choose --api-port/--etcd-port)"; done

  "$bin/envtest-pki" "$dir/pki"
  if [ ! -s "$dir/token" ]; then
    token="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
    (umask 077 && echo "$token" > "$dir/token")
  fi
  token="$(cat "$dir/token")"
  # token,user,uid,"groups": the admin is in system:masters, so RBAC lets it do everything.
  (umask 077 && printf '%s,envtest-admin,envtest-admin,"system:masters"\n' "$token" > "$dir/tokens.csv")
  rm -rf "$dir/etcd-data"

  # etcd: client URL on the chosen port; the peer listener binds an ephemeral port (one member, no peers).
  nohup "$bin/etcd" \
    --name=envtest \
    --data-dir="$dir/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" \
    --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:0" \
    --initial-advertise-peer-urls="http://127.0.0.1:2380" \
    --initial-cluster="envtest=http://127.0.0.1:2380" \
    --unsafe-no-fsync=true \
    --log-level=warn \
    >"$dir/etcd.log" 2>&1 </dev/null &
  echo $! > "$dir/etcd.pid"
  for ((i = 0; ; i++)); do
    curl -sf "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && break
    live_pid etcd >/dev/null || fail_up "etcd exited"
    [ $i -lt 300 ] || fail_up "etcd not healthy after 30 s"
    sleep 0.1
  done

  nohup "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none \
    --secure-port="$api_port" \
    --tls-cert-file="$dir/pki/serving.crt" \
    --tls-private-key-file="$dir/pki/serving.key" \
    --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$dir/pki/sa.pub" \
    --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --allow-privileged=true \
    --profiling=false \
    >"$dir/kube-apiserver.log" 2>&1 </dev/null &
  echo $! > "$dir/kube-apiserver.pid"
  server="https://127.0.0.1:$api_port"
  for ((i = 0; ; i++)); do
    [ "$(curl -s --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $token" "$server/readyz" 2>/dev/null || true)" = ok ] && break
    live_pid kube-apiserver >/dev/null || fail_up "kube-apiserver exited"
    [ $i -lt 1200 ] || fail_up "kube-apiserver not ready after 120 s"
    sleep 0.1
  done

  ca_data="$(base64 < "$dir/pki/ca.crt" | tr -d '\n')"
  (umask 077 && cat > "$dir/kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: envtest
    cluster:
      server: $server
      certificate-authority-data: $ca_data
users:
  - name: envtest-admin
    user:
      token: $token
contexts:
  - name: envtest
    context:
      cluster: envtest
      user: envtest-admin
      namespace: default
current-context: envtest
EOF
  )
  mv "$dir/kubeconfig.tmp" "$dir/kubeconfig"
  echo "$server" > "$dir/server"
  if [ -n "$owner_pid" ]; then
    nohup bash "${BASH_SOURCE[0]}" _watch --dir "$dir" --owner-pid "$owner_pid" ${clean:+--clean} \
      >/dev/null 2>&1 </dev/null &
    echo $! > "$dir/watchdog.pid"
  fi
  log "kube-apiserver $K8S_VERSION ready at $server in $((SECONDS - t0)) s; KUBECONFIG=$dir/kubeconfig"
  log "stop with: scripts/envtest.sh down --dir $dir"
}

cmd_env() {
  parse_opts "$@"
  echo "export KUBECONFIG='$dir/kubeconfig'"
  echo "export DATASTATE_TEST_KUBECONFIG='$dir/kubeconfig'"
  echo "export PATH='$bin:$helm_bin:$kubeconform_bin:$kube_score_bin':\"\$PATH\""
}

cmd_status() {
  parse_opts "$@"
  local p
  for n in etcd kube-apiserver; do
    if p="$(live_pid "$n")"; then echo "$n: running (pid $p)"; else echo "$n: stopped"; fi
  done
  [ -f "$dir/kubeconfig" ] && echo "kubeconfig: $dir/kubeconfig"
  built && echo "binaries: $bin" || echo "binaries: not built (scripts/envtest.sh build)"
}

cmd_versions() {
  echo "kubernetes $K8S_VERSION"
  echo "etcd $ETCD_VERSION"
  echo "helm $HELM_VERSION"
  echo "kubeconform $KUBECONFORM_VERSION"
  echo "kube-score $KUBE_SCORE_VERSION"
  echo "cache $cache"
}

sub="${1:-}"
[ $# -gt 0 ] && shift
case "$sub" in
  build) parse_opts "$@"; cmd_build ;;
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  env) cmd_env "$@" ;;
  status) cmd_status "$@" ;;
  _watch) cmd_watch "$@" ;;
  bin-dir) echo "$bin" ;;
  versions) cmd_versions ;;
  *) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
