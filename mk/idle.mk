# The idle bench: panicd run on the sim board beside gpsd on a pty, both at 1 Hz NMEA.
.PHONY: bench-idle

## Wakeups/s and RSS of panicd and gpsd over IDLE_SECONDS, and panicd's exec-to-ready time, on the release build
## that `make deb` packages (the same .build tree).
IDLE_SECONDS ?= 60
bench-idle: deps
	@scripts/ensure-packages.sh gpsd
	$(SWIFT) build -c release --static-swift-stdlib --product panicd
	scripts/idle-bench.py .build/release/panicd $(IDLE_SECONDS)
