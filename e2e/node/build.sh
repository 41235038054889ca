#!/usr/bin/env bash
# Builds the test node's binaries from the control plane's pinned Go module (e2e/controlplane):
# kubelet, kube-proxy and kube-scheduler of the same k8s.io/kubernetes release as kube-apiserver,
# and the pod sandbox's pause (cmd/pause), into a cache outside the repository keyed by the pins;
# a second call returns at once. Prints the cache directory holding the binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
module=$here/../controlplane
recipe=1
key=$( (echo "$recipe"; cat "$module/go.mod" "$module/go.sum" "$module/cmd/pause/main.go") | sha256sum | cut -c1-16)
version=$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$module/go.mod")
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/node-$key
if [ -d "$cache" ]; then  # only complete builds are renamed into place
  echo "$cache"; exit 0
fi
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
cd "$module"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
for tool in k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler ./cmd/pause; do
  echo "building $tool (cold builds take many minutes)" >&2
  go build -trimpath -ldflags="-s -X k8s.io/component-base/version.gitVersion=$version" -o "$cache.tmp/" "$tool" >&2
done
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
