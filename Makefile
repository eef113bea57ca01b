# The two commands a new machine needs: `make run` and `make test`.
# Everything else the tests need is built here from the Go module proxy.

GO        ?= go
BIN       := $(CURDIR)/bin
MODULES   := ./protocol/... ./streams/... ./services/... ./tools/... ./e2e/...
BINARIES  := ditto things policies things-search gateway
# Benchmark parameters (see tools/bench): things, connections, seconds.
N ?= 100000
C ?= 64
D ?= 30

.PHONY: all run build test test-short bench lint fmt clean

all: build

## run: start the whole platform on the embedded default (HTTP :8080).
run: build
	$(BIN)/ditto

# The nats CLI the README's commands use (and an e2e test runs verbatim).
NATSCLI := github.com/nats-io/natscli/nats@v0.5.0

## build: compile every binary into bin/, with nats-server and the nats CLI.
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(addprefix ./services/cmd/,$(BINARIES)) ./tools/bench ./e2e/cmd/...
	$(GO) build -o $(BIN)/nats-server github.com/nats-io/nats-server/v2
	GOBIN=$(BIN) $(GO) install $(NATSCLI)

# Eclipse Ditto's JavaScript client, which e2e/jsclient_test.go drives,
# installed exactly as its committed lock file pins it; again only when
# the lock file changes. Where node and npm are installed the test must
# run (DITTO_E2E_REQUIRE_NODE); a machine with only Go skips it.
JSCLIENT := e2e/jsclient
$(JSCLIENT)/node_modules: $(JSCLIENT)/package-lock.json
	npm ci --prefix $(JSCLIENT) --no-audit --no-fund
	@touch $@
ifneq ($(shell command -v npm 2>/dev/null),)
ifneq ($(shell command -v node 2>/dev/null),)
JSCLIENT_DEPS := $(JSCLIENT)/node_modules
REQUIRE_NODE  := DITTO_E2E_REQUIRE_NODE=1
endif
endif

## test: vet, then every test of every module with the race detector.
# The build cache is warmed once (the e2e tests build the binaries with it).
test: build $(JSCLIENT_DEPS)
	$(GO) vet $(MODULES)
	DITTO_E2E_BIN=$(BIN) $(REQUIRE_NODE) $(GO) test -race -timeout 25m $(MODULES)

## test-short: the quick subset, without -race and long-running suites.
test-short:
	$(GO) test -short $(MODULES)

## bench: READ_THINGS and MODIFY_THINGS against bin/ditto, with a BASELINE.
bench: build
	$(BIN)/bench -ditto $(BIN)/ditto -n $(N) -c $(C) -d $(D)s

## lint: formatting, vet and staticcheck.
lint:
	@out=$$(gofmt -l protocol streams services tools e2e); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(MODULES)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(MODULES)

fmt:
	gofmt -w protocol streams services tools e2e

clean:
	rm -rf $(BIN)
