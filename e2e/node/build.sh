#!/usr/bin/env bash
# Builds the test node's binaries from the control plane's pinned Go module (e2e/controlplane),
# once (cached outside the repository): kubelet, kube-proxy and kube-scheduler of the same
# k8s.io/kubernetes release as kube-apiserver, and the pod sandbox's pause (cmd/pause). Prints the
# folder holding the binaries.
exec "$(dirname "$0")/../controlplane/build-k8s.sh" node cmd/pause/main.go k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler ./cmd/pause
