#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the pinned Go modules of
# this folder into a cache outside the repository, keyed by those pins and the build recipe below
# (bump `recipe` when changing how the binaries are built); a second call returns at once.
# Prints the cache directory holding the binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
recipe=1
key=$( (echo "$recipe"; cat "$here/go.mod" "$here/go.sum" "$here/cmd/etcd/main.go") | sha256sum | cut -c1-16)
version=$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$here/go.mod")
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/controlplane-$key
if [ -d "$cache" ]; then  # only complete builds are renamed into place
  echo "$cache"; exit 0
fi
mkdir -p "$cache.tmp"
cd "$here"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
for tool in ./cmd/etcd k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl; do
  echo "building $tool (cold builds take many minutes)" >&2
  go build -trimpath -ldflags="-s -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version" -o "$cache.tmp/" "$tool" >&2
done
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
