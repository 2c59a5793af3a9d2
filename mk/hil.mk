# area: hil — the hardware path on a real Linux kernel: Debian's own 6.12 kernel in QEMU with an out-of-tree
# gpio-sim bank and a 16550 UART, running the libgpiod backend's real-chip suites, the classifier, the serial
# path and `panicd run` itself, against libgpiod 1.6 (this host) and 2.x (a trixie root). docs/inputs.md → "The
# rig". `make test` runs it; everything it makes is cached under .build/hil/.
HIL_APT_PACKAGES := qemu-system-x86 linux-image-6.12-amd64 linux-headers-6.12-amd64 linux-source-6.12 \
	busybox-static cpio xz-utils debootstrap python3 pkg-config
HIL_CACHE := $(CURDIR)/.build/hil
HIL_TIMEOUT ?= 900
# gpiod1: the host's libgpiod 1.6 build (.build/debug); gpiod2: the libgpiod 2 build in .build/hil/gpiod2.
HIL_SUITES ?= gpiod1 gpiod2

.PHONY: hil-test hil-deps hil-build-gpiod2

hil-deps:
	@scripts/ensure-packages.sh $(HIL_APT_PACKAGES)

## libgpiod 2: the same package built in its own scratch path against the trixie root's libgpiod (2.2.1),
## through pkg-config data that points at that root's gpiod.h and libgpiod.so alone.
hil-build-gpiod2: hil-deps
	scripts/hil/trixie-root.sh $(HIL_CACHE)/trixie
	PKG_CONFIG_PATH=$(HIL_CACHE)/trixie.pc PANICBRIDGE_LIBGPIOD=2 \
		$(SWIFT) build --build-tests --scratch-path $(HIL_CACHE)/gpiod2

hil-test: deps hil-deps
	$(SWIFT) build --build-tests
	$(if $(filter gpiod2,$(HIL_SUITES)),$(MAKE) --no-print-directory hil-build-gpiod2)
	@set -e; set -- $$(scripts/hil/prepare.sh $(HIL_CACHE) | tail -1); kver=$$1; initrd=$$2; \
	for suite in $(HIL_SUITES); do \
		python3 scripts/hil/run.py --kernel /boot/vmlinuz-$$kver --initrd $$initrd --repo $(CURDIR) \
			--suite $$suite --timeout $(HIL_TIMEOUT) --log $(HIL_CACHE)/$$suite.log; \
	done
