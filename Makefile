# releasegate: `make run` starts the distribution on the example config,
# `make test` runs every test, the end-to-end ones through the built binary.

GO           ?= go
TOOLS        := $(CURDIR)/.tools
OCB          := $(TOOLS)/builder
TELEMETRYGEN := $(TOOLS)/telemetrygen
JAEGER       := $(TOOLS)/jaeger
GREMLINS     := $(TOOLS)/gremlins
BINARY       := bin/otelcol-releasegate
CLI          := bin/releasegate
SOURCES      := $(shell find . -name '*.go' -not -path './_build/*' -not -path './.tools/*' -not -path './bench/*' -not -path './deploy/*') go.mod go.sum builder-config.yaml \
                $(wildcard internal/page/templates/* internal/page/static/*)

OCB_VERSION          := v0.165.0
TELEMETRYGEN_VERSION := v0.161.0
GREMLINS_VERSION     := v0.6.0

# The container image is built with podman or docker, whichever is
# installed, by `make image` and by the end-to-end tests.
CONTAINER_ENGINE ?= $(shell command -v podman || command -v docker)
IMAGE            ?= otelcol-releasegate:latest

.PHONY: build run image test vet unit fuzz mutation e2e e2e-deploy bench bench-e2e bench-startup bench-capacity load tools prometheus chromium clean

build: $(BINARY) $(CLI)

# The releasegate command: check, wait, lint (cmd/releasegate).
$(CLI): $(SOURCES)
	$(GO) build -o $(CLI) ./cmd/releasegate

$(BINARY): $(OCB) $(SOURCES)
	$(OCB) --config builder-config.yaml
	mkdir -p bin
	cp _build/otelcol-releasegate $(BINARY)

# The collector, and beside it the releasegate command the quickstart gates
# its runs with.
run: $(BINARY) $(CLI)
	$(BINARY) --config examples/collector.yaml

# The container image (Dockerfile), FROM scratch: the static binary, the CA
# certificates of the machine that builds it, and user 10001.
image: $(BINARY)
	@test -n "$(CONTAINER_ENGINE)" || { echo "image: neither podman nor docker is installed" >&2; exit 1; }
	rm -rf _build/image
	mkdir -p _build/image
	install -m 755 $(BINARY) _build/image/otelcol-releasegate
	install -m 644 /etc/ssl/certs/ca-certificates.crt _build/image/ca-certificates.crt
	echo 'otelcol:x:10001:10001:otelcol-releasegate:/:/sbin/nologin' > _build/image/passwd
	echo 'otelcol:x:10001:' > _build/image/group
	$(CONTAINER_ENGINE) build --file Dockerfile --tag $(IMAGE) _build/image

test: vet unit e2e e2e-deploy

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 $(shell $(GO) list ./... | grep -v /e2e)

# Each fuzz target for FUZZTIME (go fuzzes one target per run); `make unit`
# runs their seed corpora, under testdata/fuzz. Minimizing every new input
# would stall the fuzzer for up to a minute each (golang/go#48820), so it is
# off: a failing input is saved as found.
FUZZTIME ?= 30s

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzGatesDocument$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./config
	$(GO) test -run '^$$' -fuzz '^FuzzProcessSpans$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./processor/releasegateprocessor
	$(GO) test -run '^$$' -fuzz '^FuzzRecordAnnotations$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/runstore
	$(GO) test -run '^$$' -fuzz '^FuzzTraceAssembly$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/traces
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./internal/otlpfile

# Mutation testing (gremlins) of the gates language, the run store and trace
# assembly, each package by its own tests: efficacy (killed of killed and
# lived) and mutant coverage (killed and lived of those and not covered)
# per package, less the equivalent mutants mutation-equivalents.txt lists.
# gremlins never runs a mutant in a case clause's expression or a constant
# (Go's coverage profile has no block there): they are counted apart, and
# the target fails when efficacy or the coverage of the other mutants is
# under 90%, or on a stale entry. internal/runstore/runstoretest is the
# tests' helper, with no tests of its own: left out. Tests run afresh
# (-count=1: a cached coverage run would take no time, and each mutant's
# timeout is ten times the coverage run's), without vet or DWARF, and
# within 8 GiB of address space, so that a mutant that lifts a memory
# limit fails fast rather than take the machine's memory. Not part of
# `make test`.
MUTATION_PACKAGES := config internal/runstore internal/traces

mutation: $(GREMLINS)
	mkdir -p _build/mutation
	ulimit -v 8388608 && for pkg in $(MUTATION_PACKAGES); do echo "mutation: $$pkg"; \
		GOFLAGS='-count=1 -vet=off -ldflags=-w' $(GREMLINS) unleash --silent --workers 2 --timeout-coefficient 10 \
			--exclude-files '^runstoretest/' --output $(CURDIR)/_build/mutation/$$(echo $$pkg | tr / -).json ./$$pkg || exit 1; done
	cd bench && $(GO) run ./cmd/mutation -root $(CURDIR) -equivalents $(CURDIR)/mutation-equivalents.txt -min-efficacy 90 -min-coverage 90 \
		$(foreach pkg,$(MUTATION_PACKAGES),$(pkg)=$(CURDIR)/_build/mutation/$(subst /,-,$(pkg)).json)

# The end-to-end tests start the built distribution, send it spans with
# telemetrygen, have a real Prometheus scrape it, a real Jaeger store its
# spans and headless Chromium read its verdict pages (screenshots in
# _build/screenshots); they fail rather than skip when a tool is missing.
e2e: $(BINARY) $(CLI) $(TELEMETRYGEN) $(JAEGER) prometheus chromium
	RELEASEGATE_E2E=1 RELEASEGATE_BINARY=$(CURDIR)/$(BINARY) RELEASEGATE_CLI=$(CURDIR)/$(CLI) \
		TELEMETRYGEN=$(TELEMETRYGEN) JAEGER=$(JAEGER) OCB=$(OCB) CONTAINER_ENGINE=$(CONTAINER_ENGINE) \
		PROMETHEUS=$$(command -v prometheus) PROMTOOL=$$(command -v promtool) \
		CHROMIUM=$$(command -v chromium) SCREENSHOT_DIR=$(CURDIR)/_build/screenshots \
		$(GO) test -count=1 -timeout 30m -v ./e2e/...

# The Kubernetes manifests and CI snippets of deploy/ (its own module, so
# that the product does not depend on k8s.io): decoded strictly with the
# Kubernetes API types, wired as they claim, and every collector
# configuration in them checked by the built distribution's validate.
e2e-deploy: $(BINARY)
	cd deploy && $(GO) vet ./... && \
		RELEASEGATE_E2E=1 RELEASEGATE_BINARY=$(CURDIR)/$(BINARY) $(GO) test -count=1 ./...

# Go benchmarks of the components, then, as tables (module bench/), the
# releasegate processor side by side with the contrib filter processor,
# trace assembly side by side with the contrib groupbytrace processor, and
# `releasegate check` on a million recorded spans side by side with merely
# decoding them.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./config/... ./processor/... ./exporter/...
	cd bench && { $(GO) test -run '^$$' -bench Processors -benchtime 300x . && \
		$(GO) test -run '^$$' -bench TraceAssembly -benchtime 3x . && \
		$(GO) test -run '^$$' -bench Check -benchtime 1x .; } | tee /dev/stderr | $(GO) run ./cmd/benchtable

# The built distribution fed by telemetrygen, with and without releasegate:
# the collector's CPU seconds per million spans, and their ratio, for traffic
# where one span in ten is gated and where every span is.
bench-e2e: $(BINARY) $(CLI) $(TELEMETRYGEN)
	cd bench && for children in 19 1; do \
		$(GO) run ./cmd/e2ebench -collector $(CURDIR)/$(BINARY) -telemetrygen $(TELEMETRYGEN) -child-spans $$children || exit 1; done

# The built distribution's start-up on gates documents of 1,000 and 10,000
# gates: time until ready, peak memory.
bench-startup: $(BINARY)
	cd bench && $(GO) run ./cmd/startup -collector $(CURDIR)/$(BINARY)

# What one gateway holds: the built distribution as the staging topology
# runs it (examples/gateway.yaml and two examples/sidecar.yaml), 1,000
# concurrent runs, the span rate stepped up until spans are refused or
# dropped. GATES=FILE measures with another gates file.
bench-capacity: $(BINARY)
	cd bench && $(GO) run ./cmd/capacity -collector $(CURDIR)/$(BINARY) -examples $(CURDIR)/examples \
		$(if $(GATES),-gates $(abspath $(GATES)))

# The processor and exporter in one process under 10,000 concurrent runs ×
# 20 gates and 5 million spans, until retention expires: throughput, heap,
# /metrics series. Fails if the heap does not come back or spans are lost.
load:
	cd bench && $(GO) run ./cmd/load

tools: $(OCB) $(TELEMETRYGEN) $(GREMLINS)

# Prometheus (server and promtool) from Debian's package.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq prometheus; }

# Chromium, headless, from Debian's package.
chromium:
	@command -v chromium >/dev/null || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium; }

$(OCB):
	GOBIN=$(TOOLS) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

$(TELEMETRYGEN):
	GOBIN=$(TOOLS) $(GO) install github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$(TELEMETRYGEN_VERSION)

$(GREMLINS):
	GOBIN=$(TOOLS) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)

# Jaeger v2, at the version e2e/jaeger/go.mod pins (its UI is not embedded;
# the tests use its HTTP API). About five minutes to build the first time.
$(JAEGER): e2e/jaeger/go.mod
	cd e2e/jaeger && $(GO) build -o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger

clean:
	rm -rf bin _build
