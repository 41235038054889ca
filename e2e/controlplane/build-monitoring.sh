#!/usr/bin/env bash
# What the chart's monitoring test needs, cached outside the repository: the ServiceMonitor and
# PrometheusRule CRDs of a pinned prometheus-operator release (from its Go module) and
# promql-check (e2e/tools/promql-check: Prometheus's own PromQL parser). A second call returns
# at once. Prints the folder holding promql-check and crds/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool=$here/../tools/promql-check
operator_version=v0.94.0
key=$(cat "$tool/go.mod" "$tool/go.sum" "$tool/main.go" <(echo "$operator_version") | sha256sum | cut -c1-16)
cache=${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}/monitoring-$key
if [ -x "$cache/promql-check" ]; then
  echo "$cache"; exit 0
fi
echo "building promql-check and fetching the prometheus-operator $operator_version CRDs" >&2
rm -rf "$cache.tmp"; mkdir -p "$cache.tmp/crds"
(cd "$tool" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$cache.tmp/promql-check" .) >&2
module=$(cd "$cache.tmp" && GOFLAGS=-mod=mod go mod download -json \
  "github.com/prometheus-operator/prometheus-operator@$operator_version" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
for kind in servicemonitors prometheusrules; do
  cp "$module/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$cache.tmp/crds/"
done
rm -rf "$cache"; mv "$cache.tmp" "$cache"
echo "$cache"
