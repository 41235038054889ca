#!/usr/bin/env bash
# Builds h2spec (the HTTP/2 conformance suite the gateway is tested with) from its Go module at a
# pinned release into a cache outside the repository; a second call returns at once. Prints the
# folder holding the binary.
set -euo pipefail
version=v2.2.1
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/h2spec-$version
if [ -x "$cache/h2spec" ]; then
  echo "$cache"; exit 0
fi
echo "building h2spec $version (about a minute)" >&2
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$cache.tmp" go install -trimpath -ldflags=-s \
  "github.com/summerwind/h2spec/cmd/h2spec@$version" >&2
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
