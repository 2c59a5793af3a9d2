# Debian packages: `make deb` builds and lints them, `make deb-test` installs, checks and purges them (as root).
.PHONY: deps-deb deb deb-test

## Debian's packaging tools, lintian, and systemd/udev for the install test's checks.
DEB_PACKAGES := dpkg-dev lintian binutils systemd udev adduser

deps-deb:
	@scripts/ensure-packages.sh $(DEB_PACKAGES)

## panicbridge_VERSION_ARCH.deb and panicbridge-controlroom_VERSION_ARCH.deb in .build/deb/ (scripts/build-deb.sh).
deb: deps deps-deb
	SWIFT=$(SWIFT) scripts/build-deb.sh

## Installs both packages on this machine with apt, checks users, files, units, udev rules and
## `panicd config check`, then purges them (scripts/deb-install-test.sh).
deb-test: deb
	scripts/deb-install-test.sh
