# area: outbox — the independent JOSE check needs Python's joserfc; the benchmark runs a release build.
.PHONY: deps-python bench-outbox

## Installs joserfc for the JOSE interop test when it is missing (`make test`'s deps phase runs it) (pip, then pip with
## --break-system-packages on Debian's externally-managed Python).
deps-python: deps
	@python3 -c 'import joserfc' 2>/dev/null || python3 -m pip install --quiet joserfc \
		|| python3 -m pip install --quiet --break-system-packages joserfc

## The outbox benchmark: fdatasync latency vs commit latency, signatures/s, appends/s, rows/s.
bench-outbox: deps
	$(SWIFT) build $(SWIFT_RELEASE) --product outbox-bench
	.build/release/outbox-bench $(BENCH_ARGS)
