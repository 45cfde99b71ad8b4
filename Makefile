# ferry — see README.md. `make demo` runs the main job; `make test` runs every test.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
PLUGINS := $(BIN)/plugins
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/ferry-cdc/ferry/core/internal/cli.Version=$(VERSION)
TESTBED := integration/testbed

EXAMPLES := source/generator filter/drop serializer/jsonl sink/file

.PHONY: all build plugins test unit chart-test integration lint up down status demo bench test-chaos proto clean docs

all: build

# Static binaries (no cgo): the pure-Go resolver and codecs, the same binary as the container
# image, and no C libraries' memory (pebble's zstd in C alone costs ~15 MiB resident).
build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ferry ./core/cmd/ferry

# The SDK example plugins, built as external plugin executables (ferry-<kind>-<name>).
plugins:
	@mkdir -p $(PLUGINS)
	@for p in $(EXAMPLES); do kind=$${p%/*}; name=$${p#*/}; \
	  CGO_ENABLED=0 $(GO) build -o $(PLUGINS)/ferry-$$kind-$$name ./sdk/examples/$$kind/cmd || exit 1; done

# Pinned linters: staticcheck 2026.2.2 (supports Go 1.26), run from the module proxy at that
# version so that it stays out of go.mod; `go mod tidy -diff` fails when go.mod/go.sum drift.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags integration ./integration/...
	$(GO) mod tidy -diff

unit: chart-test
	$(GO) test -race -count=1 ./...

# The Helm chart rendered and strictly decoded (its own module: deploy/helm/charttest).
chart-test:
	cd deploy/helm/charttest && $(GO) test -count=1 ./...

# Integration tests start (or reuse) the real MariaDB, RocketMQ 4.9.x / 5.x and etcd on loopback.
integration: build plugins up
	FERRY_REQUIRE_TESTBED=1 FERRY_BIN=$(BIN)/ferry FERRY_PLUGIN_DIR=$(PLUGINS) \
	  $(GO) test -tags integration -count=1 -timeout 45m ./integration/...

test: lint unit integration

up:
	bash $(TESTBED)/install.sh
	bash $(TESTBED)/up.sh

down:
	bash $(TESTBED)/down.sh

status:
	bash $(TESTBED)/status.sh

demo: build plugins up
	bash scripts/demo.sh

# The fault and load suite, full length (make test runs its short version); TestHA: the
# high-availability scenarios on the test bed's etcd and MariaDB (>= 20 failovers per store).
test-chaos: build up
	FERRY_CHAOS=full FERRY_REQUIRE_TESTBED=1 FERRY_BIN=$(BIN)/ferry \
	  $(GO) test -tags integration -count=1 -timeout 120m -run 'TestChaos|TestLoad|TestHA' -v ./integration/

# End-to-end figures against the real servers (table + CSV in bench-results/), with Debezium
# Server side by side (installed from Maven Central first, cached), then the Go
# micro-benchmarks (plugin boundary, runtime, formats).
bench: build up
	bash integration/testbed/install-debezium-server.sh
	FERRY_BIN=$(BIN)/ferry $(GO) run ./integration/cmd/bench -out bench-results -debezium
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./sdk/protocol/ ./core/internal/pipeline/ ./plugins/serializer/...

proto:
	bash sdk/protocol/gen.sh

clean:
	rm -rf $(BIN)

# Regenerate docs generated from code (the plugin settings reference).
docs:
	$(GO) run ./core/cmd/ferry plugins --markdown > docs/plugins/reference.md
