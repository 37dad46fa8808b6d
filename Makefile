# zfs-vm: `make demo` shows the job on two real-ZFS VMs; `make test` runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
LAB     := test/lab
# How long each fuzz target runs in `make test` (bounded, so CI stays within its time).
FUZZTIME ?= 10s

.PHONY: all build test test-unit test-fuzz test-lab lint demo lab-image deps clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/zfs-vm ./cmd/zfs-vm

# Everything: unit tests, bounded fuzzing, lint, then the end-to-end suite on real ZFS.
test: deps
	@t=$$(date +%s); $(MAKE) --no-print-directory test-unit; echo "[phase] unit tests: $$(( $$(date +%s) - t ))s"
	@t=$$(date +%s); $(MAKE) --no-print-directory test-fuzz lint; echo "[phase] fuzz and lint: $$(( $$(date +%s) - t ))s"
	@t=$$(date +%s); $(MAKE) --no-print-directory lab-image; echo "[phase] lab image: $$(( $$(date +%s) - t ))s"
	@t=$$(date +%s); $(MAKE) --no-print-directory test-lab; echo "[phase] lab suite: $$(( $$(date +%s) - t ))s"

test-unit:
	$(GO) test -count=1 ./...

test-fuzz:
	@for target in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/^func //'); do \
	  pkg=$$(dirname $$(grep -rlE "^func $$target\(" --include='*_test.go' .)); \
	  echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

test-lab: deps
	$(GO) test -tags lab -count=1 -v -timeout 40m ./$(LAB)/e2e

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags lab ./$(LAB)/...
	GOOS=freebsd $(GO) build ./...

demo: deps
	$(LAB)/demo.sh

lab-image: deps
	$(LAB)/build-image.sh >/dev/null

deps:
	@$(LAB)/deps.sh

clean:
	rm -rf bin dist
