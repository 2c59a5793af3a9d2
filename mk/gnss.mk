# area: gnss — NMEA benchmark and fuzzing. Included by the Makefile.
APT_PACKAGES += gpsd-clients

GNSS_FIXTURES := $(filter-out %/bu303-moving.log,$(wildcard Tests/NMEATests/Fixtures/*.log))
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
GNSS_BENCH_REPEAT ?= 40

.PHONY: bench-gnss fuzz-gnss

## Sentences/s for parse-only and decode-to-JSON on the fixture corpus, and gpsdecode's rate and the ratio.
## Release build in its own scratch path, so the debug build is left alone.
bench-gnss: deps
	$(SWIFT) build $(SWIFT_RELEASE) --product gnss-bench --scratch-path .build-bench
	.build-bench/release/gnss-bench --repeat $(GNSS_BENCH_REPEAT) $(GNSS_FIXTURES)

## libFuzzer on the framer+parser+tracker for FUZZ_SECONDS (default 60 s), or FUZZ_RUNS executions.
## Release build (optimised, with bounds checks and preconditions kept), in its own scratch path.
fuzz-gnss: deps
	$(SWIFT) build $(SWIFT_RELEASE) --product nmea-fuzz --sanitize fuzzer --scratch-path .build-fuzz
	mkdir -p .build-fuzz/corpus .build-fuzz/artifacts
	SWIFT_BACKTRACE=enable=no .build-fuzz/release/nmea-fuzz -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
		-max_len=1024 -artifact_prefix=.build-fuzz/artifacts/ .build-fuzz/corpus fuzz/corpus
