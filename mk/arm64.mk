# area: arm64 — panicd for Raspberry Pi OS (Debian 12 bookworm, Debian 13 trixie on arm64), cross-built here from
# Debian's own packages: sid's swiftlang 6.2.x in a debootstrap root, arm64 sysroots unpacked from the archive's
# .debs, a SwiftPM Swift SDK bundle; tested under qemu-user. docs/packaging.md → arm64. Everything is cached under
# .build/arm64/ (a second run reuses the sid root, the sysroots and the build tree). Needs root (debootstrap,
# chroot). `make test` runs `deb-arm64 arm64-test` as its last phase.
ARM64_APT_PACKAGES := debootstrap qemu-user-static binutils-aarch64-linux-gnu dpkg-dev lintian python3

.PHONY: deps-arm64 arm64-toolchain arm64-build deb-arm64 arm64-test

deps-arm64:
	@scripts/ensure-packages.sh $(ARM64_APT_PACKAGES)

## The sid root with swiftlang (its version printed; anything but 6.2.x refused), the bookworm and trixie arm64
## sysroots, sid's arm64 Swift runtime, and the Swift SDK bundle (.build/arm64/sdks).
arm64-toolchain: deps-arm64
	@started=$$(date +%s); \
	scripts/arm64/sid-root.sh && \
	scripts/arm64/sysroot.sh bookworm && scripts/arm64/sysroot.sh trixie && scripts/arm64/sysroot.sh sid-runtime && \
	scripts/arm64/sdk.sh && echo "== arm64-toolchain took $$(($$(date +%s) - started)) s"

## One arm64 panicd (release, static Swift runtime) against the bookworm sysroot; ~25 min from scratch on two
## cores, at nice 15 so it yields to everything else.
arm64-build: arm64-toolchain
	nice -n 15 scripts/arm64/build.sh

## .build/deb-arm64/{bookworm,trixie}/panicbridge_VERSION_arm64.deb (scripts/arm64/deb.sh → scripts/build-deb.sh).
deb-arm64: arm64-build deps-deb
	scripts/arm64/deb.sh

## The arm64 panicd under qemu-aarch64-static on each sysroot that can load it: --version, boards check, config
## check, the demo scenario, the outbox SIGKILL test (scripts/arm64/test.py).
arm64-test: arm64-build
	scripts/arm64/test.py
