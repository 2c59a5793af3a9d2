# area: desk — the operator desk: its browser tests need Debian's chromium, its map Debian's libjs-leaflet; both
# are installed by `make deps` so the browser tests run in every `make test`. bench-desk measures push latency.
APT_PACKAGES += chromium libjs-leaflet fonts-dejavu-core curl

.PHONY: bench-desk

## Push latency: a record posted to /v1/records until its row arrives on the desk's event stream (p50/p99, 100 alerts);
## then operator polls alone and during 10 forged batches from a hostile client (p50/p99/max).
bench-desk: deps
	$(SWIFT) build $(SWIFT_RELEASE) --scratch-path .build-bench --product desk-bench
	.build-bench/release/desk-bench
