#!/usr/bin/env bash
# `make demo`: the gateway on examples/quickstart with two local echo backends, no cluster needed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -q -p apigw-gateway -p apigw-e2e --bins
bin=${CARGO_TARGET_DIR:-target}/debug
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
"$bin/apigw-echo" 127.0.0.1:9001 release-backend 2>/dev/null & pids+=($!)
"$bin/apigw-echo" 127.0.0.1:9002 test-backend 2>/dev/null & pids+=($!)
cat <<'TXT'

apigw demo: serving examples/quickstart on http://localhost:8080 (admin on :9090). Try:

  curl -i localhost:8080/hello                                   # MOCK answer from the gateway
  curl -i localhost:8080/users/42                                # mapped: userId -> ?uid=42, client IP -> X-Real-IP
  curl -i -H 'X-Ca-Stage: TEST' localhost:8080/users/42          # the TEST stage's backend
  curl -i localhost:8080/users/abc                               # 400, X-Ca-Error-Message names the parameter
  curl -i localhost:8080/nothing                                 # 404 I404NF
  curl -s localhost:9090/config; curl -s localhost:9090/metrics | head

Edit examples/quickstart/quickstart.yaml and the gateway reloads it; Ctrl-C stops everything.

TXT
"$bin/apigw-gateway" --manifests examples/quickstart --http 127.0.0.1:8080 --admin 127.0.0.1:9090
