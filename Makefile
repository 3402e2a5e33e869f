# AutoCLINT on Kubernetes. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export AUTOCLINT_CACHE ?= $(HOME)/.cache/autoclint

.PHONY: help setup build demo test lint typecheck unit e2e bench crds

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## install system packages, npm deps and build the CLI (idempotent)
	@hack/setup.sh

build: ## bundle the CLI and the operator
	@node hack/build.mjs

demo: setup ## build Fashion-MNIST and run AutoCLINT on it locally with a short budget
	@hack/demo.sh

lint: ## eslint over every workspace
	@npx eslint .

typecheck: ## strict TypeScript over every workspace
	@npx tsc -p tsconfig.json

unit: ## unit and integration tests (real nats-server, real torch)
	@node hack/run-tests.mjs unit

e2e: ## bring up the local cluster with its real node, run the end-to-end suites, tear down (KEEP_CLUSTER=1 keeps it, REAL_NODE=0 skips the real node and its images)
	@set -e; if [ "$${REAL_NODE:-1}" = 1 ]; then $(MAKE) --no-print-directory images; fi; \
	REAL_NODE=$${REAL_NODE:-1} hack/cluster-up.sh; \
	if [ -z "$$KEEP_CLUSTER" ]; then trap 'hack/cluster-down.sh' EXIT; fi; \
	node hack/run-tests.mjs e2e

crds: ## regenerate crds/*.yaml from the TypeBox schemas in api/src
	@node --import tsx api/src/generate-crds.ts

test: setup ## everything CI runs
	@$(MAKE) --no-print-directory typecheck lint unit e2e

bench: setup ## the trainer benchmark table (bench/results/)
	@node --import tsx bench/run.ts

.PHONY: cluster-up cluster-down
cluster-up: ## a real local control plane (etcd, kube-apiserver, scheduler, controller-manager, kwok GPU nodes) and one real node (REAL_NODE=0: none) in .cluster/
	@REAL_NODE=$${REAL_NODE:-1} hack/cluster-up.sh

.PHONY: images
images: ## build the operator, trainer, NATS, CoreDNS and pause images locally (buildah, no registry; cached by content) and load them into the real node's containerd when it is up
	@if [ -S /run/containerd/containerd.sock ]; then hack/images.sh; else hack/images.sh --no-import; fi

cluster-down: ## stop the local control plane and remove .cluster/
	@hack/cluster-down.sh
