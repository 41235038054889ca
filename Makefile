# apigw — make targets. `make help` lists them.
SHELL := /bin/bash
CARGO ?= cargo
# make bench's Pingora anchor builds outside the workspace, cached like the other heavy builds.
PINGORA_TARGET ?= $(HOME)/.cache/apigw/pingora-target
CLUSTER_DIR ?= $(CURDIR)/target/controlplane
export APIGW_CLUSTER_DIR := $(CLUSTER_DIR)

.PHONY: help demo test lint fmt-check clippy unit e2e bench callgrind bench-operator image-test fuzz crds cluster-up cluster-down controlplane node-up node-down node-test

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

demo: ## Run the gateway on examples/quickstart with local backends (no cluster needed)
	@hack/demo.sh

test: lint unit e2e image-test node-test ## Everything CI runs: lint, unit tests, end-to-end tests on the test control plane, images, the suites on the test node

lint: fmt-check clippy ## cargo fmt --check and clippy with warnings as errors

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: ## Unit and integration tests that need no cluster
	$(CARGO) test --locked

e2e: cluster-up ## End-to-end tests: real gateway processes and backends, a real kube-apiserver
	$(CARGO) build --locked -p apigw-gateway -p apigw-operator -p apigw-cli -p apigw-e2e --bins
	$(CARGO) test --locked -p apigw-e2e

bench: ## Gateway vs nginx vs Pingora vs direct (plain and TLS): requests/s, latency, HTTP/2, memory and reload with 10,000 APIs
	@command -v wrk >/dev/null && command -v h2load >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq wrk nghttp2-client nginx-light >/dev/null)
	@test -x $(HOME)/.cargo/bin/oha || $(CARGO) install --locked oha --version 1.16.0
	$(CARGO) build --release --locked -p apigw-gateway -p apigw-e2e --bins
	$(CARGO) build --release --locked --manifest-path hack/pingora-proxy/Cargo.toml --target-dir $(PINGORA_TARGET)
	$(CARGO) bench --locked -p apigw-gateway --bench route_lookup -- --noplot
	@APIGW_OTELCOL=$$(e2e/controlplane/build-otelcol.sh)/otelcol APIGW_PINGORA=$(PINGORA_TARGET)/release/apigw-bench-pingora hack/bench.py

callgrind: ## User-space instructions per proxied request under valgrind (repeatable, unlike times); hack/callgrind.py BINARY... compares builds
	@command -v wrk >/dev/null && command -v valgrind >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk valgrind >/dev/null)
	$(CARGO) build --release --locked -p apigw-gateway -p apigw-e2e --bins
	@hack/callgrind.py

bench-operator: cluster-up ## Control-plane targets: apply->serve latency, 1,000 Apis convergence and writes, memory at 10,000 Apis, 5,000 and 20,000 Apis written at 100/s
	$(CARGO) build --release --locked -p apigw-gateway -p apigw-operator -p apigw-e2e --bins
	$(CARGO) run --release --locked -q -p apigw-e2e --bin apigw-operator-bench

image-test: cluster-up ## Build both images from the Dockerfile with buildah and run them read-only as non-root
	@hack/image-test.sh

FUZZ_TARGETS := http1_head http1_body signature manifests condition
fuzz: ## Fuzz each target (HTTP/1.1 head parser and body decoder, StringToSign, manifest loader, conditions) for FUZZ_SECONDS (default 60; nightly)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$target && \
	  (cd fuzz && $(CARGO) +nightly fuzz run $$target corpus/$$target seeds/$$target -- \
	    -max_total_time=$${FUZZ_SECONDS:-60} -max_len=65536 -print_final_stats=1) || exit 1; \
	done

crds: ## Regenerate crds/*.yaml, the Helm chart's copies and docs/crd-reference.md from the Rust types
	$(CARGO) run --locked -q -p apigw-operator --bin crdgen -- crds
	$(CARGO) run --locked -q -p apigw-operator --bin crdgen -- charts/apigw/crds
	$(CARGO) run --locked -q -p apigw-operator --bin crdgen -- --reference docs/crd-reference.md

controlplane: ## Build (or reuse from the cache) kube-apiserver, etcd, kube-controller-manager, kubectl
	@e2e/controlplane/build.sh

cluster-up: ## Start the test control plane; prints the KUBECONFIG to export
	@e2e/controlplane/up.sh

cluster-down: ## Stop the test control plane
	@e2e/controlplane/down.sh

node-up: ## Start a real single-node cluster (control plane, containerd, kubelet, kube-proxy, scheduler); prints the KUBECONFIG to export
	@e2e/node/up.sh

node-down: ## Stop the test node and remove everything it made (processes, mounts, netns, cgroups, iptables, links)
	@e2e/node/down.sh

node-test: image-test node-up ## The suites that run pods (e2e/tests/node_*.rs) on the test node, with the images image-test built
	$(CARGO) build --locked -p apigw-e2e --bins
	APIGW_CLUSTER_DIR=$(CURDIR)/target/node/controlplane $(CARGO) test --locked -p apigw-e2e --test node_chart --test node_examples -- --ignored --nocapture
