# The idle bench: panicd run on the sim board beside gpsd on a pty, both at 1 Hz NMEA.
.PHONY: bench-idle

## Wakeups/s and RSS of panicd and gpsd over IDLE_SECONDS, and panicd's exec-to-ready time, on the release build
## that `make deb` packages (the same .build tree): first with no backend, then with two (the release controlroom
## on loopback and an AIS-140 server in the script), each beside gpsd in the same window.
IDLE_SECONDS ?= 60
bench-idle: deps
	@scripts/ensure-packages.sh gpsd
	$(SWIFT) build $(SWIFT_RELEASE) --static-swift-stdlib --product panicd
	$(SWIFT) build $(SWIFT_RELEASE) --static-swift-stdlib --product controlroom
	scripts/idle-bench.py .build/release/panicd $(IDLE_SECONDS) .build/release/controlroom

## Regenerates dist/panicd.order, the function order the release panicd is linked with, from a callgrind run of the
## daemon with the bench's two backends (what it runs in 330 s of idle after ready — the minute's records and the
## first 5-minute health record in them — first, then what only start-up ran), then rounds of page faults under
## perf (scripts/panicd-order.sh; installs valgrind and linux-perf).
.PHONY: panicd-order
panicd-order: deps
	$(SWIFT) build $(SWIFT_RELEASE) --static-swift-stdlib --product panicd
	$(SWIFT) build $(SWIFT_RELEASE) --static-swift-stdlib --product controlroom
	SWIFT=$(SWIFT) scripts/panicd-order.sh .build/release/panicd 330 .build/release/controlroom
