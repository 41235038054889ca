#!/usr/bin/env bash
# Builds helm from its Go module at a pinned release into a cache outside the repository (the
# chart tests run it); a second call returns at once. Prints the folder holding the binary.
set -euo pipefail
version=v3.20.2
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/helm-$version
if [ -x "$cache/helm" ]; then
  echo "$cache"; exit 0
fi
echo "building helm $version (a cold build takes a few minutes)" >&2
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
CGO_ENABLED=0 GOBIN="$cache.tmp" go install -trimpath -ldflags=-s "helm.sh/helm/v3/cmd/helm@$version" >&2
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
