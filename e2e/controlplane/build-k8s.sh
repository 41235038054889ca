#!/usr/bin/env bash
# build-k8s.sh NAME MAIN PACKAGE...: builds PACKAGEs (Go commands) from this folder's pinned
# module (k8s.io/kubernetes and etcd) into a cache outside the repository, NAME-<hash of the pins,
# MAIN (a main.go of this module built with them) and the recipe below> (bump `recipe` when
# changing how the binaries are built); a second call returns at once. Prints the cache folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=$1 main=$2; shift 2
recipe=1
key=$( (echo "$recipe"; cat "$here/go.mod" "$here/go.sum" "$here/$main") | sha256sum | cut -c1-16)
version=$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$here/go.mod")
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/$name-$key
if [ -d "$cache" ]; then  # only complete builds are renamed into place
  echo "$cache"; exit 0
fi
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
cd "$here"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
for tool in "$@"; do
  echo "building $tool (cold builds take many minutes)" >&2
  go build -trimpath -ldflags="-s -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version" -o "$cache.tmp/" "$tool" >&2
done
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
