#!/usr/bin/env bash
# `make node-down`: stops the test node of up.sh and leaves nothing behind: processes (and the
# containers' shims), mounts, network namespaces, cgroups, iptables chains, links and routes,
# and the host sysctls the kubelet changed. Certificates and built images are kept.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${APIGW_NODE_DIR:-$repo/target/node}
run=/run/apigw-node
[ -d "$dir" ] && dir=$(cd "$dir" && pwd)

stop() { # name
  local pidfile=$dir/$1.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$pidfile"
}
for name in kube-scheduler kube-proxy kubelet; do stop "$name"; done
# The pods' processes, then containerd: each shim of ours names our socket.
for pid in $(pgrep -f "containerd-shim.*$run/containerd.sock"); do
  pkill -9 -P "$pid" 2>/dev/null
  kill -9 "$pid" 2>/dev/null
done
stop containerd

# Mounts under the kubelet's and containerd's folders and the pods' network namespaces.
awk '{print $2}' /proc/self/mounts | grep -E "^($dir|$run)/" | sort -r | while read -r mount; do
  umount -l "$mount" 2>/dev/null
done
for netns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
  ip netns delete "$netns" 2>/dev/null
done
# The pods' cgroups, deepest first, in every hierarchy.
for hierarchy in /sys/fs/cgroup/*/; do
  [ -d "$hierarchy/kubepods" ] && find "$hierarchy/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null
done

# kube-proxy's chains, then the guard, links and routes.
proxy=$(ls -d "${APIGW_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apigw}"/node-*/kube-proxy 2>/dev/null | head -n1)
[ -n "$proxy" ] && "$proxy" --cleanup >/dev/null 2>&1
# What kube-proxy's cleanup leaves: the kubelet's own chains (KUBE-FIREWALL, canaries).
for table in filter nat mangle; do
  iptables -w -t "$table" -S | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed 's/^-A/-D/' | while read -r rule; do
    eval iptables -w -t "$table" "$rule" 2>/dev/null
  done
  chains=$(iptables -w -t "$table" -S | awk '/^-N KUBE-/ {print $2}')
  for chain in $chains; do iptables -w -t "$table" -F "$chain" 2>/dev/null; done
  for chain in $chains; do iptables -w -t "$table" -X "$chain" 2>/dev/null; done
done
ip netns delete apigw-outside 2>/dev/null
ip link delete apigw-pods 2>/dev/null
ip link delete apigw-node 2>/dev/null
for hook in filter:OUTPUT filter:FORWARD mangle:POSTROUTING; do
  table=${hook%%:*} chain=${hook#*:}
  while iptables -w -t "$table" -D "$chain" -j APIGW-NODE-GUARD 2>/dev/null; do :; done
done
for table in filter mangle; do
  iptables -w -t "$table" -F APIGW-NODE-GUARD 2>/dev/null && iptables -w -t "$table" -X APIGW-NODE-GUARD 2>/dev/null
done
if [ -f "$dir/sysctls.saved" ]; then
  while IFS='=' read -r name value; do sysctl -qw "$name=$value"; done <"$dir/sysctls.saved"
fi
rm -rf "$run" "$dir/kubelet" "$dir/containerd/root"

APIGW_CLUSTER_DIR=$dir/controlplane "$repo/e2e/controlplane/down.sh" >/dev/null 2>&1
echo "node stopped"
