#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the pinned Go modules of
# this folder, once (cached outside the repository). Prints the folder holding the binaries.
exec "$(dirname "$0")/build-k8s.sh" controlplane cmd/etcd/main.go ./cmd/etcd \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
