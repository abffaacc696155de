# The two commands a new user types: `make demo` and `make test`. Each installs what it needs.
SWIFT ?= swift

.PHONY: deps build demo test test-swift test-interop bench clean

deps:
	@bash scripts/ensure-deps.sh

build: deps
	$(SWIFT) build

demo: deps
	$(SWIFT) build --product flatline
	$$($(SWIFT) build --show-bin-path)/flatline demo

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	@bash scripts/interop-tests.sh

bench:
	@bash scripts/ensure-deps.sh --bench
	@bash scripts/bench.sh

clean:
	rm -rf .build
