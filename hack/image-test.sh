#!/usr/bin/env bash
# `make image-test`: builds both images from ./Dockerfile with buildah (this machine has no
# container engine) and runs each the way its pod runs: as uid 65532 on a read-only root
# filesystem. The gateway must serve examples/quickstart's mock API; the operator must get
# ready against the test control plane (`make cluster-up`).
#
# No container registry is reachable here, so the Dockerfile's two base images (its RUST_IMAGE
# and RUNTIME_IMAGE arguments) are replaced by local stand-ins with the same content, made from
# the same Debian release (bookworm):
#   rust:1.95-bookworm              debootstrap minbase + gcc, libc6-dev, this host's CA bundle,
#                                   and the Rust 1.95.0 toolchain with CARGO_HOME=/usr/local/cargo
#   distroless/cc-debian12:nonroot  the files of libc6, libgcc-s1 and the CA bundle, /etc/passwd
#                                   with nonroot (65532), /tmp, /home/nonroot; no shell
# The stand-ins and the build caches live outside the repository (APIGW_CACHE, buildah storage),
# so a second run rebuilds only what changed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/image-test
rust_version=1.95.0
stand_in=localhost/apigw-stand-in
rust_image=$stand_in/rust:$rust_version-bookworm
runtime_image=$stand_in/cc-debian12:nonroot
export STORAGE_DRIVER=overlay BUILDAH_ISOLATION=chroot

for tool in buildah:buildah debootstrap:debootstrap curl:curl; do
  command -v "${tool%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${tool#*:}" >/dev/null; }
done
mkdir -p "$cache"

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# The Rust build image: Debian bookworm with a C toolchain and Rust at /usr/local.
if ! image_exists "$rust_image"; then
  echo "== stand-in $rust_image (debootstrap takes a few minutes once)"
  rootfs=$cache/bookworm-build
  if [ ! -x "$rootfs/usr/bin/gcc" ]; then
    rm -rf "$rootfs.tmp"
    debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates bookworm "$rootfs.tmp" \
      http://deb.debian.org/debian >"$cache/debootstrap.log"
    rm -rf "$rootfs"; mv "$rootfs.tmp" "$rootfs"
  fi
  toolchain=$(rustup toolchain list -v | awk -v v="$rust_version" '$1 ~ "^(" v "|stable)-x86_64" {print $NF; exit}')
  [ "$("$toolchain/bin/rustc" --version | cut -d' ' -f2)" = "$rust_version" ] ||
    { echo "the Rust $rust_version toolchain is needed (rustup toolchain install $rust_version)" >&2; exit 1; }
  container=$(buildah from scratch)
  mount=$(buildah mount "$container")
  cp -a "$rootfs/." "$mount/"
  mkdir -p "$mount/usr/local/rust" "$mount/usr/local/cargo/bin"
  tar -C "$toolchain" --exclude=./share/doc -cf - . | tar -C "$mount/usr/local/rust" -xf -
  for tool in cargo rustc rustdoc; do ln -s "/usr/local/rust/bin/$tool" "$mount/usr/local/cargo/bin/$tool"; done
  # This host's CA bundle: crates.io may be reached through a TLS-inspecting egress proxy.
  cp /etc/ssl/certs/ca-certificates.crt "$mount/etc/ssl/certs/ca-certificates.crt"
  buildah umount "$container" >/dev/null
  buildah config --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
  buildah commit -q "$container" "$rust_image" >/dev/null
  buildah rm "$container" >/dev/null
fi

# The runtime image: what distroless/cc-debian12:nonroot holds, from this Debian's packages.
if ! image_exists "$runtime_image"; then
  echo "== stand-in $runtime_image"
  container=$(buildah from scratch)
  mount=$(buildah mount "$container")
  dpkg -L libc6 libgcc-s1 | while read -r file; do [ -d "$file" ] || [ ! -e "$file" ] || echo "$file"; done |
    tar -cf - --files-from=- /etc/ssl/certs/ca-certificates.crt 2>/dev/null | tar -C "$mount" -xf -
  mkdir -p "$mount/dev" "$mount/proc" "$mount/sys" "$mount/home/nonroot" "$mount/tmp"
  chmod 1777 "$mount/tmp"; chown 65532:65532 "$mount/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$mount/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$mount/etc/group"
  buildah umount "$container" >/dev/null
  buildah config --user 65532:65532 --workingdir /home/nonroot "$container"
  buildah commit -q "$container" "$runtime_image" >/dev/null
  buildah rm "$container" >/dev/null
fi

for target in operator gateway; do
  echo "== building the $target image from Dockerfile"
  started=$SECONDS
  buildah bud -q --layers --target "$target" --build-arg "RUST_IMAGE=$rust_image" \
    --build-arg "RUNTIME_IMAGE=$runtime_image" -t "localhost/apigw/apigw-$target:test" "$repo" >/dev/null
  size=$(buildah images --format '{{.Size}}' "localhost/apigw/apigw-$target:test")
  echo "   built in $((SECONDS - started)) s, $size"
  user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "localhost/apigw/apigw-$target:test")
  [ "$user" = "65532:65532" ] || { echo "the $target image runs as '$user', not 65532:65532" >&2; exit 1; }
done

# Runs image $1's entrypoint with arguments $3... in a private mount namespace, chrooted into the
# image's root remounted read-only, as uid 65532, with folder $2 mounted read-only at
# /home/nonroot. Its pid goes to `pids`, its output to $cache/<image name>.log.
run_image() {
  local image=$1 config=$2; shift 2
  local container mount entrypoint
  container=$(buildah from -q "$image")
  mount=$(buildah mount "$container")
  entrypoint=$(buildah inspect --type image --format '{{index .OCIv1.Config.Entrypoint 0}}' "$image")
  containers+=("$container")
  unshare --mount --propagation private sh -c '
    root=$1 config=$2; shift 2
    mount --bind "$root" "$root" && mount --bind -o ro "$config" "$root/home/nonroot" &&
      mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
      mount -o remount,bind,ro "$root" && exec chroot --userspec=65532:65532 "$root" "$@"' \
    sh "$mount" "$config" "$entrypoint" "$@" >"$cache/$(basename "${image%%:*}").log" 2>&1 &
  pids+=($!)
}
containers=() pids=() folder=
cleanup() {
  [ -z "$folder" ] || rm -rf "$folder"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null || true
  for container in "${containers[@]}"; do buildah rm "$container" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # url, expected body fragment
  for _ in $(seq 100); do
    if curl -sf -H "Host: localhost" "$1" 2>/dev/null | grep -q "$2"; then return 0; fi
    sleep 0.1
  done
  return 1
}

echo "== running the gateway image read-only as 65532 on examples/quickstart"
http=$(free_port) admin=$(free_port)
run_image localhost/apigw/apigw-gateway:test "$repo/examples/quickstart" \
  --manifests /home/nonroot --http "127.0.0.1:$http" --admin "127.0.0.1:$admin"
wait_for "http://127.0.0.1:$http/hello" "hello from apigw" ||
  { cat "$cache/apigw-gateway.log"; echo "the gateway image did not serve the quickstart" >&2; exit 1; }
gateway=$(pgrep -f "apigw-gateway --manifests /home/nonroot --http 127.0.0.1:$http")
[ "$(ps -o uid= -p "$gateway" | tr -d ' ')" = 65532 ] || { echo "the gateway does not run as uid 65532" >&2; exit 1; }
# Field 5 of mountinfo is the mount point as the process sees it, field 6 its options.
awk '$5 == "/" { split($6, options, ","); exit options[1] != "ro" }' "/proc/$gateway/mountinfo" ||
  { echo "the gateway's root filesystem is writable" >&2; exit 1; }
echo "   GET /hello answered by the image; it runs as uid 65532 on a read-only root"

kubeconfig=$repo/target/controlplane/kubeconfig
if [ -f "$kubeconfig" ] && "$repo/target/controlplane/bin/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null 2>&1; then
  echo "== running the operator image read-only as 65532 against the test control plane"
  "$repo/target/controlplane/bin/kubectl" --kubeconfig "$kubeconfig" apply --server-side \
    --field-manager=apigw-image-test --force-conflicts -f "$repo/crds" >/dev/null
  admin=$(free_port)
  folder=$(mktemp -d); cp "$kubeconfig" "$folder/kubeconfig"; chmod 755 "$folder"; chmod 644 "$folder/kubeconfig"
  KUBECONFIG=/home/nonroot/kubeconfig run_image localhost/apigw/apigw-operator:test "$folder" \
    --admin "127.0.0.1:$admin" --config-namespace apigw-image-test --lease-name "apigw-image-test-$$"
  wait_for "http://127.0.0.1:$admin/readyz" "" ||
    { cat "$cache/apigw-operator.log"; echo "the operator image did not get ready" >&2; exit 1; }
  echo "   /readyz answered 200"
else
  echo "!!!!!!!! no test control plane (make cluster-up): the operator image was built, not run !!!!!!!!" >&2
  exit 1
fi
echo "== images: ok"
