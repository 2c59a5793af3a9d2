# area: inputs — the idle-cost and edge-to-event benchmark (prints figures; not a timed test).
# BENCH_INPUTS_SECONDS sets each idle phase's length.
BENCH_INPUTS_SECONDS ?= 10
.PHONY: bench-inputs
bench-inputs: deps
	$(SWIFT) build $(SWIFT_RELEASE) --product inputs-bench
	.build/release/inputs-bench $(BENCH_INPUTS_SECONDS)
