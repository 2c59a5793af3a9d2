# The control room's intake benchmark, on SQLite and on a throw-away PostgreSQL cluster with fsync on (its own port,
# so a test cluster with fsync off is never measured). The release build shares .build with `make deb`.
.PHONY: bench-controlroom

BENCH_PG_PORT ?= 54339

## Verified records/s in 100-record batches and single-record requests/s (p50/p99), SQLite and PostgreSQL, beside
## `openssl speed ed25519` and raw inserts/s into each database.
bench-controlroom: deps
	$(SWIFT) build $(SWIFT_RELEASE) --product controlroom-bench
	@PG_TEST_PORT=$(BENCH_PG_PORT) PG_TEST_FSYNC=on scripts/test-postgres.sh start >/dev/null
	.build/release/controlroom-bench --postgres postgres://postgres@127.0.0.1:$(BENCH_PG_PORT)/postgres; \
		status=$$?; PG_TEST_PORT=$(BENCH_PG_PORT) scripts/test-postgres.sh stop; exit $$status
