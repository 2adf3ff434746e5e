# advtest — build, test and benchmark targets. `make test` is what CI runs.
GO        ?= go
BIN       ?= bin/advtest
PKGS      := ./...
FUZZTIME  ?= 10s
STATICCHECK_VERSION ?= 2025.1.1

.PHONY: all build test vet lint race fuzz fuzz-smoke bench demo clean

all: build

build:
	$(GO) build -o $(BIN) .

## test: vet, unit and integration tests, a short fuzz smoke run and the race detector on the concurrent packages.
test: vet
	$(GO) test -count=1 $(PKGS)
	$(MAKE) --no-print-directory fuzz-smoke FUZZTIME=2s
	$(MAKE) --no-print-directory race

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

race:
	$(GO) test -count=1 -race -short ./pkg/tensor ./pkg/eval

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2x ./pkg/...

## demo: the README's main command.
demo: build
	$(BIN) attack --config configs/mnist-cnn.yaml

clean:
	rm -rf bin
