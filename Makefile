# Murphy's build. `make help` lists the targets.
GO        ?= go
PKGS      := ./...
# The race detector needs cgo, which Go turns off on a machine without a C compiler;
# there the tests run without it and `make unit` says so.
RACE      := $(shell [ "$$($(GO) env CGO_ENABLED 2>/dev/null)" = 1 ] && echo -race)
TEST_FLAGS ?= $(RACE) -count=1 -timeout 15m
# The Go tools are pinned by go.mod's tool directive and run with `go tool`: nothing to
# install first. buf stays out of go.mod (it would add ~60 modules and move protobuf and
# x/sys); `go run` builds the pinned version once into the build cache.
BUF       := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.75.0
# Tests that lack a system package or root record themselves here (internal/testenv);
# `make unit` lists them after the tests.
SKIPPED   := $(CURDIR)/bin/skipped-tests.txt
# The system packages some tests need; `make deps` installs them with apt.
DEPS      := prometheus chromium iproute2 nftables gcc containernetworking-plugins

.PHONY: help build test unit lint fmt vet staticcheck proto tools deps demo bench e2e e2e-kubernetes reliability fuzz fresh clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/murphy (static, CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -o bin/murphy ./cmd/murphy

test: vet staticcheck unit ## everything CI runs: vet, staticcheck, unit and in-process cluster tests with -race

unit: ## go test -race over every package, then list the tests skipped for want of a system package
	@mkdir -p bin && rm -f $(SKIPPED)
	@status=0; MURPHY_SKIPPED=$(SKIPPED) $(GO) test $(TEST_FLAGS) $(PKGS) || status=$$?; \
	if [ -s $(SKIPPED) ]; then \
		echo; echo "Skipped: these tests need something this machine lacks"; \
		sort -u $(SKIPPED) | awk -F'\t' '{ n[$$1]++; if (n[$$1] <= 5) tests[$$1] = tests[$$1] (n[$$1] > 1 ? ", " : "") $$4 " (" $$3 ")"; why[$$1] = $$5; how[$$1] = $$2 } \
			END { for (k in n) printf "  %s, %d test%s: %s%s\n    %s\n    enable with: %s\n", k, n[k], (n[k] > 1 ? "s" : ""), tests[k], (n[k] > 5 ? sprintf(" and %d more", n[k] - 5) : ""), why[k], how[k] }'; \
	else echo; echo "No test was skipped for want of a system package."; fi; \
	if [ -z "$(RACE)" ]; then echo "The race detector was off: it needs a C compiler (cgo). Enable with: make deps (gcc)"; fi; \
	exit $$status

vet: ## go vet, and a build for macOS and Windows (the CLI is a client there)
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...

staticcheck: ## staticcheck, the version go.mod pins
	$(GO) tool staticcheck $(PKGS)

fmt: ## gofmt -l must print nothing
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: fmt vet staticcheck ## gofmt, go vet, staticcheck and buf lint
	$(BUF) lint

proto: ## regenerate proto/murphy/v1 with buf and the plugins go.mod pins
	$(BUF) lint
	$(BUF) generate

tools: ## build the pinned Go tools ahead of time (optional: `go tool` and `go run` build them on first use)
	$(GO) build tool
	$(BUF) --version

deps: ## install the system packages some tests need, with apt: prometheus, chromium, iproute2, nftables, gcc, the CNI plugins
	@sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS)

fresh: ## `make test` in a fresh clone on a bare Debian (Go and make only), unprivileged in a container (root)
	deploy/freshmachine/run

demo: build ## run `murphy dev`: a 3-node cluster, 12 workers, a demo experiment
	./bin/murphy dev

# Runs per cell of the heterogeneous-fleet simulation; the README's tables use 1000 twice
# (MURPHY_SIM_SEED=0 and 1).
SIM_RUNS ?= 500

bench: ## benchmarks: proxy overhead, analysis, FSM apply, a 2,000-target run end to end, the heterogeneous-fleet simulation
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./worker/... ./analysis/... ./coordinator/...
	MURPHY_PROXY_BENCH=1 $(GO) test -count=1 -run TestProxyThroughputRatio -v ./worker/fault/httpfault/
	$(MAKE) build && ./bin/murphy bench run --targets 2000
	MURPHY_SIM_LONG=1 MURPHY_SIM_RUNS=$(SIM_RUNS) $(GO) test -count=1 -timeout 60m -run TestFleetSimLong -v ./coordinator/runner/
	$(MAKE) reliability RELIABILITY_TRIALS=$(BENCH_RELIABILITY_TRIALS)

# Trials of the black-box reliability suite: a few in `make e2e`, at least a hundred in
# `make bench` (about 7 s each).
RELIABILITY_TRIALS       ?= 10
BENCH_RELIABILITY_TRIALS ?= 100

reliability: build ## black-box reliability: real processes, faults in namespaces, workers frozen, killed, cut off, leaders killed (root)
	MURPHY_E2E_BIN=$(CURDIR)/bin/murphy MURPHY_RELIABILITY_TRIALS=$(RELIABILITY_TRIALS) $(GO) test -count=1 -timeout 40m -v -run TestReliability ./deploy/reliability/

e2e: build ## end-to-end: `murphy dev --once` on real binaries; deploy/e2e breaks the compose deployment in Docker
	$(GO) test -count=1 -timeout 10m -tags e2e ./cmd/murphy/...
	MURPHY_E2E_BIN=$(CURDIR)/bin/murphy $(GO) test -count=1 -timeout 15m -tags e2e -v ./deploy/e2e/
	$(MAKE) reliability

# A module of its own (deploy/kubernetes-e2e/go.mod), so the main module never depends on
# k8s.io/kubernetes; its ./... is not part of this module's.
KUBE_BIN  ?= $(CURDIR)/bin/kube

e2e-kubernetes: ## Kubernetes tier: builds kube-apiserver and kube-controller-manager into bin/kube (first time: long), tests with a real etcd
	GO=$(GO) deploy/kubernetes-e2e/build-kube.sh $(KUBE_BIN)
	cd deploy/kubernetes-e2e && MURPHY_KUBE_BIN=$(KUBE_BIN) $(GO) test -count=1 -timeout 15m -v ./...

# FROM scratch images of the static binary; no base image is pulled. The classic builder
# is used where the buildx plugin is missing.
IMAGE_TAG    ?= dev
DOCKER_BUILD ?= DOCKER_BUILDKIT=$$(docker buildx version >/dev/null 2>&1 && echo 1 || echo 0) docker build
.PHONY: images image-prometheus

images: build ## build the images murphy-chaos/murphy and murphy-chaos/demo (tag IMAGE_TAG, default dev)
	$(DOCKER_BUILD) -t murphy-chaos/murphy:$(IMAGE_TAG) -f deploy/images/murphy.Dockerfile bin
	$(DOCKER_BUILD) -t murphy-chaos/demo:$(IMAGE_TAG) -f deploy/images/demo.Dockerfile bin

image-prometheus: ## optional: murphy-chaos/prometheus from this host's prometheus binary and its libraries
	rm -rf bin/prometheus-image && mkdir -p bin/prometheus-image/rootfs/bin bin/prometheus-image/rootfs/etc/prometheus bin/prometheus-image/rootfs/prometheus
	cp "$$(command -v prometheus)" bin/prometheus-image/rootfs/bin/prometheus
	ldd "$$(command -v prometheus)" | grep -o '/[^ ]*' | xargs -r cp --parents -L -t bin/prometheus-image/rootfs
	$(DOCKER_BUILD) -t murphy-chaos/prometheus:$(IMAGE_TAG) -f deploy/images/prometheus.Dockerfile bin/prometheus-image

# Every fuzz target as package:Function; go test -fuzz takes one target at a time.
FUZZTIME     ?= 60s
FUZZ_TARGETS ?= ./coordinator/spec/:FuzzParse ./coordinator/selector/:FuzzParse \
	./coordinator/fsm/:FuzzApply ./worker/:FuzzAssignment \
	./analysis/:FuzzMannWhitney ./analysis/:FuzzHodgesLehmann ./analysis/:FuzzCompare \
	./worker/fault/httpfault/:FuzzHTTPRequest

fuzz: ## fuzz every target for FUZZTIME each (default 60s); crashers land in testdata/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t##*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

clean: ## remove build output
	rm -rf bin
