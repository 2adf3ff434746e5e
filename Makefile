# advtest — build, test and benchmark targets. `make test` is what CI runs.
GO        ?= go
BIN       ?= bin/advtest
PKGS      := ./...
FUZZTIME  ?= 10s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build test vet lint race fuzz fuzz-smoke bench demo screenshot clean

all: build

build:
	$(GO) build -o $(BIN) .

## test: gofmt, vet, staticcheck, unit and integration tests, a short fuzz smoke run and the race detector on the concurrent packages.
test: lint
	$(GO) test -count=1 $(PKGS)
	$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=2s
	$(MAKE) --no-print-directory race

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## race: the race detector on the packages that run goroutines, with -short
## (race is 5-10x slower; see docs/reliability.md for the timings).
RACE_PKGS ?= ./pkg/tensor ./pkg/eval ./pkg/onnxmodel ./pkg/remote ./pkg/serve
race:
	$(GO) test -count=1 -race -short -skip 'TestAgainstPyTorchReferences|BlackBox|Benchmark' $(RACE_PKGS)

## fuzz: run every fuzz target (every top-level `func FuzzX(` in a _test.go
## file of any package) for FUZZTIME each. Targets are found with grep, not
## by compiling every package's tests, so that fuzz-smoke stays short.
fuzz:
	@targets=$$(grep -rHo --include='*_test.go' --exclude-dir=testdata '^func Fuzz[A-Za-z0-9_]*' . | sed 's|^\(.*\)/[^/]*:func |\1 |' | sort -u); \
	test -n "$$targets" || { echo "no fuzz targets found"; exit 1; }; \
	echo "$$targets" | while read -r pkg f; do \
	  echo "fuzz $$pkg $$f"; out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
	done

## fuzz-smoke: a few seconds per target, for CI (make test).
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

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
	rm -rf bin

