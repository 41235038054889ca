#!/usr/bin/env bash
# go-install.sh NAME PACKAGE VERSION: builds the Go command PACKAGE@VERSION into a cache outside
# the repository (NAME-VERSION); a second call returns at once. Prints the folder holding NAME.
set -euo pipefail
name=$1 package=$2 version=$3
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/$name-$version
if [ -x "$cache/$name" ]; then
  echo "$cache"; exit 0
fi
echo "building $name $version from its Go module" >&2
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$cache.tmp" go install -trimpath -ldflags=-s "$package@$version" >&2
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
