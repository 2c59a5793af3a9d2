# area: desk — the operator desk: its browser tests need Debian's chromium, its map Debian's libjs-leaflet, its
# escalation tests Debian's python3-aiosmtpd (a real SMTP server on loopback); all are installed by `make deps` so
# these tests run in every `make test`. bench-desk measures push latency.
APT_PACKAGES += chromium libjs-leaflet fonts-dejavu-core curl python3-aiosmtpd

.PHONY: bench-desk

## Push latency: a record posted to /v1/records until its row arrives on the desk's event stream (p50/p99, 100 alerts);
## then operator polls alone and during 10 forged batches from a hostile client (p50/p99/max). Then the desk at a
## state's scale (`desk-bench fleet`): a release `controlroom serve` with 10,000 devices at 1,000 records/s while
## 0/1/10/50 operators hold push streams open: intake rate and p50/p99 beside GET /v1/identity, the server's CPU and
## each stream's bytes (DESK_BENCH_DEVICES, DESK_BENCH_RATE, DESK_BENCH_SECONDS, DESK_BENCH_OPERATORS=0,1,10,50).
bench-desk: deps
	$(SWIFT) build $(SWIFT_RELEASE) --scratch-path .build-bench --product desk-bench
	$(SWIFT) build $(SWIFT_RELEASE) --scratch-path .build-bench --product controlroom
	.build-bench/release/desk-bench
	.build-bench/release/desk-bench fleet

.PHONY: bench-login

## Box request latency (POST /v1/records, p50/p99/max) alone and during wrong logins from 48 loopback addresses
## (bcrypt cost 12), side by side in one run. Debug build (BENCH_LOGIN_RELEASE=1 for a release build).
bench-login:
	$(SWIFT) build $(if $(BENCH_LOGIN_RELEASE),$(SWIFT_RELEASE) --scratch-path .build-bench,) --product desk-bench
	$(if $(BENCH_LOGIN_RELEASE),.build-bench/release,.build/debug)/desk-bench login
