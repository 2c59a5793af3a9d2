# PanicBridge — build, test and run the simulated board.
# `make demo` and `make test` install missing Debian packages first (as root), then build and run.
SWIFT ?= swift
# System packages: the two C libraries linked in, pkg-config, the GPIO tools for installers (and with them the
# libgpiod panicd opens at run time and its tests load: libgpiod2 on Debian 12, libgpiod3 on 13; building needs
# no libgpiod), Python for the JOSE cross-check in the tests, openssl for the evidence tests' local RFC 3161 TSA and
# scripts/evidence/verify.py. (The packaging tools are mk/deb.mk's DEB_PACKAGES.)
APT_PACKAGES := pkg-config libserialport-dev libsqlite3-dev gpiod python3 python3-pip openssl
BIN := .build/debug
## Every release build (packages, benches) in one .build tree with the same flags: each Swift and C function in a
## section of its own, so the linker can place the functions the idle daemon runs together (dist/panicd.order,
## Package.swift; docs/daemon.md → Start-up and idle code packed together). Exported for scripts/build-deb.sh.
SWIFT_RELEASE := -c release -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
export SWIFT_RELEASE

.PHONY: deps build test demo format format-check check-modules clean
.DEFAULT_GOAL := demo

deps:
	@scripts/ensure-packages.sh $(APT_PACKAGES)

build: deps
	$(SWIFT) build

## The test command the README and CI use: format check, module guard rails, build with no warnings, every test.
## Each phase is timed by scripts/phase.sh (printed as it ends; .ci/run prints them all at its end).
PHASE := scripts/phase.sh
POOL_TESTS := ModemPortLockTests|VirtualTimeTests
test:
	$(PHASE) deps $(MAKE) --no-print-directory deps deps-python
	$(PHASE) format-check $(MAKE) --no-print-directory format-check
	$(PHASE) check-modules $(MAKE) --no-print-directory check-modules
	$(PHASE) build $(SWIFT) build --build-tests
	@# A throw-away PostgreSQL cluster (mk/postgres.mk) for the control room's PostgreSQL store; stopped after the passes.
	@$(PHASE) postgres-start $(MAKE) --no-print-directory postgres-start
	$(PG_TEST_ENV) $(PHASE) tests $(SWIFT) test \
		--skip "ScenarioSuiteTests|FleetTests|SimRealTimeTests|HostileClientTests|OperatorPageBrowserTests|$(POOL_TESTS)" \
		|| { $(MAKE) --no-print-directory postgres-stop; exit 1; }
	@# Races of many short tasks on Swift's shared pool (a lock's hand-overs under cancellation, virtual time's
	@# settling): alone, because in the main pass the pool's two threads are held for tens of seconds at a time by
	@# blocking suites, and they ran past their one-minute limit there (they take 0.01 s on their own).
	$(PHASE) pool-tests $(SWIFT) test --filter "$(POOL_TESTS)" \
		|| { $(MAKE) --no-print-directory postgres-stop; exit 1; }
	@# The browser test waits on a real chromium (15 s per step): alone, so the suites on both stores do not starve it.
	$(PHASE) browser-tests $(SWIFT) test --filter "OperatorPageBrowserTests" \
		|| { $(MAKE) --no-print-directory postgres-stop; exit 1; }
	@# The hostile-client suites measure latency and timeouts: alone, so other suites' load is not in the figure.
	$(PG_TEST_ENV) $(PHASE) hostile-tests $(SWIFT) test --filter "HostileClientTests" \
		|| { $(MAKE) --no-print-directory postgres-stop; exit 1; }
	@# The scenario and fleet suites drive whole simulated boxes (hundreds of fsyncs each); on a two-core machine it runs
	@# on its own so it does not starve the loopback HTTP tests of disk and CPU.
	$(PG_TEST_ENV) $(PHASE) scenario-tests $(SWIFT) test --filter "ScenarioSuiteTests|FleetTests|SimRealTimeTests" \
		|| { $(MAKE) --no-print-directory postgres-stop; exit 1; }
	@$(MAKE) --no-print-directory postgres-stop
	@# The hardware path on a real kernel: a QEMU guest with gpio-sim and a 16550 (mk/hil.mk, docs/inputs.md).
	$(PHASE) hil-test $(MAKE) --no-print-directory hil-test
	@# The Debian packages: release build (static Swift runtime), lintian, then installed, checked and purged.
	$(PHASE) deb-test $(MAKE) --no-print-directory deb-test
	@# The box on the board it is sold for: arm64 panicd cross-built with Debian sid's Swift 6.2 (so every run also
	@# proves the code compiles with 6.2), packaged for bookworm and trixie, run under qemu-user (mk/arm64.mk).
	$(PHASE) arm64 $(MAKE) --no-print-directory deb-arm64 arm64-test
	@# The same arm64 panicd on an arm64 kernel: Debian's arm64 6.12 in qemu-system-aarch64 with gpio-sim; a press on
	@# the bank must become a stored, located alert, on both sysroots (mk/hil.mk). The phase above built the binary.
	$(PHASE) arm64-hil $(MAKE) --no-print-directory arm64-hil ARM64_HIL_BUILD=

## The main job: the board files checked, then the simulated board end to end (sim/scenarios/demo.yaml).
demo: deps
	$(SWIFT) build --product panicd
	$(BIN)/panicd boards check
	$(BIN)/panicd sim --scenario sim/scenarios/demo.yaml

## Imports match Package.swift, the README's module table is true, tests mirror modules, async suites have time
## limits (scripts/check-modules.py).
check-modules:
	python3 scripts/check-modules.py

format:
	$(SWIFT) format format --in-place --recursive Sources Tests Package.swift

format-check:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

clean:
	rm -rf .build

# Each area adds its own targets (bench-*, fuzz-*) in mk/.
-include mk/*.mk
