#!/usr/bin/env bash
# Installs the official Alibaba Cloud API Gateway clients the e2e tests sign with (package-lock.json:
# the Node.js SDK) into a cache outside the repository, once per lock file. Prints the folder
# holding node_modules/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v npm >/dev/null || { echo "Node.js and npm are needed for the official-SDK tests" >&2; exit 1; }
key=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/node-clients-$key
if [ -d "$cache/node_modules/aliyun-api-gateway" ]; then
  echo "$cache"; exit 0
fi
echo "installing the official Node.js SDK from the npm registry" >&2
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
cp "$here/package.json" "$here/package-lock.json" "$cache.tmp/"
# No install scripts run: the SDK needs none (core-js's is a banner).
(cd "$cache.tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
