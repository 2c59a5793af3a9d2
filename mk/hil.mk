# area: hil — the hardware path on a real Linux kernel: Debian's own 6.12 kernel in QEMU with an out-of-tree
# gpio-sim bank and a 16550 UART, running the libgpiod backend's real-chip suites, the classifier, the serial
# path and `panicd run` itself, against libgpiod 1.6 (this host) and 2.x (a trixie root): the same .build/debug
# binaries both times, which open whichever libgpiod they find. docs/inputs.md → "The rig". `make test` runs it;
# everything it makes is cached under .build/hil/.
HIL_APT_PACKAGES := qemu-system-x86 linux-image-6.12-amd64 linux-headers-6.12-amd64 linux-source-6.12 \
	busybox-static cpio xz-utils debootstrap python3
HIL_CACHE := $(CURDIR)/.build/hil
HIL_TIMEOUT ?= 900
# gpiod1: .build/debug on this host's libgpiod 1.6; gpiod2: the same binaries chrooted in a trixie root, on its
# libgpiod 2.x (.build/hil/trixie).
HIL_SUITES ?= gpiod1 gpiod2

.PHONY: hil-test hil-deps

hil-deps:
	@scripts/ensure-packages.sh $(HIL_APT_PACKAGES)

hil-test: deps hil-deps
	$(SWIFT) build --build-tests
	$(if $(filter gpiod2,$(HIL_SUITES)),scripts/hil/trixie-root.sh $(HIL_CACHE)/trixie)
	@set -e; set -- $$(scripts/hil/prepare.sh $(HIL_CACHE) | tail -1); kver=$$1; initrd=$$2; \
	for suite in $(HIL_SUITES); do \
		python3 scripts/hil/run.py --kernel /boot/vmlinuz-$$kver --initrd $$initrd --repo $(CURDIR) \
			--suite $$suite --timeout $(HIL_TIMEOUT) --log $(HIL_CACHE)/$$suite.log; \
	done
