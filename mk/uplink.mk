# area: uplink — the control room's browser test and the uplink benchmark.
APT_PACKAGES += openssl

.PHONY: browser-test bench-uplink

## Installs Debian's chromium and runs the operator-page test in a real headless browser.
browser-test: deps
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(SWIFT) build --build-tests
	PANICBRIDGE_REQUIRE_BROWSER=1 $(SWIFT) test --skip-build --filter OperatorPageBrowserTests

## Press → acknowledgement latency, backlog drain rate beside the raw SQLite read rate, alert time during a drain.
bench-uplink: deps
	$(SWIFT) build -c release --scratch-path .build-bench --product uplink-bench
	.build-bench/release/uplink-bench
