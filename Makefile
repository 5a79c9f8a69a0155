# inferflow — see README.md.
SHELL := /bin/bash
GO ?= go
TEMPORAL_VERSION := v1.5.1
# Linters, built at these versions into .tools/bin by `make lint` (once per version).
STATICCHECK_VERSION := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0
TOOLS := $(CURDIR)/.tools/bin
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)
WORKFLOWCHECK := $(TOOLS)/workflowcheck-$(WORKFLOWCHECK_VERSION)
# A temporal CLI on PATH is used as is; otherwise it is built once into .tools/bin.
TEMPORAL ?= $(or $(shell command -v temporal 2>/dev/null),$(CURDIR)/.tools/bin/temporal)
CORPUS ?= ../shared/corpus/speech-dev
export TEMPORAL_CLI := $(TEMPORAL)

.PHONY: all build run dev-server test test-short lint fuzz chaos record-histories bench bench-ledger bench-voice eval-gate temporal temporal-server cluster test-cluster bench-cluster deps clean

all: build

build: deps
	@mkdir -p bin
	$(GO) build -o bin/ ./worker ./starter ./realtime ./cmd/caller ./cmd/devserver

# Start the dev server (unless one is running), then the worker; Ctrl-C stops both.
# Payloads are encrypted: unless INFERFLOW_PAYLOAD_KEYS(_FILE) is set, a local
# key is generated once into .inferflow/dev-keys and given to both processes.
run: temporal build
	@bin/devserver -cli "$(TEMPORAL)" -dev-payload-keys .inferflow/dev-keys -- bin/worker -- bin/realtime

# Only the dev server, configured by temporal-dev.yaml.
dev-server: temporal build
	@bin/devserver -cli "$(TEMPORAL)"

# Everything the project tests, including against dev servers the tests start
# and stop on free ports.
# The production-topology test needs the Temporal server binary, so the
# server is built too (once, about 7 minutes) and the test may not skip.
test: deps temporal temporal-server lint
	INFERFLOW_REQUIRE_CLUSTER=1 $(GO) test -race -count=1 -timeout 40m ./...

test-short: deps lint
	$(GO) test -short -count=1 ./...

# gofmt, vet, staticcheck, and workflowcheck over the workflow layer (it
# flags non-deterministic calls: time.Now, map ranges, goroutines, I/O).
lint: deps $(STATICCHECK) $(WORKFLOWCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(WORKFLOWCHECK) ./workflows/...

# Fuzz targets (go test -fuzz), each for FUZZTIME, one after another (a
# target uses every core). FUZZ_TARGETS picks a subset by name, e.g.
# `make fuzz FUZZ_TARGETS="FuzzBatchInput FuzzCheckOffer" FUZZTIME=10s`.
# Seeds live in each package's testdata/fuzz/<Name>/ and run with plain
# `go test` (so in `make test`); a failing input is written there too, which
# makes it a regression seed once the bug is fixed. Logs: .data/fuzz/.
FUZZTIME ?= 30s
# Minimizing each new input may take this long (go's default, 60s, would eat
# a short run: the ledger target's coverage varies run to run with SQLite's
# internals, so nearly every input looks new and is minimized in vain).
FUZZMINIMIZETIME ?= 2s
FUZZ_TARGETS ?=
FUZZ_ALL := \
	./wire:FuzzBatchInput \
	./workflows:FuzzConsensusInput \
	./workflows:FuzzInferenceInput \
	./internal/provider:FuzzOpenAIResponse \
	./internal/realtimemodel:FuzzParseServerEvent \
	./gate:FuzzValidateFrame \
	./gate:FuzzHandleServerEvent \
	./internal/rtc:FuzzCheckOffer \
	./internal/rtc:FuzzWHIPRequest \
	./internal/ledger:FuzzLedgerCommands \
	./internal/codec:FuzzReceiver
fuzz: deps
	@mkdir -p .data/fuzz
	@set -o pipefail; \
	  for want in $(FUZZ_TARGETS); do \
	    case " $(FUZZ_ALL) " in *":$$want "*) ;; *) echo "fuzz: unknown target $$want; known: $(notdir $(subst :,/,$(FUZZ_ALL)))"; exit 2;; esac; \
	  done; \
	  run=""; for t in $(FUZZ_ALL); do \
	    case " $(or $(FUZZ_TARGETS),$(notdir $(subst :,/,$(FUZZ_ALL)))) " in *" $${t##*:} "*) run="$$run $$t";; esac; \
	  done; \
	  total=$$(echo $$run | wc -w); n=0; failed=""; \
	  for t in $$run; do \
	    pkg=$${t%%:*}; name=$${t##*:}; n=$$((n+1)); log=.data/fuzz/$$name.log; \
	    printf 'fuzz [%d/%d] %-22s %-26s %s ... ' $$n $$total $$name $$pkg $(FUZZTIME); \
	    if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg >$$log 2>&1; then res=ok; else res=FAIL; failed="$$failed $$name"; fi; \
	    last=$$(grep -E '^fuzz: elapsed' $$log | tail -n 1 | sed -E 's/^fuzz: //; s/ \([0-9]+\/sec\)//'); \
	    echo "$$res ($$last; load $$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null))"; \
	    if [ $$res = FAIL ]; then tail -n 25 $$log | sed 's/^/    /'; fi; \
	  done; \
	  if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (failing inputs are in each package's testdata/fuzz/)"; exit 1; fi

# The chaos suite (internal/chaosrun): two workers, mixed load against a
# provider failing by a seeded plan, while workers are killed -9, the
# Temporal dev server restarts and the ledger goes down; then it drains and
# checks the invariants (internal/chaoscheck), printing its counts. Exits
# non-zero on any violation. CHAOS_SEED=0 picks a seed (printed);
# CHAOS_LEDGER is sqlite or postgres (a scratch database on the local
# server); CHAOS_TOPOLOGY is dev (a dev server of its own), cluster (the
# production topology's server on scratch PostgreSQL databases; needs
# `make temporal-server`) or external (with CHAOS_FLAGS="-address host:7233
# -namespace ns"; never restarted); CHAOS_FLAGS passes more, e.g. -voice.
CHAOS_DURATION ?= 3m
CHAOS_SEED ?= 0
CHAOS_LEDGER ?= sqlite
CHAOS_TOPOLOGY ?=
CHAOS_FLAGS ?=
chaos: deps temporal
	@mkdir -p bin
	$(GO) build -o bin/ ./worker ./realtime ./cmd/chaos
	bin/chaos -duration $(CHAOS_DURATION) -seed $(CHAOS_SEED) -ledger $(CHAOS_LEDGER) $(if $(CHAOS_TOPOLOGY),-topology $(CHAOS_TOPOLOGY)) $(CHAOS_FLAGS)

# Re-record the replay tests' histories from a dev server. On purpose only:
# they stand for runs in flight (see workflows/doc.go).
record-histories: temporal
	$(GO) test -count=1 -run RecordHistories ./integration -record

$(STATICCHECK):
	@echo "Building staticcheck $(STATICCHECK_VERSION) into .tools/bin (once) ..."
	@mkdir -p $(TOOLS)/tmp-staticcheck
	GOBIN=$(TOOLS)/tmp-staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@mv $(TOOLS)/tmp-staticcheck/staticcheck $@ && rmdir $(TOOLS)/tmp-staticcheck

$(WORKFLOWCHECK):
	@echo "Building workflowcheck $(WORKFLOWCHECK_VERSION) into .tools/bin (once) ..."
	@mkdir -p $(TOOLS)/tmp-workflowcheck
	GOBIN=$(TOOLS)/tmp-workflowcheck $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)
	@mv $(TOOLS)/tmp-workflowcheck/workflowcheck $@ && rmdir $(TOOLS)/tmp-workflowcheck

# Benchmarks: the gate, providers and ledgers (both backends; the ledgers
# also as a ratio to pgbench -c 16 -j 2 -N and to one transaction per
# operation, BenchmarkLedgerCeiling, also alone as `make bench-ledger`), then
# whole workflows on a dev server (a fixed 200 workflows per case, each beside
# its bare shape), then the realtime voice process under load. Figures go in
# BENCHMARKS.md with the machine and this command.
bench: deps temporal
	$(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 30m $$($(GO) list ./... | grep -v /integration)
	$(GO) test -run '^$$' -bench . -benchtime 200x -count=1 -timeout 30m ./integration/
	$(MAKE) bench-voice

# The ledgers against their durable ceilings in one run (pgbench on a
# scratch database; skipped without pgbench or PostgreSQL).
bench-ledger:
	$(GO) test -run '^$$' -bench LedgerCeiling -count=1 -timeout 10m ./internal/ledger/

# The realtime process under N concurrent loopback calls streaming Opus in
# real time (about 30 s per level): CPU, memory per call, arrival-to-decision
# latency, frames lost, and a categorized CPU profile.
VOICE_LOAD ?= 50,100,200,400
bench-voice: deps
	@mkdir -p bin
	$(GO) build -o bin/ ./realtime ./cmd/voiceload
	bin/voiceload -realtime bin/realtime -n $(VOICE_LOAD) -window 15s

eval-gate:
	$(GO) run ./gate/cmd/gateeval -corpus "$(CORPUS)"

# System packages: libopus (internal/codec, cgo) through pkg-config, and
# chromium for the browser test.
# Installed with apt-get when running as root, else the command is printed.
OPUS_APT := libopus-dev pkg-config
deps:
	@if ! pkg-config --exists opus 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing $(OPUS_APT) ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(OPUS_APT) >/dev/null; \
	  else \
	    echo "libopus is missing; run: sudo apt-get update && sudo apt-get install -y $(OPUS_APT)"; exit 1; \
	  fi; \
	fi
	@# Chromium for the browser test of the voice page (integration/browser_test.go);
	@# without it that test is skipped, nothing else needs it.
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing chromium (browser test) ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: chromium is missing, the browser test will be skipped; install it with: sudo apt-get install -y chromium"; \
	  fi; \
	fi

temporal: $(TEMPORAL)

$(CURDIR)/.tools/bin/temporal:
	@echo "Building the Temporal CLI $(TEMPORAL_VERSION) into .tools/bin (once; about 7 minutes on 2 cores) ..."
	@mkdir -p .tools/bin
	@set -o pipefail; GOBIN=$(CURDIR)/.tools/bin $(GO) install -v github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION) 2>&1 \
	  | awk '{ n++; if (n % 25 == 0) printf "  ... %d packages compiled (%s)\n", n, $$0 }'
	@test -x $@ && echo "Temporal CLI ready: $@"

# The Temporal server, its SQL tool and the Web UI server, built once into
# .tools/bin at exactly the versions of go.temporal.io/server and
# temporalio/ui-server that the CLI $(TEMPORAL_VERSION) embeds (read from the
# CLI's go.mod in the module cache: internal/temporalversion), with the
# server's PostgreSQL schemas copied beside them for the SQL tool.
# `make cluster` runs them (internal/cluster).
temporal-server:
	@set -o pipefail; \
	  ver=$$($(GO) run ./cmd/cluster -print-server-version -cli-version $(TEMPORAL_VERSION)) || exit 1; \
	  uiver=$$($(GO) run ./cmd/cluster -print-server-version -print-module ui -cli-version $(TEMPORAL_VERSION)) || exit 1; \
	  server=$(TOOLS)/temporal-server-$$ver; sqltool=$(TOOLS)/temporal-sql-tool-$$ver; schema=$(TOOLS)/temporal-server-$$ver-schema; \
	  ui=$(TOOLS)/temporal-ui-server-$$uiver; \
	  if [ -x $$server ] && [ -x $$sqltool ] && [ -d $$schema ] && [ -x $$ui ]; then echo "Temporal server $$ver ready: $$server"; exit 0; fi; \
	  mkdir -p $(TOOLS); tmp=$$(mktemp -d $(TOOLS)/tmp-temporal-server-XXXXXX); trap 'rm -rf $$tmp' EXIT; \
	  if [ ! -x $$server ] || [ ! -x $$sqltool ]; then \
	    echo "Building the Temporal server $$ver and temporal-sql-tool into .tools/bin (once; about 7 minutes on 2 busy cores) ..."; \
	    start=$$(date +%s); \
	    GOBIN=$$tmp $(GO) install -v go.temporal.io/server/cmd/server@$$ver go.temporal.io/server/cmd/tools/sql@$$ver 2>&1 \
	      | awk '{ n++; if (n % 50 == 0) printf "  ... %d packages compiled (%s)\n", n, $$0 }'; \
	    mv $$tmp/sql $$sqltool && mv $$tmp/server $$server; \
	    echo "  built in $$(( $$(date +%s) - start )) s"; \
	  fi; \
	  if [ ! -d $$schema ]; then \
	    src=$$(cd /tmp && $(GO) mod download -json go.temporal.io/server@$$ver | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	    mkdir -p $$tmp/schema && cp -r $$src/schema/postgresql $$tmp/schema/ && chmod -R u+w $$tmp/schema && mv $$tmp/schema $$schema; \
	  fi; \
	  if [ ! -x $$ui ]; then \
	    echo "Building the Temporal Web UI server $$uiver into .tools/bin (once) ..."; \
	    GOBIN=$$tmp $(GO) install github.com/temporalio/ui-server/v2/cmd/server@$$uiver && mv $$tmp/server $$ui; \
	  fi; \
	  echo "Temporal server $$ver ready: $$server, $$sqltool, schemas in $$schema, Web UI $$ui"

# The production topology on this machine (README: "Production topology"):
# the server above on the local PostgreSQL, the Web UI, two workers, the
# realtime process and the PostgreSQL ledger. CLUSTER_FLAGS: -fresh,
# -workers N, -realtime=false, ...; `-- command args` runs a command
# against it, then stops everything.
CLUSTER_FLAGS ?=
cluster: temporal-server build
	@$(GO) build -o bin/ ./cmd/cluster
	@bin/cluster -cli-version $(TEMPORAL_VERSION) $(CLUSTER_FLAGS)

# The production-topology test (integration/cluster_test.go): a cluster on
# scratch databases and free ports, consensus and billed jobs through a
# server restart.
test-cluster: deps temporal temporal-server
	$(GO) test -race -count=1 -timeout 20m -run 'TestProductionTopology' ./integration/

# The consensus and saga benchmarks on the cluster (benchmark workers in the
# test process, as on the dev server; `make bench` runs them on the dev
# server), 200 workflows per case.
bench-cluster: deps temporal temporal-server build
	@$(GO) build -o bin/ ./cmd/cluster
	bin/cluster -cli-version $(TEMPORAL_VERSION) -db-prefix inferflow_bench -fresh -workers 0 -realtime=false -ui-port 0 -dev-payload-keys "" -- \
	  bash -c 'INFERFLOW_BENCH_ADDRESS=$$TEMPORAL_ADDRESS INFERFLOW_BENCH_NAMESPACE=$$TEMPORAL_NAMESPACE $(GO) test -run "^$$" -bench "^(BenchmarkConsensus|BenchmarkInferenceSaga)$$" -benchtime 200x -count=1 -timeout 30m ./integration/'

clean:
	rm -rf bin .data
