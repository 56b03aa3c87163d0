# proxy-manager: `make run` starts everything locally, `make test` runs every test.
SHELL   := /bin/bash
MODULES := pkg dataplane controlplane ui scripts/e2e
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
TOOLS   := $(CURDIR)/.bin
# buf and the protoc plugins are `tool` lines of their own module (scripts/tools), outside go.work:
# buf's dependencies would otherwise pin the runtime's. `go build tool` builds exactly those lines
# into .bin/ (cached by the Go build cache: the first build takes minutes, later ones a second).
PROTO_SUM := pkg/gen/proto.sha256

.PHONY: all build run test test-unit test-e2e gen gen-check lint bench tools clean

all: build

build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/dataplane ./dataplane/cmd/dataplane
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/controlplane ./controlplane/cmd/controlplane

run: build
	scripts/run.sh

# Every module's tests with the race detector, the end-to-end suite included (scripts/e2e).
test: gen-check
	scripts/install-chromium.sh # the dashboard's browser test (scripts/e2e) needs Debian's chromium
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && go test -race -count=1 -timeout 10m ./...); done
	@# Dockerfiles and deploy/stack.yml (its own module, outside go.work: docs/DEPLOY.md).
	cd scripts/deploycheck && GOWORK=off go test -count=1 -timeout 5m ./...
	@# Timing tests and weeks-long simulations skip themselves under the race detector (it slows
	@# SQLite twentyfold): run them here.
	cd controlplane && go test -count=1 -run 'TestRunDoesNotStallEventStream' ./internal/retention
	cd controlplane && go test -count=1 -run 'TestRetentionKeepsConfiguredCounts' ./internal/backup

tools:
	cd scripts/tools && GOWORK=off go build -o $(TOOLS)/ tool

gen: tools
	PATH=$(TOOLS):$$PATH GOWORK=off $(TOOLS)/buf generate
	sha256sum buf.yaml buf.gen.yaml proto/proxy/v1/*.proto > $(PROTO_SUM)

# Cheap staleness check for `make test`: the proto files must be the ones the code was made from.
gen-check:
	@sha256sum --quiet -c $(PROTO_SUM) || { echo "generated code is stale: run 'make gen' and commit pkg/gen" >&2; exit 1; }

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && go vet ./...); done
	cd scripts/deploycheck && GOWORK=off go vet ./...
	PATH=$(TOOLS):$$PATH GOWORK=off $(TOOLS)/buf lint
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	  PATH=$(TOOLS):$$PATH GOWORK=off $(TOOLS)/buf generate -o $$tmp && \
	  diff -r pkg/gen/proxy $$tmp/pkg/gen/proxy && echo "generated code is up to date"

bench: build
	scripts/bench/run.sh

clean:
	rm -rf bin .run
