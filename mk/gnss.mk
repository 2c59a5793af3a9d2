# area: gnss — NMEA benchmark and fuzzing. Included by the Makefile.
APT_PACKAGES += gpsd-clients

GNSS_FIXTURES := $(filter-out %/bu303-moving.log,$(wildcard Tests/NMEATests/Fixtures/*.log))
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
GNSS_BENCH_REPEAT ?= 40
GNSS_BENCH_RUNS ?= 5

.PHONY: bench-gnss bench-arm64 bench-arm64-panicd fuzz-gnss

## Sentences/s for parse-only (beside a memchr line scan of the same bytes) and decode-to-JSON on the fixture
## corpus, in CPU time, best of GNSS_BENCH_RUNS; then whole processes on the same corpus file: `gnss-bench --decode`
## (the loop of `panicd gnss decode`) beside `gpsdecode -j`, wall and CPU time, and the ratios against the goals.
## Release build with the static Swift runtime (as panicd ships) in its own scratch path: the debug build is left
## alone. GNSS_BENCH_PANICD=PATH adds `PATH gnss decode` to the whole-process rows.
bench-gnss: deps
	$(SWIFT) build $(SWIFT_RELEASE) --static-swift-stdlib --product gnss-bench --scratch-path .build-bench
	.build-bench/release/gnss-bench --repeat $(GNSS_BENCH_REPEAT) --runs $(GNSS_BENCH_RUNS) \
		$(if $(GNSS_BENCH_PANICD),--panicd $(GNSS_BENCH_PANICD)) $(GNSS_FIXTURES)

## Instructions per NMEA sentence (parse-only and decode-to-JSON) for the arm64 gnss-bench (cross-built like
## panicd: scripts/arm64/build-bench.sh) beside the x86-64 one, both counted under qemu-user from its block logs
## (scripts/gnss-instructions.py): the board's architecture's figure, where times under emulation mean nothing.
bench-arm64: deps arm64-toolchain
	$(SWIFT) build $(SWIFT_RELEASE) --static-swift-stdlib --product gnss-bench --scratch-path .build-bench
	nice -n 15 scripts/arm64/build-bench.sh
	scripts/gnss-instructions.py .build/arm64/build-bench/aarch64-unknown-linux-gnu/release/gnss-bench \
		.build/arm64/sysroot-bookworm .build-bench/release/gnss-bench $(GNSS_FIXTURES)

## Instructions per idle second (no backend; the two backends of bench-idle) and per drained record (PanicBridge
## protocol, to a control room on loopback) for the arm64 panicd (`make arm64-build`) beside the x86-64 one, both
## counted under Debian's dynamic qemu-user with a TCG plugin (scripts/qemu-insn-count.c,
## scripts/panicd-instructions.py), so a regression on the board's architecture shows.
bench-arm64-panicd: deps arm64-build
	@command -v qemu-aarch64 >/dev/null || apt-get install -y -q qemu-user
	$(SWIFT) build $(SWIFT_RELEASE) --product panicd
	$(SWIFT) build $(SWIFT_RELEASE) --product controlroom
	scripts/panicd-instructions.py .build/arm64/build/aarch64-unknown-linux-gnu/release/panicd \
		.build/arm64/sysroot-bookworm .build/release/panicd .build/release/controlroom

## libFuzzer on the framer+parser+tracker for FUZZ_SECONDS (default 60 s), or FUZZ_RUNS executions.
## Release build (optimised, with bounds checks and preconditions kept), in its own scratch path.
fuzz-gnss: deps
	$(SWIFT) build $(SWIFT_RELEASE) --product nmea-fuzz --sanitize fuzzer --scratch-path .build-fuzz
	mkdir -p .build-fuzz/corpus .build-fuzz/artifacts
	SWIFT_BACKTRACE=enable=no .build-fuzz/release/nmea-fuzz -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
		-max_len=1024 -artifact_prefix=.build-fuzz/artifacts/ .build-fuzz/corpus fuzz/corpus
