#!/usr/bin/env bash
# images.sh PAUSE COREDNS TRAEFIK CONTAINERD_SOCKET: builds the test node's images with buildah
# (never pulled) and imports them into containerd's k8s.io namespace:
#   localhost/apigw/pause:dev       the pod sandbox (PAUSE, a static binary)
#   localhost/apigw/coredns:dev     cluster DNS (COREDNS, a static binary)
#   localhost/apigw/traefik:dev     the Ingress controller (TRAEFIK, a static binary)
#   localhost/apigw/apigw-echo:dev  the echo backend (e2e's apigw-echo and the libraries it
#                                   links), listening on :8080, named after its pod
#   docker.io/library/tomcat:10     the echo backend again, for examples/kubernetes-*
#   localhost/apigw/apigw-{gateway,operator}:dev  the Dockerfile's images, when `make image-test`
#                                   has built them
# An image whose content did not change is not rebuilt.
set -euo pipefail
pause=$1 coredns=$2 traefik=$3 socket=$4
repo=$(cd "$(dirname "$0")/../.." && pwd)
export STORAGE_DRIVER=overlay BUILDAH_ISOLATION=chroot
target=${CARGO_TARGET_DIR:-$repo/target}
(cd "$repo" && cargo build -q --locked -p apigw-e2e --bin apigw-echo)
echo_binary=$target/debug/apigw-echo

# image NAME ENTRYPOINT FILE...: an image of FILEs at their own paths (a tag of their hash).
image() {
  local name=$1 entrypoint=$2; shift 2
  local tag; tag=$(sha256sum "$@" | sha256sum | cut -c1-12)
  if ! buildah inspect --type image "$name:$tag" >/dev/null 2>&1; then
    local container mount
    container=$(buildah from scratch)
    mount=$(buildah mount "$container")
    tar -chf - "$@" 2>/dev/null | tar -C "$mount" -xf -
    buildah umount "$container" >/dev/null
    buildah config --entrypoint "$entrypoint" "$container"
    buildah commit -q "$container" "$name:$tag" >/dev/null
    buildah rm "$container" >/dev/null
  fi
  buildah tag "$name:$tag" "$name:dev"
  import_image "$name:dev"
}

# import_image IMAGE: from buildah's storage into containerd's k8s.io namespace.
import_image() {
  local archive; archive=$(mktemp)
  buildah push -q "$1" "docker-archive:$archive:$1" >/dev/null
  ctr --address "$socket" -n k8s.io images import "$archive" >/dev/null
  rm -f "$archive"
}

# static_image NAME BINARY: an image of one static binary at /NAME.
static_image() {
  local folder; folder=$(dirname "$echo_binary")/$1-image
  install -D -m 0755 "$2" "$folder/$1"
  (cd "$folder" && image "localhost/apigw/$1" '["/'"$1"'"]' "$1")
}
static_image pause "$pause"
static_image coredns "$coredns"
static_image traefik "$traefik"

libraries=$(ldd "$echo_binary" | awk '$(NF-1) ~ /^\// {print $(NF-1)} $1 ~ /^\// {print $1}' | sort -u)
# shellcheck disable=SC2086
(cd / && image localhost/apigw/apigw-echo '["'"$echo_binary"'"]' "${echo_binary#/}" $(printf '%s\n' $libraries | sed 's|^/||'))
# examples/kubernetes-* run as written: their `tomcat:10` is the echo backend (it, too, serves :8080).
buildah tag localhost/apigw/apigw-echo:dev docker.io/library/tomcat:10
import_image docker.io/library/tomcat:10
imported="localhost/apigw/{pause,coredns,traefik,apigw-echo}:dev docker.io/library/tomcat:10 (the echo backend)"
# The product's images, as `make image-test` builds them from the Dockerfile.
for name in gateway operator; do
  if buildah inspect --type image "localhost/apigw/apigw-$name:test" >/dev/null 2>&1; then
    buildah tag "localhost/apigw/apigw-$name:test" "localhost/apigw/apigw-$name:dev"
    import_image "localhost/apigw/apigw-$name:dev"
    imported+=" localhost/apigw/apigw-$name:dev"
  else
    echo "localhost/apigw/apigw-$name:test is not built yet (make image-test builds it): not imported" >&2
  fi
done
echo "images imported: $imported"
