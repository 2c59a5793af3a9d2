# area: uplink — the control room's browser test and the uplink benchmark.
APT_PACKAGES += openssl

.PHONY: browser-test bench-uplink

## The desk's tests alone: the browser test (Debian's chromium, installed by `make deps`) and the HTTP tests. They
## also run in every `make test`.
browser-test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter "OperatorPageBrowserTests|DeskHTTPTests"

## Press → acknowledgement latency, backlog drain rate beside the raw SQLite read rate, alert time during a drain,
## a 10,000-record backlog drained per protocol (panicbridge, ais140, osmand) to its reference receiver, and a press
## during a hostile backend's command flood (`UPLINK_BENCH_ONLY=flood` runs only that part). The box-side drain sends to
## a receiver in a process of its own and prints the box's CPU per record beside the peer's. `UPLINK_BENCH_ONLY=protocols`
## runs only the per-protocol drains, `UPLINK_BENCH_DRAINS=panicbridge-2,unchecked` only those named, and
## `UPLINK_BENCH_PERF_CTL=FIFO` brackets each timed drain for `perf record -D -1 --control fifo:FIFO`.
bench-uplink: deps
	$(SWIFT) build $(SWIFT_RELEASE) --scratch-path .build-bench --product uplink-bench
	.build-bench/release/uplink-bench
