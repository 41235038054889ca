#!/usr/bin/env bash
# `make node-up`: a real single-node Kubernetes cluster on this machine, for the tests that run
# pods: the control plane of e2e/controlplane (serving on the node's address), and beside it
# containerd and runc (Debian's), the CNI bridge and host-local plugins, kubelet, kube-proxy
# (iptables mode) and kube-scheduler built from the same pinned k8s.io/kubernetes module, and
# cluster DNS (CoreDNS from its Go module; e2e/node/coredns.yaml). An Ingress controller's image
# (Traefik, e2e/node/traefik) is built and imported for the tests that install it.
# Nothing is ever pulled: the sandbox image (pause) and the test images are built here and
# imported into containerd's k8s.io namespace.
#
# Network safety comes first: every cluster range lives on local bridges, and DROP rules stop
# packets to those ranges (and from pods) from leaving by the default interface, in filter
# OUTPUT/FORWARD and in mangle POSTROUTING (kube-proxy puts ACCEPT rules above ours in filter).
#
#   node and API server  10.201.0.1 on bridge apigw-node (no ports)
#   pods                 10.244.0.0/24 on bridge apigw-pods (CNI), gateway 10.244.0.1
#   Services             10.96.0.0/16, routed to apigw-node (kube-proxy DNATs them)
#   load balancers       10.202.0.0/24, routed to apigw-node (tests write Service status)
#   an outside client    10.201.0.100 in network namespace apigw-outside (`ip netns exec`)
#
# Idempotent; the last line is `export KUBECONFIG=...`. `make node-down` undoes everything.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${APIGW_NODE_DIR:-$repo/target/node}
run=/run/apigw-node
node=apigw-node node_ip=10.201.0.1 pod_subnet=10.244.0.0/24 pod_gateway=10.244.0.1
guarded=10.96.0.0/16,10.201.0.0/24,10.202.0.0/24,10.244.0.0/16
mkdir -p "$dir" "$run"
dir=$(cd "$dir" && pwd)
export KUBECONFIG=$dir/controlplane/kubeconfig
kubectl() { "$dir/controlplane/bin/kubectl" "$@"; }

# images PAUSE: the node's images, built from what they run (cached builds) and imported.
images() {
  local coredns traefik
  coredns=$("$here/build-coredns.sh")
  traefik=$("$here/build-traefik.sh")
  "$here/images.sh" "$1" "$coredns/coredns" "$traefik/traefik" "$run/containerd.sock" >&2
}

if [ -f "$dir/kubelet.pid" ] && kill -0 "$(cat "$dir/kubelet.pid")" 2>/dev/null &&
  kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; then
  images "$("$here/build.sh")/pause"
  echo "node already running"; echo "export KUBECONFIG=$KUBECONFIG"; exit 0
fi
"$here/down.sh" >/dev/null 2>&1 || true
started=$SECONDS

need=()
for tool in containerd:containerd runc:runc iptables:iptables conntrack:conntrack ip:iproute2 buildah:buildah; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 1. The guard, before any address exists.
default_if=$(ip route show default | awk '{print $5; exit}')
for table in filter mangle; do
  iptables -w -t "$table" -N APIGW-NODE-GUARD 2>/dev/null || iptables -w -t "$table" -F APIGW-NODE-GUARD
  iptables -w -t "$table" -A APIGW-NODE-GUARD -o "$default_if" -d "$guarded" -j DROP
  iptables -w -t "$table" -A APIGW-NODE-GUARD -o "$default_if" -s "$guarded" -j DROP
done
for hook in filter:OUTPUT filter:FORWARD mangle:POSTROUTING; do
  table=${hook%%:*} chain=${hook#*:}
  iptables -w -t "$table" -C "$chain" -j APIGW-NODE-GUARD 2>/dev/null ||
    iptables -w -t "$table" -I "$chain" 1 -j APIGW-NODE-GUARD
done

# 2. The node's address and the routes of the Service and load-balancer ranges.
ip link show apigw-node >/dev/null 2>&1 || ip link add apigw-node type bridge
ip addr replace "$node_ip/24" dev apigw-node
ip link set apigw-node up
ip route replace 10.96.0.0/16 dev apigw-node
ip route replace 10.202.0.0/24 dev apigw-node
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
# A client outside the cluster, as a load balancer's or the internet's would be: its own
# network namespace on the node's bridge (10.201.0.100), routed to the load-balancer range only.
ip netns list | grep -qw apigw-outside || ip netns add apigw-outside
if ! ip link show apigw-outside >/dev/null 2>&1; then
  ip link add apigw-outside type veth peer name eth0 netns apigw-outside
  ip link set apigw-outside master apigw-node up
fi
ip -n apigw-outside addr replace 10.201.0.100/24 dev eth0
ip -n apigw-outside link set eth0 up
ip -n apigw-outside link set lo up
ip -n apigw-outside route replace 10.202.0.0/24 via "$node_ip"

# 3. The control plane, on the node's address.
APIGW_CLUSTER_DIR=$dir/controlplane APIGW_API_ADDRESS=$node_ip APIGW_NODE_CLUSTER=1 \
  "$repo/e2e/controlplane/up.sh" >&2
bins=$("$here/build.sh")
pki=$dir/controlplane/pki

# 4. containerd, with the CRI settings this machine kind needs.
mkdir -p "$dir/containerd" "$dir/cni"
cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$run/containerd"
[grpc]
  address = "$run/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/apigw/pause:dev"
  # No CAP_SYS_RESOURCE here: runc may not lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
EOF
cat >"$dir/cni/10-apigw.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "apigw-pods", "plugins": [
  {"type": "bridge", "bridge": "apigw-pods", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$run/ipam",
            "ranges": [[{"subnet": "$pod_subnet", "gateway": "$pod_gateway"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
start() { # name, command...
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}
# shellcheck source=../controlplane/wait-for.sh
. "$repo/e2e/controlplane/wait-for.sh"
start containerd containerd --config "$dir/containerd/config.toml"
wait_for containerd 30 ctr --address "$run/containerd.sock" version

# 5. Images: the pause sandbox and the echo backend, built here, never pulled.
images "$bins/pause"

# 6. kubelet, as system:node:apigw-node.
if [ ! -f "$pki/kubelet.crt" ]; then
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:$node" \
    -keyout "$pki/kubelet.key" -out "$pki/kubelet.csr" 2>/dev/null
  openssl x509 -req -in "$pki/kubelet.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
    -extfile "$pki/admin.ext" -out "$pki/kubelet.crt" 2>/dev/null
fi
server=$(awk '/server:/ {print $3; exit}' "$KUBECONFIG" | tr -d '",')
b64() { base64 -w0 <"$1"; }
cat >"$dir/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: node, cluster: {server: "$server", certificate-authority-data: $(b64 "$pki/ca.crt")}}]
users: [{name: kubelet, user: {client-certificate-data: $(b64 "$pki/kubelet.crt"), client-key-data: $(b64 "$pki/kubelet.key")}}]
contexts: [{name: node, context: {cluster: node, user: kubelet}}]
current-context: node
EOF
# Pods get no resolver of this machine's (cluster DNS only).
printf 'nameserver 10.96.0.10\n' >"$dir/resolv.conf"
cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$run/containerd.sock
address: $node_ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: "$pki/ca.crt"}}
authorization: {mode: Webhook}
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
resolvConf: "$dir/resolv.conf"
failSwapOn: false
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
# The kubelet sets these at start; they are put back once the node is Ready.
sysctls=(kernel.panic kernel.panic_on_oops vm.overcommit_memory)
for name in "${sysctls[@]}"; do echo "$name=$(sysctl -n "$name")"; done >"$dir/sysctls.saved"
start kubelet "$bins/kubelet" --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
  --hostname-override "$node" --node-ip "$node_ip" --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet-pki" --v 1

# 7. kube-proxy (iptables; NodePorts on the node's address only) and the scheduler.
cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: "$KUBECONFIG"}
hostnameOverride: $node
bindAddress: $node_ip
clusterCIDR: 10.244.0.0/16
nodePortAddresses: ["10.201.0.0/24"]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0}
EOF
start kube-proxy "$bins/kube-proxy" --config "$dir/kube-proxy.yaml" --v 1
start kube-scheduler "$bins/kube-scheduler" --kubeconfig "$KUBECONFIG" --authentication-kubeconfig "$KUBECONFIG" \
  --authorization-kubeconfig "$KUBECONFIG" --leader-elect=false --bind-address 127.0.0.1 --secure-port 0

ready() { kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True; }
wait_for "node $node Ready" 120 ready
wait_for "kube-proxy's rules" 60 iptables -w -t nat -S KUBE-SERVICES
while IFS='=' read -r name value; do sysctl -qw "$name=$value"; done <"$dir/sysctls.saved"

# 8. Cluster DNS.
kubectl apply -f "$here/coredns.yaml" >/dev/null
kubectl -n kube-system rollout status deployment/coredns --timeout=120s >&2
echo "node ready in $((SECONDS - started))s" >&2
echo "export KUBECONFIG=$KUBECONFIG"
