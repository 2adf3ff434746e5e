# advtest — build, test and benchmark targets. `make test` is what CI runs.
GO        ?= go
BIN       ?= bin/advtest
PKGS      := ./...
FUZZTIME  ?= 10s
STATICCHECK_VERSION ?= v0.8.2
DEADCODE_VERSION    ?= v0.39.0

.PHONY: all build test vet lint tidy-check deadcode cross-build race fuzz fuzz-smoke bench demo screenshot clean dist release-check action-test

all: build

## build: a static binary (no cgo: nothing needs it), so it runs on any
## Linux of its architecture.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) .

## test: gofmt, vet, staticcheck, unit and integration tests, a short fuzz smoke run and the race detector on the concurrent packages.
test: lint
	$(GO) test -count=1 -timeout 40m $(PKGS)
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory race

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## lint: vet, staticcheck, go.mod/go.sum tidy, no function the binary
## never reaches (deadcode, outside tests: helpers only tests use live in
## _test.go files or internal/ packages only tests import), and the release
## platforms still compile (cross-build).
lint: vet tidy-check deadcode cross-build
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

tidy-check:
	@cp go.mod /tmp/advtest-go.mod.$$$$ && cp go.sum /tmp/advtest-go.sum.$$$$; \
	$(GO) mod tidy; changed=0; \
	cmp -s go.mod /tmp/advtest-go.mod.$$$$ || changed=1; cmp -s go.sum /tmp/advtest-go.sum.$$$$ || changed=1; \
	cp /tmp/advtest-go.mod.$$$$ go.mod; cp /tmp/advtest-go.sum.$$$$ go.sum; rm -f /tmp/advtest-go.mod.$$$$ /tmp/advtest-go.sum.$$$$; \
	if [ $$changed = 1 ]; then echo "go mod tidy would change go.mod/go.sum: run it and commit the result"; exit 1; fi

## cross-build: `go build ./...` (no tests, no link) for one Windows and one
## non-amd64 target, so that a Unix-only call or an amd64-only kernel fails
## here rather than in `make dist`. Between them they compile every
## build-tagged file that linux/amd64 leaves out.
CROSS_PLATFORMS ?= windows/amd64 darwin/arm64
cross-build:
	@for p in $(CROSS_PLATFORMS); do \
	  echo "go build ./... for $$p"; \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./... || exit 1; \
	done

deadcode:
	@out=$$($(GO) run golang.org/x/tools/cmd/deadcode@$(DEADCODE_VERSION) .) || exit 1; \
	if [ -n "$$out" ]; then echo "functions the binary never reaches (use or remove them):"; echo "$$out"; exit 1; fi

## race: the race detector on the packages that run goroutines, with -short
## (race is 5-10x slower; see docs/reliability.md for the timings).
RACE_PKGS ?= ./pkg/tensor ./pkg/eval ./pkg/onnxmodel ./pkg/remote ./pkg/serve
race:
	$(GO) test -count=1 -timeout 40m -race -short -skip 'TestAgainstPyTorchReferences|BlackBox|Benchmark' $(RACE_PKGS)

## fuzz: run every fuzz target (every top-level `func FuzzX(` in a _test.go
## file of any package) for FUZZTIME each. Targets are found with grep, not
## by compiling every package's tests, so that fuzz-smoke stays short.
fuzz:
	@targets=$$(grep -rHo --include='*_test.go' --exclude-dir=testdata '^func Fuzz[A-Za-z0-9_]*' . | sed 's|^\(.*\)/[^/]*:func |\1 |' | sort -u); \
	test -n "$$targets" || { echo "no fuzz targets found"; exit 1; }; \
	echo "$$targets" | while read -r pkg f; do \
	  echo "fuzz $$pkg $$f"; out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
	done

## fuzz-smoke: 500 inputs per target, for CI (make test). A count, not a
## duration: with -fuzztime 2s, a target that finds a new input near the end
## fails with "context deadline exceeded" while Go minimises it, so a short
## time-boxed run fails or passes with the machine's load.
FUZZ_SMOKE ?= 500x
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_SMOKE)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2x ./pkg/...

## demo: the README's main command.
demo: build
	$(BIN) attack --config configs/mnist-cnn.yaml

## screenshot: the HTML report of the demo run, rendered by Debian's headless
## Chromium (apt-get install chromium) into bin/report.png for a look.
screenshot: build
	$(BIN) attack --config configs/mnist-cnn.yaml --format html --output bin/report.html --no-progress || test $$? -eq 1
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --disable-background-networking \
	  --window-size=1100,2250 --screenshot=bin/report.png "file://$(CURDIR)/bin/report.html"

clean:
	rm -rf bin dist

## dist: static release binaries (CGO_ENABLED=0) for linux/darwin/windows x
## amd64/arm64 under dist/, the version stamped (VERSION, default: git
## describe), and dist/checksums.txt (SHA-256). The same builds as
## .goreleaser.yaml, without goreleaser.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
dist:
	@rm -rf dist && mkdir -p dist
	@for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  out=dist/advtest_$(VERSION)_$${os}_$${arch}$$ext; echo "build $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath \
	    -ldflags "-s -w -X github.com/advtest/advtest/cmd.Version=$(VERSION)" -o $$out . || exit 1; \
	done
	@cd dist && sha256sum advtest_* > checksums.txt && cat checksums.txt

## release-check: validate .goreleaser.yaml and build a snapshot for this
## machine (needs goreleaser: go install github.com/goreleaser/goreleaser/v2@v2.17.0).
GORELEASER ?= goreleaser
release-check:
	$(GORELEASER) check
	$(GORELEASER) build --snapshot --clean --single-target

## action-test: the GitHub Action's shell step against the real binary on
## the shipped example, with a fake GITHUB_STEP_SUMMARY and GITHUB_OUTPUT.
action-test:
	$(GO) test -count=1 -run TestActionScript ./scripts

