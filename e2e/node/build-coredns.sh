#!/usr/bin/env bash
# Builds the test node's cluster DNS, CoreDNS, from its Go module at a pinned release, once.
# Prints the folder holding the binary.
exec "$(dirname "$0")/../controlplane/go-install.sh" coredns github.com/coredns/coredns v1.14.7
