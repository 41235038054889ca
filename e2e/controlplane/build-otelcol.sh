#!/usr/bin/env bash
# Builds the test OpenTelemetry Collector (e2e/tools/otelcol: the OTLP receiver and the file
# exporter, from the collector's Go modules at one pinned release) into a cache outside the
# repository, once per source. Prints the folder holding otelcol.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool=$here/../tools/otelcol
key=$(cat "$tool/go.mod" "$tool/go.sum" "$tool/main.go" | sha256sum | cut -c1-16)
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/otelcol-$key
if [ -x "$cache/otelcol" ]; then
  echo "$cache"; exit 0
fi
echo "building the test OpenTelemetry Collector from its Go modules" >&2
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp"
(cd "$tool" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$cache.tmp/otelcol" .) >&2
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
