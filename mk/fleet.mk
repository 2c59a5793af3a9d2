# area: fleet — fifty simulated buses against one control room, ten virtual minutes.
.PHONY: sim-fleet

## Runs `panicd sim --fleet` (FLEET boxes for FLEET_DURATION of virtual time, seed FLEET_SEED) and prints totals.
FLEET ?= 50
FLEET_DURATION ?= 10m
FLEET_SEED ?= 7
sim-fleet: deps
	$(SWIFT) build --product panicd
	$(BIN)/panicd sim --fleet $(FLEET) --duration $(FLEET_DURATION) --seed $(FLEET_SEED)
