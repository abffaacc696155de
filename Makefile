# The two commands a new user types: `make demo` and `make test`. Each installs what it needs.
SWIFT ?= swift

.PHONY: deps build demo test test-swift test-interop bench fuzz clean

deps:
	@bash scripts/ensure-deps.sh

build: deps
	$(SWIFT) build

# The demo: the proxy at work on an echo server; then the motivating dashboard before and after its
# fix, simulated (the "before" fails its expectations by design: that is the bug reproduced); then
# the fixed one live through the proxy at 1/20 of its duration. Reports land under results/.
demo: deps
	$(SWIFT) build --product flatline
	$$($(SWIFT) build --show-bin-path)/flatline demo
	@echo; echo "== the motivating dashboard, simulated (before: expected to FAIL; after: expected to PASS)"
	-$$($(SWIFT) build --show-bin-path)/flatline run scenarios/dashboard-before.yaml scenarios/dashboard-after.yaml --runs 1
	@echo; echo "== what to set: learn from the 'before' runs, recommend for the objective, prove it by replay"
	$$($(SWIFT) build --show-bin-path)/flatline recommend --from results/dashboard-before --stack flatline \
	  --max-false 1/1000h --detect-within 60s --tolerate-stall 15s --validate scenarios/dashboard-before.yaml --out results/recommend
	@echo; echo "== the fixed dashboard, live through the proxy, 30 minutes in 90 seconds"
	$$($(SWIFT) build --show-bin-path)/flatline run scenarios/dashboard-after.yaml --mode live --time-scale 0.05 --set 'sweeps={}'
	@echo; echo "Reports (open in a browser):"; ls -1t results/*/*/report.html results/recommend/report.html | head -n 5

# Tests on real sockets run apart from the CPU-bound ones: Swift Testing runs synchronous tests on
# the cooperative pool (one thread per core), and a pass that mixes them holds that pool for tens
# of seconds, delaying every awaiting live test. The CLI and timing tests each get a pass as well.
LIVE_SUITES := FaultProxyTests|ProxyAPITests|LiveComponentsTests|LiveExternalComponentTests
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip 'LiveTimingTests|CLITests|$(LIVE_SUITES)'
	$(SWIFT) test --skip-build --filter '$(LIVE_SUITES)'
	$(SWIFT) test --skip-build --filter CLITests
	$(SWIFT) test --skip-build --filter LiveTimingTests
	@bash scripts/interop-tests.sh
	@FUZZ_SECONDS=8 FUZZ_SEED=1 bash scripts/fuzz.sh

# Fuzz the control API, scenario files and the built-in servers (docs/fuzzing.md): each fuzzer for
# FUZZ_SECONDS (default 60), from FUZZ_SEED (default 1); reproducers land under results/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_SEED ?= 1
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$(FUZZ_SEED) bash scripts/fuzz.sh

bench:
	@bash scripts/ensure-deps.sh --bench
	@bash scripts/bench.sh

clean:
	rm -rf .build
