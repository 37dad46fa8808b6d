# zfs-vm: `make demo` shows the job on two real-ZFS VMs; `make test` runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
LAB     := test/lab
NFPM    := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.43.0
GOARCH  ?= $(shell $(GO) env GOARCH)
# Package version: from the newest v* tag (v0.1.0-3-gabc -> 0.1.0+git3.gabc), else 0.1.0 plus
# the commit count and hash.
PKG_VERSION ?= $(shell git describe --tags --match 'v*' 2>/dev/null | sed -e 's/^v//' -e 's/-\([0-9]*\)-g/+git\1.g/' | grep . || echo 0.1.0+git$$(git rev-list --count HEAD 2>/dev/null || echo 0).g$$(git rev-parse --short HEAD 2>/dev/null || echo unknown))
# How long each fuzz target runs in `make fuzz` (open-ended fuzzing; not part of `make test`).
FUZZTIME ?= 5m
# Lab tests that only the longer tier (make test-long) runs (a go test -run/-skip pattern):
# the slowest variants of cases the CI tier already covers, so that an empty-cache `make test`
# stays within an hour on a 2-core TCG machine (the whole 2.1 suite alone took 55 minutes).
# Each issue's point keeps at least one lab case in the CI tier.
LONG_ONLY ?= ^(TestFaultOneOfManyInterrupted|TestFaultStaleToken|TestFaultReceiverPoolFull|TestFaultSourceRolledBack|TestSameNamesWithoutDest|TestCompressedLimitedTransfers|TestDebUpgradeKeepsTimers)$$
# The OpenZFS series the lab's VMs run: 2.1 (Debian 12) or 2.3 (bookworm-backports, Debian 13).
ZFS     ?= 2.1
export ZFS_VM_LAB_ZFS := $(ZFS)

.PHONY: all build test test-long test-unit fuzz test-lab lint demo lab-image deps clean package package-lint bench

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/zfs-vm ./cmd/zfs-vm

# .deb and .rpm in dist/, with the man pages and completions generated from the CLI (dated
# by the last commit, so that a rebuild is the same).
package: VERSION = $(PKG_VERSION)
package: build
	@mkdir -p dist/gen
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) bin/zfs-vm man zfs-vm | gzip -9n > dist/gen/zfs-vm.8.gz
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) bin/zfs-vm man zfs-vm.toml | gzip -9n > dist/gen/zfs-vm.toml.5.gz
	bin/zfs-vm completion bash > dist/gen/zfs-vm.bash
	bin/zfs-vm completion zsh > dist/gen/zfs-vm.zsh
	bin/zfs-vm completion fish > dist/gen/zfs-vm.fish
	sed 's/@VERSION@/$(PKG_VERSION)/' packaging/changelog | gzip -9n > dist/gen/changelog.gz
	VERSION=$(PKG_VERSION) GOARCH=$(GOARCH) $(NFPM) pkg --packager deb --config packaging/nfpm.yaml --target dist/
	VERSION=$(PKG_VERSION) GOARCH=$(GOARCH) $(NFPM) pkg --packager rpm --config packaging/nfpm.yaml --target dist/
	@ls -l dist/*.deb dist/*.rpm

# lintian and rpmlint on the packages.
package-lint: deps package
	lintian --fail-on error dist/*.deb
	PATH="$(CURDIR)/packaging/lint-bin:$$PATH" rpmlint -c packaging/rpmlint.toml dist/*.rpm

# phase runs one make target as a timed phase of `make test`: it prints the phase's time
# whether it passed or not, and fails with the target's own exit status, so that make stops
# there (a failing unit test stops the run before the lab image is built).
phase = t=$$(date +%s); rc=0; $(MAKE) --no-print-directory $(2) || rc=$$?; \
	echo "[phase] $(1): $$(( $$(date +%s) - t ))s$$([ $$rc = 0 ] || echo ", FAILED (exit $$rc)")"; exit $$rc

# Everything CI runs: unit tests (with every fuzz corpus as seed inputs), lint, packages, then
# the end-to-end suite on real ZFS (OpenZFS $(ZFS)). Any failing phase fails the run.
test: deps
	@$(call phase,unit tests,test-unit)
	@$(call phase,lint and packages,lint package-lint)
	@$(call phase,lab image (OpenZFS $(ZFS)),lab-image)
	@$(call phase,lab suite (OpenZFS $(ZFS)),test-lab LABSKIP='$(LONG_ONLY)')

# The longer tier, run before closing an issue: `make test`, the lab tests kept out of CI
# (LONG_ONLY), then the whole end-to-end suite again on OpenZFS 2.3.
test-long: test
	@$(if $(LONG_ONLY),$(call phase,long-tier lab tests (OpenZFS $(ZFS)),test-lab LABRUN='$(LONG_ONLY)'),true)
	@$(call phase,lab image (OpenZFS 2.3),lab-image ZFS=2.3)
	@$(call phase,lab suite (OpenZFS 2.3),test-lab ZFS=2.3)

test-unit:
	$(GO) test -count=1 ./...

# Open-ended fuzzing, FUZZTIME per target (not in CI: a run's outcome would depend on luck).
# What it finds lands in the package's testdata/fuzz/<Target>/, which `go test` (and so
# `make test`) then runs as an ordinary test: fix the code and commit the input.
fuzz:
	@for target in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/^func //'); do \
	  pkg=$$(dirname $$(grep -rlE "^func $$target\(" --include='*_test.go' .)); \
	  echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# LABRUN, when set, runs only the lab tests it matches (go test -run), e.g. LABRUN=TestFault;
# LABSKIP skips those it matches (go test -skip).
test-lab: deps
	$(GO) test -tags lab -count=1 -v -timeout 100m $(if $(LABRUN),-run '$(LABRUN)') $(if $(LABSKIP),-skip '$(LABSKIP)') ./$(LAB)/e2e

# The go line of go.mod claims the oldest Go that builds and tests zfs-vm: lint holds it to that
# by building and testing with exactly that toolchain (fetched once through the module proxy).
MIN_GO = $(shell sed -n 's/^go //p' go.mod)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags lab ./$(LAB)/...
	GOOS=freebsd $(GO) build ./...
	GOTOOLCHAIN=go$(MIN_GO) $(GO) vet ./...
	GOTOOLCHAIN=go$(MIN_GO) $(GO) vet -tags lab ./$(LAB)/...
	GOTOOLCHAIN=go$(MIN_GO) $(GO) test -count=1 ./...

demo: deps
	$(LAB)/demo.sh

# Benchmarks in the lab VMs: ratios against the bare zfs send | zfs receive (see BENCHMARKS.md).
bench: deps
	$(LAB)/bench.sh

lab-image: deps
	$(LAB)/build-image.sh >/dev/null

deps:
	@$(LAB)/deps.sh

clean:
	rm -rf bin dist
