#!/usr/bin/env bash
# Stops the test control plane started by up.sh and removes its data (certificates are kept).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${APIGW_CLUSTER_DIR:-$(cd "$here/../.." && pwd)/target/controlplane}
for name in kube-controller-manager kube-apiserver etcd; do
  pidfile=$dir/$name.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$pidfile"
done
rm -rf "$dir/etcd-data"
echo "control plane stopped"
