#!/usr/bin/env bash
# Builds h2spec, the HTTP/2 conformance suite the gateway is tested with, from its Go module at a
# pinned release, once. Prints the folder holding the binary.
exec "$(dirname "$0")/go-install.sh" h2spec github.com/summerwind/h2spec/cmd/h2spec v2.2.1+incompatible
