# area: hil — the hardware path on a real Linux kernel: Debian's own 6.12 kernel in QEMU with an out-of-tree
# gpio-sim bank and a 16550 UART, running the libgpiod backend's real-chip suites, the classifier, the serial
# path and `panicd run` itself, against libgpiod 1.6 (this host) and 2.x (a trixie root): the same .build/debug
# binaries both times, which open whichever libgpiod they find. docs/inputs.md → "The rig". `make test` runs it;
# everything it makes is cached under .build/hil/.
# `make arm64-hil`: the same rig on an arm64 kernel — Debian's arm64 build of the same 6.12 in qemu-system-aarch64
# (TCG, virt, Cortex-A72), gpio-sim cross-built for it, a PCI 16550 for GNSS — running the arm64 panicd of
# mk/arm64.mk on the bookworm and trixie arm64 sysroots: boards check, and a press → a stored, located alert read
# back from the outbox (scripts/hil/press.sh). `make test` runs it after the arm64 build.
HIL_APT_PACKAGES := qemu-system-x86 linux-image-6.12-amd64 linux-headers-6.12-amd64 linux-source-6.12 \
	busybox-static cpio xz-utils debootstrap python3
HIL_CACHE := $(CURDIR)/.build/hil
HIL_TIMEOUT ?= 900
# gpiod1: .build/debug on this host's libgpiod 1.6; gpiod2: the same binaries chrooted in a trixie root, on its
# libgpiod 2.x (.build/hil/trixie).
HIL_SUITES ?= gpiod1 gpiod2

.PHONY: hil-test hil-deps arm64-hil arm64-hil-deps

hil-deps:
	@scripts/ensure-packages.sh $(HIL_APT_PACKAGES)

# The arm64 guest's emulator and the cross compiler for its gpio-sim module (the kernel, its headers and busybox
# are Debian's arm64 packages, fetched by scripts/hil/arm64-kernel.sh into .build/hil/arm64/).
ARM64_HIL_APT_PACKAGES := qemu-system-arm gcc-aarch64-linux-gnu
ARM64_HIL_TIMEOUT ?= 600
ARM64_HIL_SYSROOTS ?= bookworm trixie
# `make test` has just built the arm64 panicd in its arm64 phase and passes ARM64_HIL_BUILD= (no second check).
ARM64_HIL_BUILD ?= arm64-build
ARM64_PANICD := .build/arm64/build/aarch64-unknown-linux-gnu/release/panicd

arm64-hil-deps:
	@scripts/ensure-packages.sh $(ARM64_HIL_APT_PACKAGES)

hil-test: deps hil-deps
	$(SWIFT) build --build-tests
	$(if $(filter gpiod2,$(HIL_SUITES)),scripts/hil/trixie-root.sh $(HIL_CACHE)/trixie)
	@set -e; set -- $$(scripts/hil/prepare.sh $(HIL_CACHE) amd64 | tail -1); [ -n "$${2:-}" ] || exit 1; \
	kernel=$$1; initrd=$$2; \
	for suite in $(HIL_SUITES); do \
		python3 scripts/hil/run.py --kernel $$kernel --initrd $$initrd --repo $(CURDIR) \
			--suite $$suite --timeout $(HIL_TIMEOUT) --log $(HIL_CACHE)/$$suite.log; \
	done

arm64-hil: hil-deps arm64-hil-deps $(ARM64_HIL_BUILD)
	@set -e; started=$$(date +%s); \
	set -- $$(scripts/hil/prepare.sh $(HIL_CACHE) arm64 | tail -1); [ -n "$${2:-}" ] || exit 1; \
	prepared=$$(date +%s); \
	python3 scripts/hil/run.py --arch arm64 --kernel $$1 --initrd $$2 --repo $(CURDIR) --suite arm64 \
		--arg $(ARM64_PANICD) $(foreach dist,$(ARM64_HIL_SYSROOTS),--arg .build/arm64/sysroot-$(dist)) \
		--timeout $(ARM64_HIL_TIMEOUT) --log $(HIL_CACHE)/arm64.log; \
	echo "== arm64-hil took $$(($$(date +%s) - started)) s (kernel, gpio-sim.ko, initramfs: $$((prepared - started)) s)"
