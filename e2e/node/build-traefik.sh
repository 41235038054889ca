#!/usr/bin/env bash
# Builds the test node's Ingress controller, Traefik (e2e/node/traefik pins its Go module), once:
# cached outside the repository under a key of its go.mod and go.sum. Prints the folder holding
# the binary.
set -euo pipefail
module=$(cd "$(dirname "$0")/traefik" && pwd)
key=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-16)
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/traefik-$key
if [ -x "$cache/traefik" ]; then
  echo "$cache"; exit 0
fi
echo "building traefik from its Go module (a few minutes, once)" >&2
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
(cd "$module" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$cache.tmp/traefik" github.com/traefik/traefik/v3/cmd/traefik) >&2
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
