#!/usr/bin/env bash
# Starts the test control plane: etcd, kube-apiserver and kube-controller-manager (namespace
# deletion and garbage collection) as local processes on loopback, on random free ports.
# Writes into $APIGW_CLUSTER_DIR (default <repo>/target/controlplane):
#   kubeconfig   admin credentials (a client certificate of system:masters)
#   bin/         kubectl, helm, promql-check, h2spec, otelcol and the control-plane binaries
#   monitoring-crds/  the prometheus-operator CRDs the chart's monitoring test installs
#   node_modules/     the official Node.js SDK (e2e/clients/node)
#   *.log, *.pid the processes
# Idempotent: a running control plane is left alone. Stop it with down.sh.
# e2e/node/up.sh starts it for a real node with APIGW_API_ADDRESS (the node's address, which pods
# reach through the kubernetes Service) and APIGW_NODE_CLUSTER=1 (service-account tokens in pods,
# every controller); by default it serves on 127.0.0.1 for processes of this machine only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${APIGW_CLUSTER_DIR:-$repo/target/controlplane}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
export KUBECONFIG=$dir/kubeconfig
api_address=${APIGW_API_ADDRESS:-127.0.0.1}
node_cluster=${APIGW_NODE_CLUSTER:-}

if [ -f "$dir/kube-apiserver.pid" ] && kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null \
   && "$dir/bin/kubectl" get --raw /readyz >/dev/null 2>&1; then
  echo "control plane already running; KUBECONFIG=$KUBECONFIG"; exit 0
fi
"$here/down.sh" >/dev/null 2>&1 || true

bins=$("$here/build.sh")
helm=$("$here/build-helm.sh")
monitoring=$("$here/build-monitoring.sh")
h2spec=$("$here/build-h2spec.sh")
otelcol=$("$here/build-otelcol.sh")
node_clients=$("$here/../clients/node/install.sh")
rm -rf "$dir/bin" "$dir/etcd-data" "$dir/monitoring-crds" "$dir/node_modules"; mkdir -p "$dir/bin" "$dir/pki"
ln -s "$node_clients/node_modules" "$dir/node_modules"
ln -s "$bins"/* "$helm/helm" "$monitoring/promql-check" "$h2spec/h2spec" "$otelcol/otelcol" "$dir/bin/"
cp -r "$monitoring/crds" "$dir/monitoring-crds"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)

pki=$dir/pki
# admin.ext marks the PKI of this script's version: X.509 v3 client certificates (rustls, which
# the operator and gateway use through kube-rs, refuses v1 certificates).
if [ ! -f "$pki/admin.ext" ]; then
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=apigw-test-ca" -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:10.96.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' "$api_address" > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=admin" -keyout admin.key -out admin.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile admin.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
fi

b64() { base64 -w0 < "$1"; }
cat > "$KUBECONFIG" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: apigw-test
  cluster: {server: "https://$api_address:$api_port", certificate-authority-data: $(b64 "$pki/ca.crt")}
users:
- name: admin
  user: {client-certificate-data: $(b64 "$pki/admin.crt"), client-key-data: $(b64 "$pki/admin.key")}
contexts:
- name: apigw-test
  context: {cluster: apigw-test, user: admin}
current-context: apigw-test
KCFG

start() { # name, args... (kept in $name.args for restart-apiserver.sh)
  local name=$1; shift
  printf '%s\n' "$@" > "$dir/$name.args"
  "$dir/bin/$name" "$@" >"$dir/$name.log" 2>&1 &
  echo $! > "$dir/$name.pid"
}

start etcd --name apigw-test --data-dir "$dir/etcd-data" --unsafe-no-fsync \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "apigw-test=http://127.0.0.1:$peer_port" --log-level warn

admission=(--disable-admission-plugins ServiceAccount)
controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller
signing=()
if [ -n "$node_cluster" ]; then
  admission=()
  controllers='*'
  signing=(--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key")
fi
start kube-apiserver --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address "$api_address" --advertise-address "$api_address" --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
  "${admission[@]}" --allow-privileged --v 1

# shellcheck source=wait-for.sh
. "$here/wait-for.sh"
wait_for "kube-apiserver /readyz" 60 "$dir/bin/kubectl" get --raw /readyz

start kube-controller-manager --kubeconfig "$KUBECONFIG" --authentication-kubeconfig "$KUBECONFIG" \
  --authorization-kubeconfig "$KUBECONFIG" --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
  --controllers "$controllers" \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" "${signing[@]}" --v 1
wait_for "the default service account" 30 "$dir/bin/kubectl" -n default get serviceaccount default

echo "control plane ready in ${SECONDS}s; export KUBECONFIG=$KUBECONFIG"
