#!/usr/bin/env bash
# Builds helm from its Go module at a pinned release (the chart tests run it), once. Prints the
# folder holding the binary.
exec "$(dirname "$0")/go-install.sh" helm helm.sh/helm/v3/cmd/helm v3.20.2
