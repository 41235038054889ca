#!/usr/bin/env bash
# Restarts the kube-apiserver of the test control plane with the same flags (etcd keeps the
# data): what the recovery test uses to break every watch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${APIGW_CLUSTER_DIR:-$(cd "$here/../.." && pwd)/target/controlplane}
mapfile -t args < "$dir/kube-apiserver.args"
pid=$(cat "$dir/kube-apiserver.pid")
kill "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null || true
"$dir/bin/kube-apiserver" "${args[@]}" >>"$dir/kube-apiserver.log" 2>&1 &
echo $! > "$dir/kube-apiserver.pid"
export KUBECONFIG=$dir/kubeconfig
for _ in $(seq 300); do
  "$dir/bin/kubectl" get --raw /readyz >/dev/null 2>&1 && { echo "kube-apiserver restarted"; exit 0; }
  sleep 0.2
done
echo "kube-apiserver did not come back; see $dir/kube-apiserver.log" >&2
exit 1
